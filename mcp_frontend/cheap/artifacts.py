"""Bounded, redacted slices of a job's large artifacts (log, patch, one check's output), and its diff for
prompts."""

from datetime import datetime

from pydantic import BaseModel, Field

from farm_core.job_models import JobRecord
from farm_core.patch_text import trim_diff
from farm_core.store import JobStore, LogEntry
from mcp_frontend.errors import InvalidArgument, JobNotFinished, PatchUnavailable
from mcp_frontend.service_protocols import CheapService

SLICE_MAX_BYTES = 65_536
LOG_PAGE = 1000
LOG_MAX_ENTRIES = 100_000


class ArtifactSlice(BaseModel):
    """`text` is bytes [offset, offset + bytes) of the redacted artifact; pass next_offset to read on
    (null: the end)."""

    job_id: str
    artifact: str
    offset: int
    bytes: int
    total_bytes: int
    next_offset: int | None = Field(
        description="Offset of the next slice; null when this slice reaches the end."
    )
    text: str


def parse_artifact(artifact: str, record: JobRecord) -> tuple[str, str | None]:
    """('log' | 'patch' | 'check', check name); InvalidArgument for anything else."""
    if artifact in ("log", "patch"):
        return artifact, None
    if artifact.startswith("check:"):
        name = artifact[len("check:") :]
        names = [c.name for c in record.spec.checks] if record.spec else []
        if name not in names:
            known = ", ".join(f"check:{n}" for n in names) or "none (the job has no checks)"
            raise InvalidArgument(f"job {record.job_id} has no check {name!r}; its checks: {known}")
        return "check", name
    raise InvalidArgument(f"artifact must be log, patch or check:<name>, not {artifact[:80]!r}")


def read_all_log(store: JobStore, job_id: str) -> list[LogEntry]:
    """Every entry of the job's log stream, oldest first (the stream is capped by FARM_LOG_MAX_ENTRIES)."""
    entries: list[LogEntry] = []
    cursor = "0-0"
    while len(entries) < LOG_MAX_ENTRIES:
        page = store.read_log(job_id, cursor, LOG_PAGE)
        if not page:
            break
        entries += page
        cursor = page[-1].cursor
    return entries


def log_text(entries: list[LogEntry]) -> str:
    """The log as `tail` shows it: `HH:MM:SS kind: text` lines."""
    return "".join(f"{datetime.fromtimestamp(e.ts):%H:%M:%S} {e.kind}: {e.text}\n" for e in entries)


def check_text(entries: list[LogEntry], name: str) -> str:
    """The `check` lines between `check <name>: running` and that check's verdict (the last run, if
    redelivered)."""
    start, prefix = f"check {name}: running", f"check {name}: "
    lines: list[str] | None = None
    collecting = False
    for entry in entries:
        if entry.kind == "status" and entry.text == start:
            lines, collecting = [], True
        elif collecting and entry.kind == "status" and entry.text.startswith(prefix):
            collecting = False
        elif collecting and entry.kind == "check":
            lines.append(entry.text + "\n")
    return "".join(lines or [])


def artifact_text(service: CheapService, record: JobRecord, kind: str, name: str | None) -> str:
    store = service.store
    if kind == "patch":
        patch = store.load_patch(record.job_id)
        if patch is None:
            raise PatchUnavailable(f"job {record.job_id} has no stored patch")
        return patch.decode("utf-8", "replace")
    entries = read_all_log(store, record.job_id)
    return log_text(entries) if kind == "log" else check_text(entries, name)


def slice_text(job_id: str, artifact: str, text: str, offset: int, max_bytes: int) -> ArtifactSlice:
    """Cut the UTF-8 bytes of text at [offset, offset + max_bytes), moved back to a character boundary."""
    data = text.encode("utf-8")
    total = len(data)
    start = min(offset, total)
    end = min(start + max_bytes, total)
    boundary = end
    while start < boundary < total and (data[boundary] & 0xC0) == 0x80:  # inside a multi-byte character
        boundary -= 1
    if boundary > start:
        end = boundary
    return ArtifactSlice(
        job_id=job_id,
        artifact=artifact,
        offset=start,
        bytes=end - start,
        total_bytes=total,
        next_offset=end if end < total else None,
        text=data[start:end].decode("utf-8", "replace"),
    )


def get_artifact_slice(
    service: CheapService, job_id: str, artifact: str, offset: int, max_bytes: int
) -> ArtifactSlice:
    if not 1 <= max_bytes <= SLICE_MAX_BYTES:
        raise InvalidArgument(f"max_bytes must be between 1 and {SLICE_MAX_BYTES}")
    if offset < 0:
        raise InvalidArgument("offset must be 0 or more")
    record = service.record(job_id)
    kind, name = parse_artifact(artifact, record)
    text = service.redact(artifact_text(service, record, kind, name))  # whole, so no secret is split by a cut
    return slice_text(job_id, artifact, text, offset, max_bytes)


def job_diff(service: CheapService, job_id: str, max_bytes: int) -> tuple[JobRecord, str, bool]:
    """A finished job's record, its redacted diff trimmed to max_bytes, and whether it was trimmed."""
    record = service.record(job_id)
    if not record.status.terminal:
        raise JobNotFinished(
            f"job {job_id} is {record.status.value}",
            hint="call wait until the job has ended, then call again",
        )
    patch = service.store.load_patch(job_id)
    if patch is None:
        if record.result and record.result.changed_files:
            raise PatchUnavailable(f"job {job_id} changed files but its patch is not stored")
        raise InvalidArgument(f"job {job_id} changed no files; there is no diff")
    return record, service.redact(trim_diff(patch, max_bytes)), len(patch) > max_bytes
