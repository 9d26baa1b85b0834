"""How a request turns thinking on or off: the three shapes providers document.

Each switch reads one top-level request field and answers True/False as the request asks,
None when the request says nothing, and a 400 for any value the provider would refuse.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import invalid

THINKING_TYPES = {"enabled": True, "disabled": False}


def _is_one_of(value: Any, allowed: tuple[Any, ...]) -> bool:
    # Compared with the type too, so JSON `1` never passes for `true`.
    return any(type(value) is type(choice) and value == choice for choice in allowed)


@dataclass(frozen=True)
class ThinkingObject:
    """`"thinking": {"type": "enabled" | "disabled", ...}` (DeepSeek, Kimi, GLM)."""

    name: str = "thinking"
    # Keys the object may carry besides `type`, each with the values the provider accepts.
    options: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def read(self, body: dict) -> bool | None:
        """The requested mode, None when the field is absent; 400 on anything else."""
        value = _object_field(body, self.name)
        if value is None:
            return None
        for key, item in value.items():
            if key == "type":
                continue
            if key not in self.options:
                raise invalid(
                    f"Unrecognized argument '{key}' in '{self.name}'.",
                    param=f"{self.name}.{key}",
                    code="unknown_parameter",
                )
            if not _is_one_of(item, self.options[key]):
                raise invalid(f"Invalid '{self.name}.{key}': {item!r}.", param=f"{self.name}.{key}")
        kind = value.get("type")
        if not isinstance(kind, str) or kind not in THINKING_TYPES:
            raise invalid(
                f"Invalid '{self.name}.type': {kind!r}. Expected 'enabled' or 'disabled'.",
                param=f"{self.name}.type",
            )
        return THINKING_TYPES[kind]


@dataclass(frozen=True)
class TopLevelFlag:
    """`"enable_thinking": true | false` at the top of the request (DashScope)."""

    name: str = "enable_thinking"

    def read(self, body: dict) -> bool | None:
        """The requested mode, None when the field is absent; 400 unless it is a boolean."""
        value = body.get(self.name)
        if value is not None and not isinstance(value, bool):
            raise invalid(f"Invalid '{self.name}': expected a boolean.", param=self.name)
        return value


@dataclass(frozen=True)
class TemplateKwargs:
    """`"chat_template_kwargs": {"enable_thinking": false}`, handed to the model's chat template (vLLM)."""

    name: str = "chat_template_kwargs"
    # Template variables that switch thinking, the first present one wins; other keys pass through.
    flags: tuple[str, ...] = ("enable_thinking", "thinking")

    def read(self, body: dict) -> bool | None:
        """The requested mode, None when no flag is set; 400 on a non-object or a non-boolean flag."""
        value = _object_field(body, self.name)
        if value is None:
            return None
        for flag in self.flags:
            if value.get(flag) is None:
                continue
            if not isinstance(value[flag], bool):
                raise invalid(
                    f"Invalid '{self.name}.{flag}': expected a boolean.", param=f"{self.name}.{flag}"
                )
            return value[flag]
        return None


@dataclass(frozen=True)
class EffortLevel:
    """`"reasoning_effort": "low" | ... | "none"` at the top of the request, "none" turning thinking off
    (Gemini)."""

    levels: frozenset[str]
    off: str = "none"
    name: str = "reasoning_effort"

    def read(self, body: dict) -> bool | None:
        """The requested mode, None when the field is absent; 400 on a level the provider does not know."""
        value = body.get(self.name)
        if value is None:
            return None
        if value not in self.levels:
            raise invalid(f"Invalid '{self.name}': {value!r}.", param=self.name)
        return value != self.off


@dataclass(frozen=True)
class ReasoningObject:
    """`"reasoning": {"effort": ..., "max_tokens": n, "exclude": bool, "enabled": bool}` (OpenRouter)."""

    efforts: frozenset[str]
    name: str = "reasoning"

    def read(self, body: dict) -> bool | None:
        """The requested mode, None when the field is absent; 400 on an unknown key or a wrong value."""
        value = _object_field(body, self.name)
        if value is None:
            return None
        known = {"effort": str, "max_tokens": int, "exclude": bool, "enabled": bool}
        for key, item in value.items():
            if key not in known:
                raise invalid(f"Unrecognized argument '{key}' in '{self.name}'.", param=f"{self.name}.{key}")
            if type(item) is not known[key] or (key == "effort" and item not in self.efforts):
                raise invalid(f"Invalid '{self.name}.{key}': {item!r}.", param=f"{self.name}.{key}")
        if value.get("enabled") is False or value.get("effort") == "none":
            return False
        return True


ThinkingSwitch = ThinkingObject | TopLevelFlag | TemplateKwargs | EffortLevel | ReasoningObject


def _object_field(body: dict, name: str) -> dict | None:
    """The object under name, None when absent; 400 when it is not an object."""
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise invalid(f"Invalid '{name}': expected an object.", param=name)
    return value
