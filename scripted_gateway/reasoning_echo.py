"""Whether a thinking-mode request carries the model's earlier reasoning back, and the refusal if not."""

from dataclasses import dataclass
from typing import Literal

from .errors import ERROR_KEYS, GatewayError

# "tool_call_turns": every assistant message between two user messages once any of them called tools;
# "tool_call_messages": each assistant message that has tool_calls.
EchoScope = Literal["tool_call_turns", "tool_call_messages"]


@dataclass(frozen=True)
class EchoRule:
    """Which assistant messages must bring their reasoning back, and the provider's error when one does
    not."""

    scope: EchoScope
    # None: the provider accepts such a request anyway; the gateway only records it.
    error: str | None = None  # may name the first offending message as {index}
    error_code: str | None = None
    error_keys: tuple[str, ...] = ERROR_KEYS


@dataclass(frozen=True)
class EchoReport:
    """Message indexes the rule covers, and those among them that came back without reasoning."""

    checked: tuple[int, ...]
    missing: tuple[int, ...]

    def record(self) -> dict:
        """The form kept in the request log."""
        return {"checked": list(self.checked), "missing": list(self.missing)}


def _user_turns(messages: list[dict]) -> list[list[int]]:
    """Indexes of the non-user messages, grouped by the user message they follow."""
    turns: list[list[int]] = [[]]
    for i, message in enumerate(messages):
        if message["role"] == "user":
            turns.append([])
        else:
            turns[-1].append(i)
    return turns


def _calls_tools(message: dict) -> bool:
    return message["role"] == "assistant" and bool(message.get("tool_calls"))


def covered_messages(messages: list[dict], scope: EchoScope) -> list[int]:
    """Indexes of the assistant messages whose reasoning `scope` requires back."""
    if scope == "tool_call_messages":
        return [i for i, message in enumerate(messages) if _calls_tools(message)]
    return [
        i
        for turn in _user_turns(messages)
        if any(_calls_tools(messages[j]) for j in turn)
        for i in turn
        if messages[i]["role"] == "assistant"
    ]


def echo_report(messages: list[dict], rule: EchoRule, fields: tuple[str, ...]) -> EchoReport:
    """Check validated `messages` against `rule`; reasoning counts when one of `fields` is non-empty."""
    checked = covered_messages(messages, rule.scope)
    missing = [i for i in checked if not any(messages[i].get(name) for name in fields)]
    return EchoReport(checked=tuple(checked), missing=tuple(missing))


def refuse_missing(report: EchoReport, rule: EchoRule) -> None:
    """Raise the provider's 400 when the rule is enforced and some reasoning did not come back."""
    if report.missing and rule.error is not None:
        raise GatewayError(
            rule.error.format(index=report.missing[0]), status=400, code=rule.error_code, keys=rule.error_keys
        )
