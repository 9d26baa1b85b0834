"""Tool definitions made palatable to OpenAI-compatible gateways.

Two concerns:

* :func:`clean_schema` -- rebuild a tool's JSON schema keeping only a conservative
  allow-list of keywords that DeepSeek, vLLM guided decoding, OneAPI/New API relays and
  Gemini-style validators all accept.  ``$schema``, ``$id``, ``$comment``,
  ``propertyNames``, ``exclusiveMinimum``, vendor keys such as ``defer_loading`` and
  unknown ``format`` values are dropped; local ``$ref``s (``#/$defs/...``,
  ``#/definitions/...``) are inlined because several gateways reject ``$ref``.
* :class:`ToolNameMap` -- OpenAI tool names must match ``^[a-zA-Z0-9_-]{1,64}$``.

The input is never mutated; the output is built from fresh dicts (leaf values such as
``enum`` lists or ``default`` values are shared with the input, not copied).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "ALLOWED_FORMATS",
    "ToolNameMap",
    "clean_schema",
    "is_valid_tool_name",
    "sanitize_tool_name",
]

ALLOWED_FORMATS = frozenset({"date-time", "date", "time", "email", "uri", "uuid"})

# Nested schemas deeper than this are replaced by ``{}`` (accept anything).
_MAX_DEPTH = 48

# Keyword -> how its value is treated.  Anything not listed is dropped.
_TYPE, _PROPS, _REQUIRED, _ITEMS, _ADDITIONAL, _COMBINATOR = range(6)
_ENUM, _STRING, _NUMBER, _COUNT, _ANY, _FORMAT, _BOOL, _REF = range(6, 14)
_KEYWORDS: dict[str, int] = {
    "type": _TYPE,
    "properties": _PROPS,
    "required": _REQUIRED,
    "items": _ITEMS,
    "additionalProperties": _ADDITIONAL,
    "anyOf": _COMBINATOR,
    "oneOf": _COMBINATOR,
    "allOf": _COMBINATOR,
    "enum": _ENUM,
    "description": _STRING,
    "title": _STRING,
    "pattern": _STRING,
    "minimum": _NUMBER,
    "maximum": _NUMBER,
    "minLength": _COUNT,
    "maxLength": _COUNT,
    "minItems": _COUNT,
    "maxItems": _COUNT,
    "default": _ANY,
    "const": _ANY,
    "format": _FORMAT,
    "nullable": _BOOL,
    "$ref": _REF,
}


class _Ctx:
    __slots__ = ("root", "memo", "active")

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.memo: dict[str, dict[str, Any]] = {}
        self.active: set[str] = set()


def clean_schema(schema: Any) -> dict[str, Any]:
    """Return a cleaned copy of ``schema`` whose top level is an object schema.

    The result always has ``"type": "object"`` and a ``"properties"`` mapping (empty
    if the input had none).  Non-dict input yields ``{"type": "object", "properties": {}}``.
    """
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    out = _clean(schema, _Ctx(schema), 0)
    props = out.pop("properties", None)
    out.pop("type", None)
    if props is None:
        props = {}
        # ``required`` names must exist in ``properties`` for strict validators.
        out.pop("required", None)
    return {"type": "object", "properties": props, **out}


def _clean(node: dict[str, Any], ctx: _Ctx, depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        return {}
    out: dict[str, Any] = {}
    required: Any = None
    ref: dict[str, Any] | None = None
    for key, value in node.items():
        kind = _KEYWORDS.get(key)
        if kind is None:
            continue
        if kind == _PROPS:
            if type(value) is dict:
                out["properties"] = {
                    name: _clean(sub, ctx, depth + 1) if type(sub) is dict else {}
                    for name, sub in value.items()
                }
        elif kind == _TYPE:
            if type(value) is str or (
                isinstance(value, list) and value and all(isinstance(t, str) for t in value)
            ):
                out["type"] = value
        elif kind == _STRING:
            if type(value) is str:
                out[key] = value
        elif kind == _REQUIRED:
            required = value
        elif kind == _ITEMS:
            if type(value) is dict:
                out["items"] = _clean(value, ctx, depth + 1)
            elif isinstance(value, list):
                # Tuple-form ``items`` is widely rejected; approximate with a union.
                subs = [_sub(s, ctx, depth) for s in value]
                if len(subs) == 1:
                    out["items"] = subs[0]
                elif subs:
                    out["items"] = {"anyOf": subs}
            elif value is True:
                out["items"] = {}
        elif kind == _ADDITIONAL:
            if isinstance(value, bool):
                out[key] = value
            elif type(value) is dict:
                out[key] = _clean(value, ctx, depth + 1)
        elif kind == _COMBINATOR:
            if isinstance(value, list) and value:
                out[key] = [_sub(s, ctx, depth) for s in value]
        elif kind == _ENUM:
            if isinstance(value, list) and value:
                out[key] = value
        elif kind == _NUMBER:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = value
        elif kind == _COUNT:
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                out[key] = value
        elif kind == _ANY:
            out[key] = value
        elif kind == _FORMAT:
            if type(value) is str and value in ALLOWED_FORMATS:
                out[key] = value
        elif kind == _BOOL:
            if isinstance(value, bool):
                out[key] = value
        elif type(value) is str:  # _REF
            ref = _resolve(value, ctx, depth)

    if isinstance(required, list):
        known = out.get("properties")
        names = [r for r in required if isinstance(r, str) and (known is None or r in known)]
        if names:
            out["required"] = list(dict.fromkeys(names))
    if ref:
        # Sibling keywords refine the referenced schema.
        return {**ref, **out}
    return out


def _sub(node: Any, ctx: _Ctx, depth: int) -> dict[str, Any]:
    """Clean a nested schema position; boolean/garbage schemas become ``{}``."""
    if type(node) is dict:
        return _clean(node, ctx, depth + 1)
    return {}


def _resolve(ref: str, ctx: _Ctx, depth: int) -> dict[str, Any] | None:
    """Inline a local ``$ref``; cyclic or unresolvable refs resolve to nothing."""
    cached = ctx.memo.get(ref)
    if cached is not None:
        return cached
    if ref in ctx.active or not ref.startswith("#"):
        return None
    target: Any = ctx.root
    for part in ref[1:].split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            return None
        target = target[part]
    if not isinstance(target, dict):
        return None
    ctx.active.add(ref)
    try:
        cleaned = _clean(target, ctx, depth + 1)
    finally:
        ctx.active.discard(ref)
    ctx.memo[ref] = cleaned
    return cleaned


# --------------------------------------------------------------------------- tool names

_NAME_OK = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_NAME_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_NAME = 64
_HASH_LEN = 8


def is_valid_tool_name(name: str) -> bool:
    """True if ``name`` is acceptable as an OpenAI function name."""
    return _NAME_OK.fullmatch(name) is not None


def _digest(text: str) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest()[:_HASH_LEN]


def _with_suffix(base: str, suffix: str) -> str:
    return f"{base[: _MAX_NAME - len(suffix) - 1]}_{suffix}"


def sanitize_tool_name(name: str) -> str:
    """Deterministically map ``name`` to a valid OpenAI function name.

    Valid names are returned unchanged.  Otherwise every character outside
    ``[a-zA-Z0-9_-]`` becomes ``_``; names longer than 64 characters are cut and get
    an 8-hex-digit hash of the original name appended (so two long names sharing a
    prefix stay distinct).  The empty name becomes ``tool``.
    """
    if _NAME_OK.fullmatch(name):
        return name
    cleaned = _NAME_BAD_CHARS.sub("_", name)
    if not cleaned:
        return "tool"
    if len(cleaned) > _MAX_NAME:
        return _with_suffix(cleaned, _digest(name))
    return cleaned


class ToolNameMap:
    """Assigns unique, valid upstream names to the client's tool names.

    Construct it with every name known up front (the request's tools first, then
    names seen in history); names that are already valid are reserved first so they
    never change.  The others are sanitized in order; a sanitized name that collides
    with a taken one gets a hash suffix.  The assignment depends only on the names
    given, so it is stable across the turns of a conversation.
    """

    __slots__ = ("_upstream", "_taken")

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._upstream: dict[str, str] = {}
        self._taken: set[str] = set()
        pending: list[str] = []
        for name in names:
            if name in self._upstream:
                continue
            if _NAME_OK.fullmatch(name):
                self._upstream[name] = name
                self._taken.add(name)
            else:
                pending.append(name)
        for name in pending:
            if name not in self._upstream:
                self._assign(name)

    def upstream(self, name: str) -> str:
        """The upstream name for the client's ``name`` (assigned on first use)."""
        found = self._upstream.get(name)
        return found if found is not None else self._assign(name)

    def changed(self) -> dict[str, str]:
        """``{upstream name: original name}`` for every name that was rewritten.

        Names sent unchanged are left out (``ResponseContext.original_tool_name``
        falls back to the identity).
        """
        return {up: orig for orig, up in self._upstream.items() if up != orig}

    def _assign(self, name: str) -> str:
        candidate = sanitize_tool_name(name)
        if candidate in self._taken:
            base = candidate
            candidate = _with_suffix(base, _digest(name))
            salt = 1
            while candidate in self._taken:
                salt += 1
                candidate = _with_suffix(base, _digest(f"{name}#{salt}"))
        self._upstream[name] = candidate
        self._taken.add(candidate)
        return candidate
