"""Runs Claude Code headless in a worktree through claude-agent-sdk, streaming every step to the job log."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    HookMatcher,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

from farm_core.job_models import Usage
from farm_core.process_tree import kill_process_group
from farm_core.scope import WRITE_TOOLS, WriteScope

# A log line is a (kind, text) pair; the caller redacts and stores it.
LogFn = Callable[[str, str], None]
LOG_TEXT_MAX = 2000


@dataclass
class AgentOutcome:
    """How the agent run ended."""

    ok: bool
    summary: str = ""
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    denied_writes: list[str] = field(default_factory=list)


@dataclass
class AgentRequest:
    """One agent run: what to ask, where, and with which CLI settings."""

    prompt: str
    cwd: Path
    cli_path: Path
    env: dict[str, str]
    permission_mode: str
    model: str | None
    max_turns: int | None
    scope: WriteScope
    # Where the launcher writes the CLI's PID (its process group); known, the session ends the CLI
    # with a kill instead of waiting for it to save a transcript nobody reads.
    pidfile: Path | None = None


class AgentSession:
    """One Claude Code session in a worktree: the first prompt and every follow-up share its conversation.

    Use as `async with AgentSession(request, log) as session: outcome = await session.run(prompt)`; each
    `run` is one pass to a final result. A killed CLI (cancel, timeout) ends the pass, and every later one,
    not ok.
    """

    def __init__(self, request: AgentRequest, log: LogFn):
        self.request, self.log = request, log
        self.model = request.model
        self.denied_writes: list[str] = []  # over the whole session
        self._client: ClaudeSDKClient | None = None
        self._broken: str | None = None

    async def __aenter__(self) -> "AgentSession":
        request = self.request
        options = ClaudeAgentOptions(
            cwd=str(request.cwd),
            cli_path=str(request.cli_path),
            env=request.env,
            permission_mode=request.permission_mode,
            model=request.model,
            max_turns=request.max_turns,
            hooks={
                "PreToolUse": [
                    HookMatcher(
                        matcher="|".join(WRITE_TOOLS),
                        hooks=[_scope_hook(request.scope, self.denied_writes, self.log)],
                    )
                ]
            },
            setting_sources=[],
            stderr=lambda line: self.log("stderr", line),
        )
        client = ClaudeSDKClient(options=options)
        try:
            await client.connect()
            self._client = client
        except Exception as exc:  # the CLI did not start: every pass reports it
            self._broken = _failure(exc)
            await _quietly_disconnect(client)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            _end_cli(self.request.pidfile)
            await _quietly_disconnect(client)

    async def set_model(self, model: str) -> bool:
        """Ask for another model from the next pass on; False (and logged) when the CLI refuses."""
        if self._client is None or self._broken:
            return False
        try:
            await self._client.set_model(model)
        except Exception as exc:
            self.log(
                "error",
                f"could not switch the agent to model {model}: {type(exc).__name__}: {str(exc)[:300]}",
            )
            return False
        self.model = model
        return True

    async def run(self, prompt: str) -> AgentOutcome:
        """Send one prompt and read the agent's work up to its final result."""
        outcome = AgentOutcome(ok=False)
        if self._client is None or self._broken:
            outcome.error = self._broken or "agent session is closed"
        else:
            try:
                await self._client.query(prompt)
                async for message in self._client.receive_response():
                    _log_message(message, self.log)
                    if isinstance(message, ResultMessage):
                        _record_result(message, outcome)
            # the SDK raises several types when the CLI dies; all end the run the same way
            except Exception as exc:
                outcome.ok = False
                outcome.error = outcome.error or _failure(exc)
                self._broken = outcome.error
        outcome.denied_writes = list(self.denied_writes)
        return outcome


def _failure(exc: BaseException) -> str:
    return f"agent process failed: {type(exc).__name__}: {str(exc)[:300]}"


def _end_cli(pidfile: Path | None) -> None:
    """Kill the CLI's process group: its work is done, and a graceful exit costs ~20 ms per job."""
    if pidfile is None:
        return
    try:
        group = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return  # no PID written (the CLI never started): disconnect stops it the slow way
    kill_process_group(group)


async def _quietly_disconnect(client: ClaudeSDKClient) -> None:
    try:
        await client.disconnect()
    except Exception:  # a CLI the monitor killed cannot be closed cleanly; it is gone either way
        pass


def _scope_hook(scope: WriteScope, denied: list[str], log: LogFn):
    async def check_write(
        hook_input: dict[str, Any], tool_use_id: str | None, context: Any
    ) -> dict[str, Any]:
        tool = hook_input.get("tool_name", "")
        path = str(hook_input.get("tool_input", {}).get(WRITE_TOOLS.get(tool, "file_path"), ""))
        reason = scope.violation(path) if path else None
        if reason is None:
            return {}
        denied.append(path)
        log("scope", f"denied {tool}: {reason}")
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }

    return check_write


def _record_result(message: ResultMessage, outcome: AgentOutcome) -> None:
    usage = message.usage or {}
    outcome.turns = message.num_turns
    outcome.summary = (message.result or "")[:LOG_TEXT_MAX]
    outcome.usage = Usage(
        input_tokens=int(usage.get("input_tokens", 0)) + int(usage.get("cache_read_input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
        cached_tokens=int(usage.get("cache_read_input_tokens", 0)),
    )
    outcome.ok = not message.is_error
    if message.is_error:
        # An API error the CLI gave up on arrives with subtype "success"; do not report it as one.
        ending = "an error" if message.subtype == "success" else message.subtype
        outcome.error = f"agent ended with {ending}: {(message.result or '')[:300]}"


def _log_message(message: object, log: LogFn) -> None:
    if isinstance(message, AssistantMessage):
        for block in message.content:
            if isinstance(block, TextBlock) and block.text.strip():
                log("assistant", block.text[:LOG_TEXT_MAX])
            elif isinstance(block, ToolUseBlock):
                log("tool_call", f"{block.name} {json.dumps(block.input, ensure_ascii=False)[:LOG_TEXT_MAX]}")
    elif isinstance(message, UserMessage) and isinstance(message.content, list):
        for block in message.content:
            if isinstance(block, ToolResultBlock):
                kind = "tool_error" if block.is_error else "tool_result"
                log(kind, _tool_result_text(block.content)[:LOG_TEXT_MAX])
    elif isinstance(message, SystemMessage):
        log("system", message.subtype)
    elif isinstance(message, ResultMessage):
        log(
            "result",
            f"{message.subtype} after {message.num_turns} turns: {(message.result or '')[:LOG_TEXT_MAX]}",
        )


def _tool_result_text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content or ""
