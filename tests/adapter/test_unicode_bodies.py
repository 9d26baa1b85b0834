"""Bodies that are not valid Unicode: a 400 invalid_request_error, never a 500 or a traceback."""

import httpx
import pytest

HEAD = b'{"model": "claude-opus-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "'
TAIL = b'"}]}'
BROKEN_TEXT = {
    "escaped_lone_high_surrogate": b"before \\ud800 after",
    "escaped_lone_low_surrogate": b"\\udc00",
    "escaped_surrogates_in_wrong_order": b"\\ude00\\ud83d",
    "utf8_encoded_surrogate": b"\xed\xa0\x80",
    "invalid_utf8_byte": b"\xff",
    "truncated_utf8_sequence": b"\xe2\x82",
    "overlong_utf8_encoding": b"\xc0\xaf",
}


@pytest.fixture
def adapter(scripted_gateway, start_adapter):
    scripted_gateway.add_scenario({"name": "unicode", "turns": [{"text": "fine"}]})
    return start_adapter(scripted_gateway.url)


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("text", BROKEN_TEXT.values(), ids=BROKEN_TEXT.keys())
def test_broken_unicode_is_a_400_with_no_traceback(scripted_gateway, adapter, path, text):
    response = httpx.post(
        adapter.url + path, headers={"x-api-key": adapter.token}, content=HEAD + text + TAIL
    )

    assert response.status_code == 400, response.text
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "Traceback" not in response.text
    assert scripted_gateway.requests() == []
    assert "Traceback" not in adapter.server.log()


def test_a_valid_surrogate_pair_passes_on_the_fast_path_and_the_fallback(scripted_gateway, adapter):
    emoji = b"[[scenario:unicode]] \\ud83d\\ude00"
    # NaN (in a field the adapter keeps but never forwards) is refused by orjson: the body takes the fallback.
    for extra in (b"", b', "sampling_seed": NaN'):
        response = httpx.post(
            adapter.url + "/v1/messages",
            headers={"x-api-key": adapter.token},
            content=HEAD + emoji + b'"}]' + extra + b"}",
        )

        assert response.status_code == 200, response.text
        assert "\U0001f600" in scripted_gateway.requests()[-1]["body"]["messages"][-1]["content"]
