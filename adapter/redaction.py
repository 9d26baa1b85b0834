"""Masking secrets in text before it is logged."""

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
        # Longest first so a secret that contains another is masked whole.
        known = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, known))) if known else None

    def __call__(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(MASK, text)
        return _SECRET_SHAPES.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Logging filter that redacts every record's final message."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        return True
