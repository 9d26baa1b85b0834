"""review: one cheap model call judging a job's diff and check verdicts (or some files), answered as strict
JSON."""

import json
import re
from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field, ValidationError, field_validator

from mcp_frontend.cheap.artifacts import job_diff
from mcp_frontend.cheap.model_call import LiteUsage, call_model, check_model_name
from mcp_frontend.cheap.sources import Selection, read_slices, render, resolve_dir, select_files
from mcp_frontend.errors import InvalidArgument, ModelOutputInvalid
from mcp_frontend.service_protocols import CheapService

REVIEW_DIFF_MAX_BYTES = 60_000
FOCUS_MAX_CHARS = 2000
REVIEW_MAX_TOKENS = 2000
MAX_FINDINGS = 50
MESSAGE_MAX_CHARS = 500
RAW_SHOWN_CHARS = 1000
SYSTEM = (
    "You are a strict code reviewer. Review the change below for bugs, regressions, "
    "security problems and missing tests. Reply with ONLY a JSON object, no prose: "
    '{"verdict": "accept" | "repair", "findings": [{"file": "path", "line": 12, "severity": "error" | '
    '"warning" | "info", '
    '"message": "what is wrong and how to fix it"}]}. Use "repair" when any finding must be fixed before '
    "merging, or when a check failed; line is null when no line applies."
)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


class Finding(BaseModel):
    file: str = ""
    line: int | None = None
    severity: Literal["error", "warning", "info"] = "warning"
    message: str

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> str:
        value = str(value or "warning").lower()
        return {
            "critical": "error",
            "high": "error",
            "major": "error",
            "medium": "warning",
            "minor": "info",
            "low": "info",
        }.get(value, value)

    @field_validator("line", mode="before")
    @classmethod
    def _line(cls, value: Any) -> int | None:
        if isinstance(value, str):
            value = value.strip().lstrip("L")
            return int(value) if value.isdigit() else None
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    @field_validator("file", mode="before")
    @classmethod
    def _file(cls, value: Any) -> str:
        return "" if value is None else str(value)[:300]

    @field_validator("message", mode="before")
    @classmethod
    def _message(cls, value: Any) -> str:
        return str(value)[:MESSAGE_MAX_CHARS]


class ReviewVerdict(BaseModel):
    verdict: Literal["accept", "repair"]
    findings: list[Finding] = Field(default_factory=list)

    @field_validator("verdict", mode="before")
    @classmethod
    def _verdict(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("findings", mode="before")
    @classmethod
    def _findings(cls, value: Any) -> Any:
        return [] if value is None else value


class ReviewResult(BaseModel):
    """The model's verdict on the change and its findings."""

    verdict: Literal["accept", "repair"]
    findings: list[Finding]
    reviewed: str = Field(description="What was reviewed: `job <id>` or the files.")
    checks: list[str] = Field(default_factory=list, description="The job's check verdicts the model saw.")
    truncated: list[str] = Field(
        default_factory=list, description="What was cut before the model saw it; empty: nothing."
    )
    usage: LiteUsage


def parse_review(text: str) -> ReviewVerdict:
    """The first JSON object in text (bare, fenced, or inside prose) that is a valid review;
    ModelOutputInvalid otherwise."""
    for candidate in _candidates(text):
        try:
            verdict = ReviewVerdict.model_validate(candidate)
        except ValidationError:
            continue
        verdict.findings = verdict.findings[:MAX_FINDINGS]
        return verdict
    shown = text.strip()[:RAW_SHOWN_CHARS] + ("…" if len(text.strip()) > RAW_SHOWN_CHARS else "")
    raise ModelOutputInvalid(f"the review is not the asked JSON object; raw answer: {shown!r}")


def _candidates(text: str):
    decoder = json.JSONDecoder()
    for chunk in [*_FENCE.findall(text), text]:
        chunk = chunk.strip()
        try:
            yield json.loads(chunk)
        except ValueError:
            pass
        for match in re.finditer(r"\{", chunk):
            try:
                value, _ = decoder.raw_decode(chunk, match.start())
            except ValueError:
                continue
            if isinstance(value, dict) and "verdict" in value:
                yield value


async def review(
    service: CheapService,
    job_id: str | None,
    files: list[str] | None,
    repo: str | None,
    focus: str | None,
    model: str | None,
) -> ReviewResult:
    if (job_id is None) == (not files):
        raise InvalidArgument("give either job_id or files")
    if focus is not None and len(focus) > FOCUS_MAX_CHARS:
        raise InvalidArgument(f"focus is longer than {FOCUS_MAX_CHARS} characters")
    check_model_name(model)
    focus_text = f"Focus of this review: {focus}\n\n" if focus and focus.strip() else ""
    notes: list[str] = []
    checks: list[str] = []
    if job_id is not None:
        record, diff, cut = await anyio.to_thread.run_sync(job_diff, service, job_id, REVIEW_DIFF_MAX_BYTES)
        checks = list(record.result.checks) if record.result else []
        prompt_parts = [
            "Job prompt (what the change was asked to "
            f"do):\n{(record.spec.prompt if record.spec else '')[:4000]}\n"
        ]
        prompt_parts.append("Check verdicts:\n" + ("\n".join(checks) if checks else "(no checks ran)") + "\n")
        prompt_parts.append(f"Diff:\n{diff}")
        if cut:
            notes.append(f"diff: first {REVIEW_DIFF_MAX_BYTES} bytes")
        reviewed = f"job {job_id}"
    else:
        selection = await anyio.to_thread.run_sync(_select, service, files, repo)
        notes = selection.notes
        prompt_parts = [f"Files (line-numbered):\n{render(selection)}"]
        reviewed = ", ".join(selection.names)[:500]
    prompt = focus_text + "\n".join(prompt_parts)
    reply = await call_model(service, SYSTEM, prompt, model, REVIEW_MAX_TOKENS)
    verdict = parse_review(reply.text)
    return ReviewResult(
        verdict=verdict.verdict,
        findings=verdict.findings,
        reviewed=reviewed,
        checks=checks,
        truncated=notes,
        usage=reply.usage,
    )


def _select(service: CheapService, files: list[str], repo: str | None) -> Selection:
    root, base = resolve_dir(repo, service.frontend.sandbox_root)
    paths, notes = select_files(files, None, base, root)
    return read_slices(paths, base, root, notes, number_lines=True)
