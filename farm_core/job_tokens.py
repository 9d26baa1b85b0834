"""Per-job tokens: a worker signs `job.<id>.<expiry>.<sig>` with its adapter token, so Claude Code
never holds a long-lived credential and the adapter can attribute usage to the job."""

import hashlib
import hmac
import time

PREFIX = "job"


def mint_job_token(job_id: str, signing_key: str, ttl_s: int, now: float | None = None) -> str:
    """A token valid for ttl_s seconds that names the job it was made for."""
    if "." in job_id:
        raise ValueError("job ids must not contain '.'")
    expiry = int((now or time.time()) + ttl_s)
    return f"{PREFIX}.{job_id}.{expiry}.{_signature(job_id, expiry, signing_key)}"


def verify_job_token(token: str, signing_keys: list[str], now: float | None = None) -> str | None:
    """The job id of a valid, unexpired job token signed by one of the keys; else None."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not (parts[2].isascii() and parts[2].isdigit()):
        return None
    _, job_id, expiry_text, signature = parts
    expiry = int(expiry_text)
    if expiry < (now or time.time()):
        return None
    presented = signature.encode("utf-8", "surrogateescape")  # bytes: compare_digest refuses non-ASCII str
    valid = any(
        hmac.compare_digest(presented, _signature(job_id, expiry, key).encode()) for key in signing_keys
    )
    return job_id if valid else None


def _signature(job_id: str, expiry: int, key: str) -> str:
    return hmac.new(key.encode(), f"{job_id}.{expiry}".encode(), hashlib.sha256).hexdigest()[:40]
