"""Strict tool arguments: a tool refuses every key its parameters do not declare, at any depth, and names
the one meant.

Nested argument models refuse unknown keys themselves (pydantic `extra="forbid"`); the top level is the
argument model the SDK builds from a tool's signature, made strict here once the tool is registered. Either
way the refusal is pydantic's `extra_forbidden` error, turned into one `invalid_argument` by
`unknown_arguments_error`.
"""

import difflib
from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver.tools import Tool
from pydantic import ConfigDict, ValidationError

from mcp_frontend.errors import InvalidArgument

# A call with thousands of unknown keys still gets a short answer.
MAX_NAMED = 10
MAX_PATH_CHARS = 80


def forbid_unknown_arguments(tool: Tool) -> None:
    """Make a registered tool refuse top-level arguments it does not declare; its inputSchema then says so."""
    loose = tool.fn_metadata.arg_model
    if loose.model_config.get("extra") == "forbid":
        return  # the same tool registered again
    # A subclass keeps the SDK's fields, aliases and helpers; only the handling of extra keys changes.
    strict = type(loose.__name__, (loose,), {"model_config": ConfigDict(extra="forbid")})
    tool.fn_metadata.arg_model = strict
    # the schema of what is validated: additionalProperties false
    tool.parameters = strict.model_json_schema(by_alias=True)


def unknown_arguments_error(error: ValidationError, schema: dict[str, Any]) -> InvalidArgument | None:
    """invalid_argument naming every unknown key of a failed validation with the nearest valid one; None if
    there is none."""
    unknown = [tuple(detail["loc"]) for detail in error.errors() if detail["type"] == "extra_forbidden"]
    if not unknown:
        return None
    by_parent: dict[tuple, list[tuple]] = {}
    for path in unknown[:MAX_NAMED]:
        by_parent.setdefault(path[:-1], []).append(path)
    clauses = [
        clause
        for parent, paths in by_parent.items()
        for clause in unknown_clauses(paths, properties_at(schema, parent))
    ]
    if len(unknown) > MAX_NAMED:
        clauses.append(f"(and {len(unknown) - MAX_NAMED} more unknown arguments)")
    return InvalidArgument(" ".join(clauses))


def unknown_clauses(paths: list[tuple], valid: Sequence[str]) -> list[str]:
    """`include_dif: unknown argument; did you mean include_diff?` per key with a close valid name; the rest
    in one clause listing the valid names (the keys of one object, so the list is given once)."""
    clauses, far = [], []
    for path in paths:
        nearest = nearest_name(str(path[-1]), valid)
        if nearest is None:
            far.append(shown_path(path))
        else:
            clauses.append(f"{shown_path(path)}: unknown argument; did you mean {nearest}?")
    if far:
        noun = "argument" if len(far) == 1 else "arguments"
        listed = f" (valid: {', '.join(valid)})" if valid else ""
        clauses.append(f"{', '.join(far)}: unknown {noun}{listed}")
    return clauses


def nearest_name(name: str, valid: Sequence[str]) -> str | None:
    """The valid name closest to name, case ignored (includeDiff finds include_diff); None when none is
    close."""
    by_folded = {candidate.lower(): candidate for candidate in valid}
    close = difflib.get_close_matches(name.lower(), by_folded, n=1)
    return by_folded[close[0]] if close else None


def shown_path(path: tuple) -> str:
    """The dotted path as the other argument errors write it, bounded; quoted when a key is empty or
    unprintable."""
    text = ".".join(str(step) for step in path)
    if len(text) > MAX_PATH_CHARS:
        text = text[:MAX_PATH_CHARS] + "..."
    return text if text.isprintable() and all(str(step) for step in path) else repr(text)


def properties_at(schema: dict[str, Any], path: tuple) -> list[str]:
    """The property names of the object at path (keys and list indices) in a JSON schema; [] where it
    cannot tell."""
    node: dict[str, Any] | None = schema
    for step in path:
        is_index = isinstance(step, int)
        container = _branch_of_type(schema, node, "array" if is_index else "object") or {}
        node = container.get("items") if is_index else container.get("properties", {}).get(step)
        if node is None:
            return []
    found = _branch_of_type(schema, node, "object") or {}
    return list(found.get("properties", {}))


def _branch_of_type(root: dict[str, Any], node: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """node with its $ref followed, or its anyOf branch (e.g. of an optional argument) of JSON type kind."""
    if "$ref" in node:
        node = root.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1], {})
    if "anyOf" in node:
        return next(filter(None, (_branch_of_type(root, branch, kind) for branch in node["anyOf"])), None)
    return node if node.get("type") == kind else None
