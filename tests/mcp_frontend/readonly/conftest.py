"""A FarmService on the real Redis with SANDBOX_ROOT in a tmp dir, a sample repo in it, and repo
fingerprints."""

import hashlib
import os
import stat
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from farm_core.job_models import CompactResult, JobSpec, JobStatus, RepoSource
from farm_core.settings import FarmSettings
from mcp_frontend.service import FarmService
from mcp_frontend.settings import FrontendSettings
from tests.fixtures.git_repos import git

PY = '''"""Sample module."""

LIMIT = 3


def greet(name):
    """Say hello."""
    return f"hello {name}"


class Store:
    """Keeps patches."""

    def load_patch(self, job_id):
        key = self.key(job_id)
        return self.redis.get(key)

    def key(self, job_id):
        return "patch:" + job_id
'''
TS = """import { x } from "./x";

export function render(view: View): string {
  if (view.empty) {
    return "{}";
  }
  return view.text;
}

const handler = (event) => {
  render(event.view);
};
"""
GO = """package main

type Server struct {
\tport int
}

func (s *Server) Serve(port int) error {
\ts.port = port
\treturn nil
}
"""
RS = """pub struct Token {
    kind: u8,
}

pub fn parse(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    out
}
"""
FILES = {
    "src/app.py": PY,
    "web/app.ts": TS,
    "cmd/main.go": GO,
    "lib/parse.rs": RS,
    "notes.txt": "one\ntwo needle\nthree\n",
    ".gitignore": "ignored/\n",
    ".github/workflows/ci.yml": "on: push\n",
    "package-lock.json": "{}\n",
    "old.txt": "to be deleted\n",
}
BINARY = b"\x00\x01needle\x00" * 64


@pytest.fixture
def sandbox(tmp_path) -> Path:
    folder = tmp_path / "sandbox"
    folder.mkdir()
    return folder


@pytest.fixture
def repo(sandbox, make_repo) -> Path:
    """A checkout with three commits, an ignored file and a binary file, inside the sandbox."""
    path = make_repo(FILES, name="proj", parent=sandbox)
    (path / "image.bin").write_bytes(BINARY)
    git(path, "add", "image.bin")
    git(path, "commit", "-q", "-m", "add image")
    (path / "notes.txt").write_text("one\ntwo needle\nthree changed\n")
    git(path, "commit", "-q", "-am", "change notes line three")
    (path / "ignored").mkdir()
    (path / "ignored" / "hidden.txt").write_text("needle in ignored\n")
    return path


@pytest.fixture
async def service(redis_server, sandbox):
    frontend = FrontendSettings(sandbox_root=sandbox)
    farm = FarmSettings(redis_url=redis_server.url, key_prefix=f"readonly-test-{uuid.uuid4().hex[:8]}:")
    service = FarmService(frontend, farm)
    yield service
    await service.aclose()


@pytest.fixture(autouse=True)
def no_gateway_call(scripted_gateway):
    """These tools never reach a model: the scripted gateway must have recorded no request."""
    yield scripted_gateway
    assert scripted_gateway.requests() == []


def repo_state(repo: Path) -> str:
    """A fingerprint of every byte under repo (.git included) plus `git status`."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            digest.update(path.relative_to(repo).as_posix().encode() + b"\0")
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                digest.update(os.readlink(path).encode())
            elif stat.S_ISREG(mode):  # a FIFO or socket has no content, and reading a FIFO would block
                digest.update(path.read_bytes())
            digest.update(oct(mode).encode())
    status = subprocess.run(
        ["git", "status", "--porcelain=v1", "--untracked-files=all"],
        cwd=repo,
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
    ).stdout
    digest.update(status)
    return digest.hexdigest()


def finished_job(
    service: FarmService, patch: bytes | None, status: JobStatus = JobStatus.completed, changed=()
) -> str:
    """A job record as a worker leaves it, with its patch stored."""
    job_id = uuid.uuid4().hex
    spec = JobSpec(
        job_id=job_id,
        prompt="p",
        source=RepoSource(location="/nowhere", origin_host="h"),
        snapshot_commit="0" * 40,
        timeout_ms=60000,
        created_at=time.time(),
    )
    service.store.create(spec)
    if patch is not None:
        service.store.store_patch(job_id, patch)
    if status.terminal:
        result = CompactResult(job_id=job_id, job_status=status, changed_files=list(changed))
        assert service.store.finish(job_id, status, result)
    else:
        service.store.set_fields(job_id, status=status.value)
    return job_id


# How long a tool may take before a reader stuck opening a FIFO counts as blocked (the tools answer in well
# under it).
FIFO_PATIENCE_S = 3.0


class FifoWatch:
    """While active: past FIFO_PATIENCE_S, opens the FIFO's write end whenever someone waits to read it.

    A reader stuck in open() then gets EOF instead of hanging the test run, and `blocked` says it was
    stuck."""

    def __init__(self, fifo: Path, patience_s: float = FIFO_PATIENCE_S):
        self.fifo, self.patience_s, self.blocked = fifo, patience_s, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"fifo-watch {fifo.name}", daemon=True)

    def __enter__(self) -> "FifoWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        if self._stop.wait(self.patience_s):
            return
        while not self._stop.is_set():
            try:
                end = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO unless a reader has it open
            except OSError:
                pass
            else:
                self.blocked = True
                os.close(end)
            self._stop.wait(0.02)
