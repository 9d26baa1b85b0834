"""Driving many jobs through the MCP frontend as Codex would: fan-out `start` in batches, multi-job `wait`."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from mcp import Client

FANOUT_BATCH = 32  # FARM_FANOUT_MAX's default: the most one `start` or one `wait` takes
WAIT_SLICE_MS = 100_000  # below the frontend's WAIT_MAX_MS default
ACTIVE = ("queued", "running")  # a job's status until it ends
Progress = Callable[[int], None]  # told how many results have been collected so far

# Calls one tool with its arguments and returns the structured result; raises when the call fails.
# The tests pass theirs (it records every answer for the session's leak scan); a benchmark uses tool_caller.
ToolCall = Callable[[str, dict], Awaitable[dict]]


class ToolCallFailed(RuntimeError):
    """A tool answered with an error."""


def tool_caller(client: Client) -> ToolCall:
    """A ToolCall through client that raises ToolCallFailed on an error answer."""

    async def call(tool: str, arguments: dict) -> dict:
        result = await client.call_tool(tool, arguments)
        if result.is_error:
            raise ToolCallFailed(f"{tool} failed: {result.structured_content or result.content}")
        return result.structured_content

    return call


@dataclass(frozen=True)
class Submitted:
    """Job ids in submission order, and when (time.time()) each one's `start` call was sent."""

    job_ids: list[str]
    sent_at: dict[str, float]


def batches(items: list, size: int = FANOUT_BATCH) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def start_jobs(call: ToolCall, repo: Path, prompts: list[str], batch: int = FANOUT_BATCH) -> Submitted:
    """Queue one job per prompt on repo, `batch` jobs per fan-out `start` call."""
    job_ids: list[str] = []
    sent_at: dict[str, float] = {}
    for prompts_batch in batches(prompts, batch):
        sent = time.time()
        started = await call("start", {"repo": str(repo), "jobs": [{"prompt": p} for p in prompts_batch]})
        ids = [job["job_id"] for job in started["jobs"]]
        job_ids += ids
        sent_at.update(dict.fromkeys(ids, sent))
    return Submitted(job_ids, sent_at)


async def wait_all(
    call: ToolCall, job_ids: list[str], timeout_s: float, progress: Progress | None = None
) -> list[dict]:
    """Every job's compact result, in order, once all have ended; TimeoutError past timeout_s.

    `progress` is told how many have been collected after each batch of FANOUT_BATCH."""
    deadline = time.monotonic() + timeout_s
    results: list[dict] = []
    for chunk in batches(job_ids):
        while True:
            slice_ms = int(min(WAIT_SLICE_MS, max(0.0, deadline - time.monotonic()) * 1000))
            waited = await call("wait", {"job_ids": chunk, "mode": "all", "timeout_ms": slice_ms})
            if waited["done"]:
                results += waited["jobs"]
                if progress is not None:
                    progress(len(results))
                break
            if time.monotonic() >= deadline:
                pending = [job["job_id"] for job in waited["jobs"] if job["job_status"] in ACTIVE]
                raise TimeoutError(
                    f"{len(pending)} jobs still queued or running after {timeout_s:.0f} s: {pending[:5]}"
                )
    return results


async def burst(
    call: ToolCall, repo: Path, prompts: list[str], timeout_s: float, progress: Progress | None = None
) -> tuple[Submitted, list[dict]]:
    """Queue every prompt's job at once (fan-out batches), then wait for all: (submission, results)."""
    submitted = await start_jobs(call, repo, prompts)
    return submitted, await wait_all(call, submitted.job_ids, timeout_s, progress)
