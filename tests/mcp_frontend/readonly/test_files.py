"""The path rule of repo_paths as the read-only tools' listing and reading use it: links are links, only
regular files open."""

import os
import socket

import pytest

from mcp_frontend.readonly.files import list_files, read_text
from mcp_frontend.repo_paths import entry_kind, link_target, open_regular
from tests.mcp_frontend.readonly.conftest import FifoWatch


@pytest.fixture
def tree(tmp_path):
    """A folder (no git) holding each kind of entry, and a folder outside it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("outside\n")
    (root / "a.txt").write_text("a\n")
    (root / "sub" / "b.txt").write_text("b\n")
    (root / "to-a").symlink_to("a.txt")
    (root / "to-outside").symlink_to(outside, target_is_directory=True)
    (root / "to-zero").symlink_to("/dev/zero")
    os.mkfifo(root / "pipe")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(root / "sock"))
    yield root, outside
    listener.close()


def test_entry_kinds_come_from_lstat(tree):
    root, _ = tree
    kinds = {
        name: entry_kind(root / name)
        for name in ["a.txt", "sub", "to-a", "to-outside", "to-zero", "pipe", "sock", "nope"]
    }
    assert kinds == {
        "a.txt": "file",
        "sub": "folder",
        "to-a": "link",
        "to-outside": "link",
        "to-zero": "link",
        "pipe": "special",
        "sock": "special",
        "nope": "missing",
    }
    assert link_target(root / "to-zero") == "/dev/zero" and link_target(root / "a.txt") == ""


def test_only_a_regular_file_reached_through_no_link_is_opened(tree):
    root, outside = tree
    with FifoWatch(root / "pipe") as watch:
        opened = {
            name: open_regular(root / name, root)
            for name in [
                "a.txt",
                "sub/b.txt",
                "to-a",
                "to-outside/secret.txt",
                "to-zero",
                "pipe",
                "sock",
                "sub",
            ]
        }
    assert not watch.blocked
    assert {name for name, handle in opened.items() if handle is not None} == {"a.txt", "sub/b.txt"}
    for handle in opened.values():
        if handle is not None:
            handle.close()
    assert open_regular(outside / "secret.txt", root) is None  # not below root at all
    assert (
        read_text(root / "to-outside" / "secret.txt", root) is None
        and read_text(root / "sub" / "b.txt", root) == "b\n"
    )


def test_a_listing_holds_files_and_links_never_what_they_lead_to(tree):
    root, _ = tree
    with FifoWatch(root / "pipe") as watch:
        listing = list_files(root, root)
        named_fifo = list_files(root / "pipe", root)
    assert not watch.blocked
    assert [p.relative_to(root).as_posix() for p in listing.files] == ["a.txt", "sub/b.txt"]
    assert [p.relative_to(root).as_posix() for p in listing.links] == ["to-a", "to-outside", "to-zero"]
    assert not listing.cut and named_fifo.files == named_fifo.links == []
