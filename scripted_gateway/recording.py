"""Shaping what the gateway remembers about each request (secrets masked)."""

import json
import time
from collections.abc import Mapping
from typing import Any

# Headers that carry credentials; recorded masked so logs and test output stay shareable.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key"})


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with lower-cased names and credential values replaced by `***` (scheme kept)."""
    masked = {}
    for name, value in headers.items():
        name = name.lower()
        if name in SECRET_HEADERS:
            scheme, _, token = value.partition(" ")
            value = f"{scheme} ***" if token else "***"
        masked[name] = value
    return masked


def parse_body(raw: bytes) -> Any:
    """The JSON body if it parses, else the raw text (so malformed requests are still visible)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def new_entry(path: str, headers: Mapping[str, str], raw: bytes) -> dict:
    """A request record; the app fills scenario/turn/status/error/fault as it goes."""
    return {
        "time": time.time(),
        "path": path,
        "headers": mask_headers(headers),
        "body": parse_body(raw),
        "scenario": None,
        "turn": None,
        "status": None,
        "error": None,
        "fault": None,
    }
