"""Secrets this process knows of, so that none of them reaches a log line, Redis key or result."""

import os
from urllib.parse import unquote, urlsplit

from farm_core.redaction import secret_name
from farm_core.settings import FarmSettings

# Environment variables that hold credentials wherever they are set.
SECRET_ENV_NAMES = (
    "ONEAPI_API_KEY",
    "ANTHROPIC_API_KEY",
    "FALLBACK_API_KEY",
    "ADAPTER_TOKENS",
    "ADAPTER_TOKEN",
    "FARM_MCP_TOKEN",
)
MIN_SECRET_CHARS = 6  # a shorter value would mask ordinary words wherever they occur


def known_secrets(settings: FarmSettings) -> list[str]:
    """Known secret values: gateway keys and tokens in the environment (the named ones, then any variable
    whose name says it holds a credential, e.g. GITHUB_TOKEN), the adapter token, the Redis password (as
    written and decoded)."""
    values = [os.environ.get(name, "") for name in SECRET_ENV_NAMES]
    values += [part for v in values for part in v.split(",")]  # ADAPTER_TOKENS is a list
    values += [
        value
        for name, value in sorted(os.environ.items())
        if name not in SECRET_ENV_NAMES and secret_name(name)
    ]
    if settings.adapter_token:
        values.append(settings.adapter_token.get_secret_value())
    password = urlsplit(settings.redis_url).password
    if password:
        # a URL carries it percent-encoded; errors and logs may show either
        values += [
            password,
            unquote(password),
        ]
    return list(dict.fromkeys(v.strip() for v in values if len(v.strip()) >= MIN_SECRET_CHARS))
