"""WriteScope: writes stay inside the job's worktree and, when scoped, inside the allowed paths."""

import os
from pathlib import Path, PurePosixPath

import pytest

from farm_core.scope import WRITE_TOOLS, WriteScope


@pytest.fixture
def worktree(tmp_path) -> Path:
    root = tmp_path / "wt"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src2").mkdir()
    (root / "docs").mkdir()
    (root / "src" / "main.py").write_text("x = 1\n")
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    (root / "escape_file").symlink_to(tmp_path / "outside" / "f.txt")
    (root / "inner_link").symlink_to(root / "src")
    return root


INSIDE = [
    "src/main.py",
    "src/new_file.py",
    "new/deeper/dir/file.txt",
    "./src/main.py",
    "src/../docs/readme.md",
    "src/pkg/../../docs/x",
    "inner_link/main.py",
]


@pytest.mark.parametrize("path", INSIDE)
def test_relative_paths_inside_the_worktree_allowed(worktree, path):
    assert WriteScope(worktree, None).violation(path) is None


def test_absolute_path_inside_allowed(worktree):
    assert WriteScope(worktree, None).violation(str(worktree / "src" / "main.py")) is None


def test_root_given_through_a_symlink(tmp_path, worktree):
    link = tmp_path / "wt-link"
    link.symlink_to(worktree)
    scope = WriteScope(link, None)
    assert scope.root == worktree.resolve()
    assert scope.violation(str(worktree / "a.py")) is None
    assert scope.violation(str(link / "a.py")) is None


OUTSIDE = [
    ("dotdot", "../x.txt"),
    ("dotdot_deep", "src/../../x.txt"),
    ("dotdot_into_sibling_with_common_prefix", "../wt2/x.txt"),
    ("symlink_dir_escape", "escape/x.txt"),
    ("symlink_file_escape", "escape_file"),
    ("absolute_elsewhere", "/etc/passwd"),
]


@pytest.mark.parametrize("path", [c[1] for c in OUTSIDE], ids=[c[0] for c in OUTSIDE])
def test_paths_outside_the_worktree_refused(worktree, path):
    assert WriteScope(worktree, None).violation(path) == f"{path} is outside the job's worktree"


def test_absolute_sibling_with_common_prefix_refused(tmp_path, worktree):
    sibling = tmp_path / "wt2"
    sibling.mkdir()
    path = str(sibling / "x.py")
    assert WriteScope(worktree, None).violation(path) == f"{path} is outside the job's worktree"


def test_outside_refused_even_when_scope_would_allow_it(worktree):
    assert (
        WriteScope(worktree, ["escape"]).violation("escape/x.txt")
        == "escape/x.txt is outside the job's worktree"
    )


SCOPED = [
    # (id, allowed, path, allowed?)
    ("exact_file", ["src/main.py"], "src/main.py", True),
    ("other_file_same_dir", ["src/main.py"], "src/other.py", False),
    ("folder_child", ["src"], "src/main.py", True),
    ("folder_grandchild", ["src"], "src/pkg/mod.py", True),
    ("folder_itself", ["src"], "src", True),
    ("sibling_common_prefix", ["src"], "src2/x.py", False),
    ("sibling_name_prefix_file", ["src"], "src.py", False),
    ("parent_of_allowed", ["src/pkg"], "src/main.py", False),
    ("second_entry", ["docs", "src/pkg"], "src/pkg/a.py", True),
    ("dotdot_back_into_scope", ["docs"], "src/../docs/a.md", True),
    ("dotdot_out_of_scope", ["src"], "src/../docs/a.md", False),
    ("symlink_resolved_before_scope", ["src"], "inner_link/main.py", True),
    ("absolute_inside_scope", ["src"], "{root}/src/x.py", True),
    ("absolute_outside_scope", ["src"], "{root}/docs/x.md", False),
]


@pytest.mark.parametrize(("allowed", "path", "ok"), [c[1:] for c in SCOPED], ids=[c[0] for c in SCOPED])
def test_scoped_paths(worktree, allowed, path, ok):
    path = path.format(root=worktree)
    reason = WriteScope(worktree, allowed).violation(path)
    if ok:
        assert reason is None
    else:
        relative = Path(os.path.realpath(worktree / path)).relative_to(worktree.resolve()).as_posix()
        assert reason == f"{relative} is outside scoped_patch.paths ({', '.join(allowed)})"


@pytest.mark.parametrize("allowed", [None, []])
def test_no_scope_allows_the_whole_worktree(worktree, allowed):
    scope = WriteScope(worktree, allowed)
    assert scope.in_allowed(PurePosixPath("any/where.txt"))
    assert scope.describe() == "whole worktree"


def test_outside_lists_changed_files_the_scope_does_not_allow(worktree):
    scope = WriteScope(worktree, ["src", "README.md"])
    changed = ["src/a.py", "src2/b.py", "README.md", "README.md.orig", "docs/c.md", "src/pkg/d.py"]
    assert scope.outside(changed) == ["src2/b.py", "README.md.orig", "docs/c.md"]


def test_outside_without_scope_is_empty(worktree):
    assert WriteScope(worktree, None).outside(["a", "b/c"]) == []


def test_describe_lists_allowed_paths(worktree):
    assert WriteScope(worktree, ["src", "docs/a.md"]).describe() == "src, docs/a.md"


def test_write_tools_and_their_path_arguments():
    assert WRITE_TOOLS == {
        "Write": "file_path",
        "Edit": "file_path",
        "MultiEdit": "file_path",
        "NotebookEdit": "notebook_path",
    }
