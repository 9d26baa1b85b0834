"""Fast JSON for the hot path (orjson), falling back to the standard library for what orjson refuses, so a
valid request never fails on speed's account.

orjson refuses invalid UTF-8 and lone surrogates (`"\\ud800"`), but also some JSON the standard library reads
(integers beyond 64 bits, `NaN`), so a refused body is retried with the standard library held to orjson's
Unicode rules: a lone surrogate cannot be encoded again, so it is refused here, as the client's error,
instead of failing later as the request is serialised for the gateway.
"""

import json

import orjson


def loads(raw: bytes | bytearray) -> object:
    """Decode a JSON body; raises ValueError when it is not JSON or not valid Unicode."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    text = bytes(raw).decode("utf-8")  # strict: invalid bytes and encoded surrogates raise UnicodeDecodeError
    data = json.loads(text)
    refuse_lone_surrogates(data)
    return data


def dumps(value) -> bytes:
    """Encode compact JSON as UTF-8 bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def refuse_lone_surrogates(value: object) -> None:
    """Raise ValueError when any string (key or value) in decoded JSON holds a lone surrogate."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                _check_text(key)
                pending.append(inner)
        elif isinstance(item, list):
            pending.extend(item)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"lone surrogate U+{ord(text[exc.start]):04X} in a string") from None
