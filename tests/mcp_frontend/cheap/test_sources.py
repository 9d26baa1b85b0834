"""The files the cheap tools read: resolved inside SANDBOX_ROOT, then opened from the root down through no
link and never a FIFO, so a file swapped for a link or a FIFO after it was chosen is left out, not read or
waited on."""

import os
import threading
from pathlib import Path

import pytest

from mcp_frontend.cheap.sources import read_slices, resolve_dir, select_files
from mcp_frontend.errors import PathOutsideSandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    root = tmp_path / "sandbox"
    (root / "app").mkdir(parents=True)
    (root / "app" / "ok.py").write_text("ok = 1\n")
    return Path(os.path.realpath(root))


def test_a_chosen_file_swapped_for_a_fifo_is_left_out_without_blocking(sandbox):
    root, base = resolve_dir("app", sandbox)
    paths, notes = select_files(["ok.py"], None, base, root)
    paths[0].unlink()
    os.mkfifo(paths[0])
    finished = threading.Event()
    result = {}

    def read() -> None:
        result["selection"] = read_slices(paths, base, root, notes)
        finished.set()

    threading.Thread(target=read, daemon=True).start()
    if not finished.wait(5):
        with open(paths[0], "wb"):  # unblock the reader so the test run can end
            pass
        pytest.fail("read_slices blocked opening a FIFO")
    assert result["selection"].slices == []
    assert result["selection"].notes == ["ok.py: left out (not a regular file inside SANDBOX_ROOT)"]


def test_a_chosen_file_swapped_for_a_link_out_of_the_sandbox_is_not_read(sandbox, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the sandbox\n")
    root, base = resolve_dir("app", sandbox)
    paths, notes = select_files(["ok.py"], None, base, root)
    paths[0].unlink()
    paths[0].symlink_to(secret)

    selection = read_slices(paths, base, root, notes)

    assert selection.slices == [] and "outside the sandbox" not in repr(selection)


def test_a_file_outside_the_sandbox_keeps_its_code(sandbox, tmp_path):
    root, base = resolve_dir("app", sandbox)
    with pytest.raises(PathOutsideSandbox):
        select_files(["../../outside.txt"], None, base, root)
