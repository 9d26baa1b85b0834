"""Masking secrets in text before it is logged or stored."""

import logging
import re

# Shapes of credentials that may reach a log line even when we do not hold the value.
_SECRET_SHAPES = re.compile(
    r"(?i)(\bjob\.[A-Za-z0-9_-]+\.\d+\.[0-9a-f]{16,}|\bsk-[A-Za-z0-9_\-]{8,}|\bBearer\s+[A-Za-z0-9._\-~+/=]{8,}|\b(?:api[_-]?key|token|password)\b\s*[=:]\s*\S{6,})"
)
MASK = "[REDACTED]"


class Redactor:
    """Replaces known secret values and credential-shaped strings with a mask."""

    def __init__(self, secrets: list[str]):
        self._known = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return _SECRET_SHAPES.sub(MASK, self._mask_known(text))

    def _mask_known(self, text: str) -> str:
        """Mask every occurrence of every known secret; overlapping occurrences merge into one mask."""
        spans = sorted(span for secret in self._known for span in _occurrences(text, secret))
        if not spans:
            return text
        pieces, position = [], 0
        for start, end in _merged(spans):
            pieces += [text[position:start], MASK]
            position = end
        pieces.append(text[position:])
        return "".join(pieces)


def _occurrences(text: str, secret: str):
    start = text.find(secret)
    while start != -1:
        yield start, start + len(secret)
        start = text.find(secret, start + 1)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class RedactingFilter(logging.Filter):
    """Logging filter that redacts every record's final message and its traceback text."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed call: the handler reports it, as logging always does
        record.msg, record.args = self._redact(message), None
        if record.exc_info:
            record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
