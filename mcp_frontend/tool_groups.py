"""The tool groups FARM_TOOLS turns on, declared once: each group's tools, and the group of each tool.

Every tool definition is sent with each turn of an MCP client such as Codex, so a frontend serves only the
groups it is asked for; `core` (the default) is what a job needs from start to apply.
"""

from collections.abc import Iterable

TOOL_GROUPS: dict[str, tuple[str, ...]] = {
    "core": ("start", "get", "wait", "tail", "cancel", "apply", "analyze"),
    "read": ("search", "read_pack", "history", "diff_digest", "get_artifact_slice"),
    "edit": ("apply_edits", "shell"),
    "review": ("review", "draft", "list_jobs"),
}
DEFAULT_GROUPS = frozenset({"core"})
EVERY_GROUP = frozenset(TOOL_GROUPS)
ALL = "all"  # FARM_TOOLS's word for every group

GROUP_OF: dict[str, str] = {tool: group for group, tools in TOOL_GROUPS.items() for tool in tools}


def groups_named(names: Iterable[str]) -> frozenset[str]:
    """The groups names stand for (group names, or `all` for every group); ValueError naming the valid groups
    if one is unknown or none is given."""
    given = {name.strip() for name in names} - {""}
    if ALL in given:
        return EVERY_GROUP
    unknown = sorted(given - TOOL_GROUPS.keys())
    if unknown or not given:
        problem = f"unknown tool group {', '.join(map(repr, unknown))}" if unknown else "no tool group given"
        raise ValueError(f"{problem}; valid groups: {', '.join(TOOL_GROUPS)}, or {ALL}")
    return frozenset(given)


def tools_of(groups: Iterable[str]) -> frozenset[str]:
    """The names of the tools in groups."""
    return frozenset(tool for group in groups for tool in TOOL_GROUPS[group])


def turn_on_hint(tool: str, groups: frozenset[str]) -> str:
    """How to serve tool, a farm tool outside groups (those on): the FARM_TOOLS value that adds its group."""
    group = GROUP_OF[tool]
    wanted = ",".join(name for name in TOOL_GROUPS if name in groups or name == group)
    return f"{tool} is in the tool group {group}, which is off: start the frontend with FARM_TOOLS={wanted}"
