"""Secrets this process knows of, so that none of them reaches a log line, Redis key or result."""

import os
from urllib.parse import urlsplit

from tasks.settings import FarmSettings

# Environment variables that hold credentials wherever they are set.
SECRET_ENV_NAMES = ("ONEAPI_API_KEY", "ANTHROPIC_API_KEY", "FALLBACK_API_KEY", "ADAPTER_TOKENS", "ADAPTER_TOKEN", "FARM_MCP_TOKEN")


def known_secrets(settings: FarmSettings) -> list[str]:
    """Known secret values: adapter token, Redis password, gateway keys present in the environment."""
    values = [os.environ.get(name, "") for name in SECRET_ENV_NAMES]
    values += [part for v in values for part in v.split(",")]  # ADAPTER_TOKENS is a list
    if settings.adapter_token:
        values.append(settings.adapter_token.get_secret_value())
    password = urlsplit(settings.redis_url).password
    if password:
        values.append(password)
    return [v.strip() for v in values if len(v.strip()) >= 6]
