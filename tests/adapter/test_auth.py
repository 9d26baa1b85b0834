"""TokenCheck: which presented credentials the adapter accepts, and the label it records for each."""

import hashlib
import time

import pytest
from starlette.requests import Request

from adapter.auth import TokenCheck, presented_token
from adapter.errors import Unauthorized
from adapter.settings import AdapterSettings
from farm_core.job_tokens import mint_job_token

TOKEN_A = "client-token-aaaaaaaa"
TOKEN_B = "client-token-bbbbbbbb"


def request(*headers: tuple[str, str] | tuple[bytes, bytes]) -> Request:
    raw = [(k.lower().encode(), v.encode()) if isinstance(k, str) else (k, v) for k, v in headers]
    return Request({"type": "http", "method": "POST", "path": "/v1/messages", "headers": raw})


def check(tokens: list[str], anonymous: bool = False) -> TokenCheck:
    return TokenCheck(AdapterSettings(client_tokens=tokens, allow_anonymous=anonymous))


def label_of(token: str) -> str:
    return "client-" + hashlib.sha256(token.encode()).hexdigest()[:8]


PRESENTED_CASES = [
    ("x_api_key", [("x-api-key", "t1")], "t1"),
    ("bearer", [("authorization", "Bearer t1")], "t1"),
    ("bearer_lowercase_scheme", [("authorization", "bearer t1")], "t1"),
    ("bearer_padded", [("authorization", "Bearer   t1  ")], "t1"),
    ("x_api_key_wins", [("x-api-key", "t1"), ("authorization", "Bearer t2")], "t1"),
    ("empty_x_api_key_falls_back", [("x-api-key", ""), ("authorization", "Bearer t2")], "t2"),
    ("basic_scheme_ignored", [("authorization", "Basic dTpw")], ""),
    ("bare_token_ignored", [("authorization", "t1")], ""),
    ("bearer_without_value", [("authorization", "Bearer")], ""),
    ("none", [], ""),
]


@pytest.mark.parametrize(
    ("headers", "expected"), [c[1:] for c in PRESENTED_CASES], ids=[c[0] for c in PRESENTED_CASES]
)
def test_presented_token(headers, expected):
    assert presented_token(request(*headers)) == expected


ACCEPTED = [
    ("x_api_key_first", [("x-api-key", TOKEN_A)], label_of(TOKEN_A)),
    ("x_api_key_second", [("x-api-key", TOKEN_B)], label_of(TOKEN_B)),
    ("bearer", [("authorization", f"Bearer {TOKEN_B}")], label_of(TOKEN_B)),
]


@pytest.mark.parametrize(("headers", "label"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_configured_tokens_accepted(headers, label):
    assert check([TOKEN_A, TOKEN_B]).client_label(request(*headers)) == label


def test_label_does_not_contain_the_token():
    label = check([TOKEN_A]).client_label(request(("x-api-key", TOKEN_A)))
    assert TOKEN_A not in label and len(label) == len("client-") + 8


@pytest.mark.parametrize("signing_key", [TOKEN_A, TOKEN_B])
@pytest.mark.parametrize("header", ["x-api-key", "authorization"])
def test_job_token_accepted_with_job_label(signing_key, header):
    token = mint_job_token("9c0e5b8d", signing_key, ttl_s=600)
    value = token if header == "x-api-key" else f"Bearer {token}"
    assert check([TOKEN_A, TOKEN_B]).client_label(request((header, value))) == "job:9c0e5b8d"


REFUSED = [
    ("missing", [], "missing token: send x-api-key or Authorization: Bearer"),
    ("empty_x_api_key", [("x-api-key", "")], "missing token: send x-api-key or Authorization: Bearer"),
    ("unknown", [("x-api-key", "client-token-cccccccc")], "unknown token"),
    ("prefix_of_known", [("x-api-key", TOKEN_A[:-1])], "unknown token"),
    ("known_plus_suffix", [("x-api-key", TOKEN_A + "a")], "unknown token"),
    (
        "basic_auth",
        [("authorization", f"Basic {TOKEN_A}")],
        "missing token: send x-api-key or Authorization: Bearer",
    ),
    ("job_token_other_key", [("x-api-key", mint_job_token("j1", "some-other-key", 600))], "unknown token"),
    (
        "job_token_expired",
        [("x-api-key", mint_job_token("j1", TOKEN_A, 60, now=time.time() - 3600))],
        "unknown token",
    ),
    ("job_shaped_garbage", [("x-api-key", "job.j1.99999999999.00")], "unknown token"),
    ("non_ascii_token", [(b"x-api-key", "tök-en".encode("latin-1"))], "unknown token"),
]


@pytest.mark.parametrize(("headers", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused(headers, message):
    with pytest.raises(Unauthorized) as caught:
        check([TOKEN_A, TOKEN_B]).client_label(request(*headers))
    assert caught.value.message == message
    assert (caught.value.status, caught.value.error_type) == (401, "authentication_error")


def test_no_tokens_configured_refuses_everything():
    with pytest.raises(Unauthorized, match="unknown token"):
        check([]).client_label(request(("x-api-key", TOKEN_A)))


def test_job_token_signed_by_a_removed_token_is_refused():
    token = mint_job_token("j1", TOKEN_A, 600)
    with pytest.raises(Unauthorized):
        check([TOKEN_B]).client_label(request(("x-api-key", token)))


def test_anonymous_mode_accepts_a_missing_token():
    assert check([], anonymous=True).client_label(request()) == "anonymous"


def test_anonymous_mode_still_labels_known_and_job_tokens():
    tokens = check([TOKEN_A], anonymous=True)
    assert tokens.client_label(request(("x-api-key", TOKEN_A))) == label_of(TOKEN_A)
    assert tokens.client_label(request(("x-api-key", mint_job_token("j7", TOKEN_A, 600)))) == "job:j7"


# Header bytes are decoded as latin-1, so a client can send this; it must get a 401, not a 500.
def test_job_token_with_superscript_expiry_is_unauthorized():
    with pytest.raises(Unauthorized):
        check([TOKEN_A]).client_label(request((b"x-api-key", b"job.j1.\xb2.abc")))


def test_job_token_with_non_ascii_signature_is_unauthorized():
    with pytest.raises(Unauthorized):
        check([TOKEN_A]).client_label(request((b"x-api-key", b"job.j1.99999999999.\xe9")))
