"""Reading the text a request carries: message texts, every string, the stated cwd."""

import re
from collections.abc import Iterator
from typing import Any

# Claude Code states its working directory in the system prompt in this form.
CWD_RE = re.compile(r"Primary working directory: (\S+)")


def message_texts(messages: list[dict]) -> Iterator[str]:
    """Yield each message's text content (plain strings and `text` parts), in order."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part["text"]


def all_strings(value: Any) -> Iterator[str]:
    """Yield every string anywhere inside a JSON value (keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)


def find_cwd(messages: list[dict]) -> str | None:
    """The working directory stated in the messages, or None."""
    for text in message_texts(messages):
        match = CWD_RE.search(text)
        if match:
            return match.group(1)
    return None
