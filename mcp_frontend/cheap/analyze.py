"""analyze: one cheap model call answering a question over bounded slices of files; answers are cached."""

import anyio
from pydantic import BaseModel, Field

from mcp_frontend.cheap.cache import AnswerCache, content_key
from mcp_frontend.cheap.model_call import LiteUsage, call_model, check_model_name
from mcp_frontend.cheap.sources import Selection, read_slices, render, resolve_dir, select_files
from mcp_frontend.errors import InvalidArgument
from mcp_frontend.service_protocols import CheapService

QUESTION_MAX_CHARS = 8000
ANSWER_MAX_TOKENS = 1500
SYSTEM = (
    "You answer a developer's question about the source files below. Answer from the files only, concisely, "
    "citing file paths (and line numbers when useful). If the files do not hold the answer, say so. "
    "Some files may be cut; a 'not shown' section lists what was left out."
)


class AnalyzeResult(BaseModel):
    """The model's answer and what it was based on."""

    answer: str
    files_used: list[str] = Field(description="Files whose content (or first part) the model saw.")
    truncated: list[str] = Field(
        description="What was cut or left out (file caps, total cap, binary, glob limits); empty: nothing."
    )
    cached: bool = Field(description="Served from WORKER_LITE_CACHE_DIR without a model call.")
    usage: LiteUsage


async def analyze(
    service: CheapService,
    question: str,
    files: list[str] | None,
    globs: list[str] | None,
    repo: str | None,
    model: str | None,
) -> AnalyzeResult:
    if not question.strip():
        raise InvalidArgument("question is empty")
    if len(question) > QUESTION_MAX_CHARS:
        raise InvalidArgument(f"question is longer than {QUESTION_MAX_CHARS} characters")
    check_model_name(model)
    model = model or service.frontend.lite_model
    selection = await anyio.to_thread.run_sync(_select, service, files, globs, repo)
    prompt = f"Question: {question}\n\nFiles:\n{render(selection)}"
    cache = AnswerCache(service.frontend.lite_cache_dir, service.frontend.lite_cache_ttl_s)
    key = content_key("analyze/1", model, SYSTEM, prompt)
    hit = await anyio.to_thread.run_sync(cache.get, key)
    if hit is not None and isinstance(hit.get("answer"), str):
        return AnalyzeResult(
            answer=hit["answer"],
            files_used=selection.names,
            truncated=selection.notes,
            cached=True,
            usage=LiteUsage(),
        )
    reply = await call_model(service, SYSTEM, prompt, model, ANSWER_MAX_TOKENS)
    notes = selection.notes + (["answer: cut at the output cap"] if reply.truncated else [])
    await anyio.to_thread.run_sync(cache.put, key, {"answer": reply.text})
    return AnalyzeResult(
        answer=reply.text, files_used=selection.names, truncated=notes, cached=False, usage=reply.usage
    )


def _select(
    service: CheapService, files: list[str] | None, globs: list[str] | None, repo: str | None
) -> Selection:
    root, base = resolve_dir(repo, service.frontend.sandbox_root)
    paths, notes = select_files(files, globs, base, root)
    return read_slices(paths, base, root, notes)
