"""The base of the farm's errors: a stable code, a one-line message and a one-line fix hint.

Each part of the farm subclasses `FarmError` with codes of its own: git plumbing (git_errors.py), signing,
the worker's rules, sandbox and dead letters, the command's local state and children, and the errors a
tool call answers with (mcp_frontend/errors.py, `ToolCallError`), which a caller sees as
`{code, message, hint}`. Only the adapter keeps its own: it answers in Anthropic's error format.
"""


class FarmError(Exception):
    """Base of every error the farm raises on purpose; its own code is the catch-all."""

    code = "farm_error"
    hint = "see the Errors section of codex-farm's docs/tools.md"

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def as_dict(self) -> dict[str, str]:
        """The error as the caller sees it: `{code, message, hint}`, in UTF-8 a transport can write."""
        return {"code": self.code, "message": _utf8(self.message), "hint": _utf8(self.hint)}


def _utf8(text: str) -> str:
    """text in UTF-8 a transport can write: a lone surrogate (say, in an echoed file name) becomes U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
