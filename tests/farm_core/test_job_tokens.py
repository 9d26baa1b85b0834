"""Per-job tokens: minted by a worker, verified by the adapter, useless once expired or altered."""

import hashlib
import hmac

import pytest

from farm_core.job_tokens import mint_job_token, verify_job_token

KEY = "adapter-token-0123456789"
OTHER_KEY = "adapter-token-abcdefabcd"
NOW = 1_700_000_000.0
JOB = "3f2a9c0e5b8d"


def mint(job_id: str = JOB, key: str = KEY, ttl_s: int = 600, now: float = NOW) -> str:
    return mint_job_token(job_id, key, ttl_s, now=now)


def test_token_layout():
    token = mint()
    expected_sig = hmac.new(KEY.encode(), f"{JOB}.1700000600".encode(), hashlib.sha256).hexdigest()[:40]
    assert token == f"job.{JOB}.1700000600.{expected_sig}"


@pytest.mark.parametrize("job_id", ["3f2a9c0e5b8d", "job-1", "under_score", "x", "0" * 64])
def test_round_trip(job_id):
    assert verify_job_token(mint(job_id), [KEY], now=NOW + 1) == job_id


def test_any_of_several_keys_verifies():
    token = mint(key=OTHER_KEY)
    assert verify_job_token(token, [KEY, OTHER_KEY], now=NOW) == JOB


EXPIRY_CASES = [
    ("just_minted", NOW, JOB),
    ("at_expiry", NOW + 600, JOB),
    ("one_second_late", NOW + 601, None),
    ("a_day_late", NOW + 86400, None),
]


@pytest.mark.parametrize(("now", "expected"), [c[1:] for c in EXPIRY_CASES], ids=[c[0] for c in EXPIRY_CASES])
def test_expiry(now, expected):
    assert verify_job_token(mint(ttl_s=600), [KEY], now=now) == expected


def test_fractional_now_truncates_expiry():
    assert mint(ttl_s=10, now=NOW + 0.9).split(".")[2] == "1700000010"


@pytest.mark.parametrize(
    "keys", [[OTHER_KEY], [], [KEY + "x"], [KEY.upper()]], ids=["other", "none", "longer", "case"]
)
def test_wrong_key_refused(keys):
    assert verify_job_token(mint(), keys, now=NOW) is None


def _tamper(part: int, value: str) -> str:
    parts = mint().split(".")
    parts[part] = value
    return ".".join(parts)


def _flip_last_hex(sig: str) -> str:
    return sig[:-1] + ("0" if sig[-1] != "0" else "1")


TAMPERED = [
    ("job_id_changed", lambda: _tamper(1, "3f2a9c0e5b8e")),
    ("job_id_empty", lambda: _tamper(1, "")),
    ("expiry_extended", lambda: _tamper(2, "1700009999")),
    ("expiry_shortened", lambda: _tamper(2, "1700000500")),
    ("signature_flipped", lambda: _tamper(3, _flip_last_hex(mint().split(".")[3]))),
    ("signature_truncated", lambda: _tamper(3, mint().split(".")[3][:-1])),
    ("signature_extended", lambda: _tamper(3, mint().split(".")[3] + "0")),
    (
        "signature_full_sha256",
        lambda: _tamper(3, hmac.new(KEY.encode(), f"{JOB}.1700000600".encode(), hashlib.sha256).hexdigest()),
    ),
    ("signature_uppercase", lambda: _tamper(3, mint().split(".")[3].upper())),
    ("signature_empty", lambda: _tamper(3, "")),
    ("prefix_changed", lambda: _tamper(0, "JOB")),
]


@pytest.mark.parametrize("make", [c[1] for c in TAMPERED], ids=[c[0] for c in TAMPERED])
def test_tampered_token_refused(make):
    assert verify_job_token(make(), [KEY], now=NOW) is None


MALFORMED = [
    "",
    "job",
    "job.",
    "job...",
    f"job.{JOB}.1700000600",
    f"job.{JOB}.1700000600.abc.def",
    f"job.{JOB}.-1700000600.abc",
    f"job.{JOB}.17e8.abc",
    f"job.{JOB}. 1700000600.abc",
    f"job.{JOB}.1700000600.5.abc",
    f"sk-{JOB}.1700000600.abc",
    "Bearer job.x.1.y",
    "adapter-token-0123456789",
]


@pytest.mark.parametrize("token", MALFORMED)
def test_malformed_strings_refused(token):
    assert verify_job_token(token, [KEY], now=NOW) is None


# HTTP header values reach the adapter as latin-1 text, so any of these can arrive as an x-api-key.
def test_superscript_digit_expiry_refused():
    assert verify_job_token(f"job.{JOB}.\u00b2.abc", [KEY], now=NOW) is None


def test_non_ascii_signature_refused():
    assert verify_job_token(f"job.{JOB}.1700000600.\u00e9", [KEY], now=NOW) is None


@pytest.mark.parametrize("job_id", ["a.b", ".", "job.", "x.y.z"])
def test_job_id_with_dot_refused_at_mint(job_id):
    with pytest.raises(ValueError, match="must not contain '.'"):
        mint_job_token(job_id, KEY, 600, now=NOW)
