"""resolve_repo: the caller's repo argument must be a git checkout inside SANDBOX_ROOT."""

from pathlib import Path

import pytest

from mcp_frontend.errors import InvalidArgument, NotAGitRepo, RepoOutsideSandbox
from mcp_frontend.repo_paths import resolve_repo


@pytest.fixture
def layout(tmp_path) -> Path:
    """tmp/sandbox/{app/.git, app/sub, plain/, file.txt, link_out -> tmp/elsewhere, link_in -> app};
    tmp/elsewhere/.git."""
    sandbox = tmp_path / "sandbox"
    (sandbox / "app" / ".git").mkdir(parents=True)
    (sandbox / "app" / "sub").mkdir()
    (sandbox / "plain").mkdir()
    (sandbox / "file.txt").write_text("x")
    (sandbox / "worktree_checkout").mkdir()
    (sandbox / "worktree_checkout" / ".git").write_text("gitdir: /somewhere\n")
    (tmp_path / "elsewhere" / ".git").mkdir(parents=True)
    (tmp_path / "sandbox2" / ".git").mkdir(parents=True)
    (sandbox / "link_out").symlink_to(tmp_path / "elsewhere")
    (sandbox / "link_in").symlink_to(sandbox / "app")
    return tmp_path


ACCEPTED = [
    ("absolute", "{tmp}/sandbox/app", "sandbox/app"),
    ("relative_to_sandbox", "app", "sandbox/app"),
    ("dot_relative", "./app", "sandbox/app"),
    ("trailing_slash", "app/", "sandbox/app"),
    ("dotdot_staying_inside", "plain/../app", "sandbox/app"),
    ("absolute_dotdot_inside", "{tmp}/sandbox/plain/../app", "sandbox/app"),
    ("symlink_inside", "link_in", "sandbox/app"),
    ("git_file_checkout", "worktree_checkout", "sandbox/worktree_checkout"),
]


@pytest.mark.parametrize(("repo", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted(layout, repo, expected):
    assert resolve_repo(repo.format(tmp=layout), layout / "sandbox") == (layout / expected).resolve()


def test_sandbox_root_itself_when_it_is_a_checkout(layout):
    root = layout / "sandbox" / "app"
    assert resolve_repo(str(root), root) == root.resolve()
    assert resolve_repo(".", root) == root.resolve()


def test_sandbox_root_given_through_a_symlink(layout):
    (layout / "sandbox-link").symlink_to(layout / "sandbox")
    assert resolve_repo("app", layout / "sandbox-link") == (layout / "sandbox" / "app").resolve()


OUTSIDE = [
    ("absolute_elsewhere", "{tmp}/elsewhere"),
    ("dotdot", "../elsewhere"),
    ("dotdot_deep", "app/../../elsewhere"),
    ("symlink_escape", "link_out"),
    ("sibling_with_common_prefix", "{tmp}/sandbox2"),
    ("relative_sibling_with_common_prefix", "../sandbox2"),
    ("filesystem_root", "/"),
]


@pytest.mark.parametrize("repo", [c[1] for c in OUTSIDE], ids=[c[0] for c in OUTSIDE])
def test_outside_sandbox_refused(layout, repo):
    repo = repo.format(tmp=layout)
    with pytest.raises(RepoOutsideSandbox) as caught:
        resolve_repo(repo, layout / "sandbox")
    assert caught.value.message == f"repo {repo!r} resolves outside SANDBOX_ROOT"
    assert caught.value.code == "repo_outside_sandbox"


NOT_A_REPO = [
    ("file", "file.txt", "is not a directory"),
    ("missing", "does-not-exist", "is not a directory"),
    ("dir_without_git", "plain", "is not the top of a git checkout (no .git)"),
    ("subdir_of_checkout", "app/sub", "is not the top of a git checkout (no .git)"),
]


@pytest.mark.parametrize(("repo", "why"), [c[1:] for c in NOT_A_REPO], ids=[c[0] for c in NOT_A_REPO])
def test_not_a_git_checkout(layout, repo, why):
    with pytest.raises(NotAGitRepo) as caught:
        resolve_repo(repo, layout / "sandbox")
    assert caught.value.message == f"repo {repo!r} {why}"


@pytest.mark.parametrize("repo", ["", "app\x00", "\x00", "{tmp}/sandbox/app\x00/x"])
def test_empty_or_nul_refused(layout, repo):
    with pytest.raises(InvalidArgument, match="repo must be a non-empty path"):
        resolve_repo(repo.format(tmp=layout), layout / "sandbox")


def test_home_relative_outside_sandbox(layout, monkeypatch):
    monkeypatch.setenv("HOME", str(layout / "elsewhere"))
    with pytest.raises(RepoOutsideSandbox):
        resolve_repo("~", layout / "sandbox")


def test_home_relative_inside_sandbox(layout, monkeypatch):
    monkeypatch.setenv("HOME", str(layout / "sandbox"))
    assert resolve_repo("~/app", layout / "sandbox") == (layout / "sandbox" / "app").resolve()
