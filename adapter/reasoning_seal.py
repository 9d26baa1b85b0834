"""The provider's reasoning, carried by the client in a thinking block's `signature` and checked on return.

Reasoning models want their reasoning back on later turns (DeepSeek and Kimi answer 400 without it,
Gemini without each tool call's thought signature, OpenRouter without `reasoning_details`).
The adapter keeps no state: the provider's reasoning state, exactly as it was sent, travels to the
client inside the thinking block's opaque `signature`, sealed with an HMAC only the adapter's key
makes, and comes back on the next request. Any replica holding the same key can read it; a seal
that was forged, altered or made for another provider profile is never forwarded.

Format: `cf1.<base64url(JSON payload)>.<base64url(HMAC-SHA256(key, "cf1." + payload part))>`,
payload `{"p": profile, "f": field, "t": text, "d"?: reasoning_details, "c"?: {tool call id: extra_content}}`
(zlib-compressed before base64 when that is shorter).
"""

import base64
import functools
import hashlib
import hmac
import json
import logging
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

log = logging.getLogger("codex_farm.adapter")

VERSION = "cf1"
_PLAIN, _DEFLATED = "j", "z"  # first character of the payload part: how it is encoded
_KEY_LABEL = b"codex-farm reasoning seal\x00"
OPENED_CACHE_SIZE = (
    2048  # seals verified recently (the histories of a few dozen jobs), each holding one reasoning text
)


@dataclass(frozen=True)
class CarriedReasoning:
    """The provider's reasoning state as it was sent: what must go back on the same assistant message."""

    field: str  # the message field the text arrived in (and goes back in)
    text: str
    # OpenRouter's `reasoning_details`, in order, each object as received.
    details: tuple[dict[str, Any], ...] = ()
    # Tool call id -> that call's `extra_content` (Gemini's `{"google": {"thought_signature": ...}}`).
    call_extras: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Nothing the provider would want back."""
        return not (self.text or self.details or self.call_extras)


@dataclass(frozen=True)
class ReasoningSeal:
    """Seals reasoning into a signature and opens signatures this adapter (or a replica with its key) made."""

    key: bytes

    @classmethod
    def from_secrets(cls, explicit: SecretStr | None, gateway_key: SecretStr | None) -> "ReasoningSeal":
        """ADAPTER_REASONING_KEY, else a key derived from the gateway key (same on every replica), else a
        random one."""
        if explicit is not None and explicit.get_secret_value():
            return cls(hashlib.sha256(_KEY_LABEL + explicit.get_secret_value().encode()).digest())
        if gateway_key is not None and gateway_key.get_secret_value():
            return cls(hashlib.sha256(_KEY_LABEL + gateway_key.get_secret_value().encode()).digest())
        log.warning(
            "no ADAPTER_REASONING_KEY or gateway key: reasoning seals last only as long as this process"
        )
        return cls(secrets.token_bytes(32))

    def seal(self, profile: str, carried: CarriedReasoning) -> str:
        """The signature carrying the reasoning state for profile."""
        fields: dict[str, Any] = {"p": profile, "f": carried.field, "t": carried.text}
        if carried.details:
            fields["d"] = list(carried.details)
        if carried.call_extras:
            fields["c"] = dict(carried.call_extras)
        payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
        deflated = zlib.compress(payload, 6)
        body = _DEFLATED + _b64(deflated) if len(deflated) < len(payload) else _PLAIN + _b64(payload)
        return f"{VERSION}.{body}.{_b64(_mac(self.key, body))}"

    def open(self, signature: str | None, profile: str) -> CarriedReasoning | None:
        """The reasoning a signature carries for profile; None (logged when suspicious) for any other
        signature."""
        if not signature or not signature.startswith(VERSION + "."):
            return None  # no seal of ours (a real Anthropic signature, or none): nothing to forward
        opened = _open(self.key, signature)
        if opened is None:
            return None
        sealed_for, carried = opened
        if sealed_for != profile:
            log.info("dropped a thinking block sealed for provider profile %s (now %s)", sealed_for, profile)
            return None
        return carried


# Every request of a job repeats the whole history, so the same seals come back turn after turn:
# verify each once. A pure function of key and signature, so the cache holds no job state.
@functools.lru_cache(maxsize=OPENED_CACHE_SIZE)
def _open(key: bytes, signature: str) -> tuple[str, CarriedReasoning] | None:
    """(profile, reasoning) of a seal made with key; None when it does not verify or cannot be read."""
    parts = signature.split(".")
    if len(parts) != 3 or not hmac.compare_digest(_unb64(parts[2]), _mac(key, parts[1])):
        log.warning("dropped a thinking block whose seal does not verify (forged, altered or another key)")
        return None
    try:
        payload = json.loads(_decode_body(parts[1]))
        return str(payload["p"]), _carried(payload)
    except (ValueError, KeyError, TypeError, AttributeError, zlib.error):
        log.warning("dropped a thinking block whose sealed payload is unreadable")
        return None


def _carried(payload: dict[str, Any]) -> CarriedReasoning:
    """The reasoning state of a verified payload; TypeError/AttributeError when a part has the wrong shape."""
    details = tuple(payload.get("d") or ())
    extras = dict(payload.get("c") or {})
    if not all(isinstance(d, dict) for d in details) or not all(isinstance(e, dict) for e in extras.values()):
        raise TypeError("reasoning details and call extras are objects")
    return CarriedReasoning(
        field=str(payload["f"]), text=str(payload["t"]), details=details, call_extras=extras
    )


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, f"{VERSION}.{body}".encode(), hashlib.sha256).digest()


def _decode_body(body: str) -> bytes:
    raw = _unb64(body[1:])
    if body[:1] == _DEFLATED:
        return zlib.decompress(raw)
    if body[:1] == _PLAIN:
        return raw
    raise ValueError("unknown payload encoding")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return b""
