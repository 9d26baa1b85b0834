"""`{cwd}` substitution in scripted text and tool arguments."""

from typing import Any

from .errors import invalid

CWD_PLACEHOLDER = "{cwd}"


def uses_cwd(value: Any) -> bool:
    """True if `{cwd}` appears in any string inside `value`."""
    if isinstance(value, str):
        return CWD_PLACEHOLDER in value
    if isinstance(value, dict):
        return any(uses_cwd(item) for item in value.values())
    if isinstance(value, list):
        return any(uses_cwd(item) for item in value)
    return False


def fill_cwd(value: Any, cwd: str | None) -> Any:
    """Return `value` with `{cwd}` replaced in every string; 400 if needed but `cwd` is None."""
    if not uses_cwd(value):
        return value
    if cwd is None:
        raise invalid(
            "Scenario uses {cwd} but the request states no 'Primary working directory: ...'.",
            param="messages",
        )
    return _replace(value, cwd)


def _replace(value: Any, cwd: str) -> Any:
    # Plain replace, not str.format: scripted JSON and code are full of other braces.
    if isinstance(value, str):
        return value.replace(CWD_PLACEHOLDER, cwd)
    if isinstance(value, dict):
        return {key: _replace(item, cwd) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, cwd) for item in value]
    return value
