"""Fast JSON for the hot path (orjson), falling back to the standard library for what orjson refuses
(integers beyond 64 bits), so a valid request never fails on speed's account."""

import json

import orjson


def loads(data: bytes):
    """Decode JSON; raises ValueError (json.JSONDecodeError) when it is not JSON at all."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(value) -> bytes:
    """Encode compact JSON as UTF-8 bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
