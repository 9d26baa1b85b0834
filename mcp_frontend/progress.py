"""Progress notifications while `wait` blocks: the job's log stream, followed with blocking XREAD."""

import logging
from collections.abc import Awaitable, Callable

import redis
import redis.asyncio as aioredis
from mcp.server.mcpserver import Context

from farm_core.progress import JobProgress
from farm_core.store import LogEntry

# (progress, message): sent as an MCP progress notification against the caller's progress token.
ProgressFn = Callable[[float, str], Awaitable[None]]

READ_BLOCK_MS = (
    5000  # XREAD wakes at once on a new entry; this only bounds how long one call holds a connection
)
READ_COUNT = 200
CATCH_UP_COUNT = 1000
log = logging.getLogger("mcp_frontend.progress")


class LogProgress:
    """Follows one job's log stream and reports each tool call, check and status line as progress."""

    def __init__(self, client: aioredis.Redis, log_key: str, job_id: str, report: ProgressFn):
        self.client, self.key, self.report = client, log_key, report
        self.progress = JobProgress(job_id)
        self.cursor = "0-0"
        self._broken = False

    async def catch_up(self) -> None:
        """Count what the job logged before this wait, and report where it stands (once) if it has started."""
        latest = None
        try:
            while True:
                raw = await self.client.xrange(self.key, min=f"({self.cursor}", count=CATCH_UP_COUNT)
                for entry in _entries(raw):
                    latest = self._feed(entry) or latest
                if len(raw) < CATCH_UP_COUNT:
                    break
        except redis.RedisError as exc:
            self._give_up(exc)
            return
        if latest:
            await self._send(self.progress.events, f"{latest} ({self.progress.counts()})")

    async def follow(self) -> None:
        """Report every new progress-worthy entry as it is appended, until cancelled."""
        while not self._broken:
            await self._read(block_ms=READ_BLOCK_MS)

    async def drain(self) -> None:
        """Report the entries appended since the last read (the job just ended), without blocking."""
        while not self._broken and await self._read(block_ms=None):
            pass

    async def _read(self, block_ms: int | None) -> int:
        try:
            reply = await self.client.xread({self.key: self.cursor}, count=READ_COUNT, block=block_ms)
        except redis.RedisError as exc:
            self._give_up(exc)
            return 0
        entries = [entry for _, raw in reply or [] for entry in _entries(raw)]
        updates = []  # (kind, progress, message with the counts as of that entry)
        for entry in entries:
            if message := self._feed(entry):
                updates.append((entry.kind, self.progress.events, f"{message} ({self.progress.counts()})"))
        for index, (kind, progress, message) in enumerate(updates):
            # A check's output can be thousands of lines: of a run of them in one read, report the last.
            if kind == "check" and index + 1 < len(updates) and updates[index + 1][0] == "check":
                continue
            await self._send(progress, message)
        return len(entries)

    def _feed(self, entry: LogEntry) -> str | None:
        self.cursor = entry.cursor
        return self.progress.feed(entry)

    async def _send(self, progress: float, message: str) -> None:
        try:
            await self.report(progress, message)
        except Exception as exc:  # a client that went away must not fail the wait
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        log.warning("progress for %s stopped: %s: %s", self.progress.job_id, type(exc).__name__, exc)
        self._broken = True


def _entries(raw) -> list[LogEntry]:
    return [
        LogEntry(
            cursor=entry_id.decode(),
            ts=float(fields.get(b"ts", b"0")),
            kind=fields.get(b"kind", b"").decode(),
            text=fields.get(b"text", b"").decode(errors="replace"),
        )
        for entry_id, fields in raw
    ]


def progress_reporter(ctx: Context | None):
    """A `(progress, message)` callback sending progress notifications, or None when the caller asked for
    none."""
    try:
        meta = ctx.request_context.meta if ctx is not None else None
    except ValueError:  # called outside a request
        meta = None
    if not meta or meta.get("progress_token") is None:
        return None

    async def report(progress: float, message: str) -> None:
        await ctx.report_progress(progress, None, message)

    return report
