import json

import pytest

from adapter.translate.upstream_error import (
    MAX_MESSAGE_CHARS,
    UPSTREAM_CREDENTIALS_MESSAGE,
    anthropic_error_for_status,
    translate_upstream_error,
    upstream_error_message,
)

STATUS_CASES = [
    (400, (400, "invalid_request_error")),
    # Our gateway key was rejected: not the client's fault, must not prompt a re-login.
    (401, (500, "api_error")),
    (402, (402, "billing_error")),
    (403, (403, "permission_error")),
    (404, (404, "not_found_error")),
    (408, (504, "timeout_error")),
    (413, (413, "request_too_large")),
    (422, (400, "invalid_request_error")),
    (429, (429, "rate_limit_error")),
    (500, (500, "api_error")),
    (501, (500, "api_error")),
    (502, (500, "api_error")),
    (503, (529, "overloaded_error")),
    (504, (504, "timeout_error")),
    (524, (504, "timeout_error")),
    (529, (529, "overloaded_error")),
    (599, (500, "api_error")),
    (405, (500, "api_error")),
    (409, (500, "api_error")),
    (418, (500, "api_error")),
    (302, (500, "api_error")),
    (200, (500, "api_error")),
    (0, (500, "api_error")),
]


@pytest.mark.parametrize(("status", "expected"), STATUS_CASES)
def test_status_mapping(status, expected):
    assert anthropic_error_for_status(status) == expected


MESSAGE_CASES = [
    (
        "openai",
        b'{"error":{"message":"Model Not Exist","type":"invalid_request_error","code":"x"}}',
        "Model Not Exist",
    ),
    ("error_string", b'{"error":"quota exhausted"}', "quota exhausted"),
    (
        "vllm_top_level",
        b'{"object":"error","message":"max_tokens is too large","type":"BadRequestError","code":400}',
        "max_tokens is too large",
    ),
    ("fastapi_detail", b'{"detail":"Not Found"}', "Not Found"),
    ("fastapi_validation", b'{"detail":[{"loc":["body"],"msg":"field required"}]}', "field required"),
    (
        "new_api_nested",
        b'{"error":{"message":"\\u5f53\\u524d\\u5206\\u7ec4\\u8d1f\\u8f7d\\u5df2\\u9971\\u548c","type":"new_api_error"}}',
        "当前分组负载已饱和",
    ),
    ("raw_text", b"<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway</body></html>"),
    ("json_without_message", b'{"foo":1}', '{"foo":1}'),
    ("empty", b"", ""),
    ("whitespace", b"  \n", ""),
    ("none", None, ""),
    ("str_input", '{"error":{"message":"from str"}}', "from str"),
    ("invalid_utf8", b"\xff\xfe oops", "\ufffd\ufffd oops"),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in MESSAGE_CASES], ids=[c[0] for c in MESSAGE_CASES]
)
def test_upstream_error_message(body, expected):
    assert upstream_error_message(body) == expected


def test_raw_text_truncated():
    message = upstream_error_message(b"x" * 5000)
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.endswith("...")


def test_json_message_truncated():
    body = json.dumps({"error": {"message": "y" * 2000}}).encode()
    assert len(upstream_error_message(body)) == MAX_MESSAGE_CHARS


def test_translate_upstream_error_401_names_the_adapter_credentials():
    status, error_type, message = translate_upstream_error(401, b'{"error":{"message":"Invalid token"}}')
    assert (status, error_type) == (500, "api_error")
    assert message == f"{UPSTREAM_CREDENTIALS_MESSAGE}: Invalid token"


def test_translate_upstream_error_generic():
    assert translate_upstream_error(429, b'{"error":{"message":"slow down"}}') == (
        429,
        "rate_limit_error",
        "upstream returned HTTP 429: slow down",
    )
    assert translate_upstream_error(503, b"") == (529, "overloaded_error", "upstream returned HTTP 503")
