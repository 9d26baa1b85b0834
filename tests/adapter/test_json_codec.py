"""json_codec.loads: orjson's strictness about Unicode kept on the standard-library fallback."""

import math

import pytest

from adapter.json_codec import loads
from tests.adapter.test_unicode_bodies import BROKEN_TEXT, HEAD, TAIL


@pytest.mark.parametrize("text", BROKEN_TEXT.values(), ids=BROKEN_TEXT.keys())
def test_strict_loads_refuses_what_orjson_refuses_on_the_fallback_too(text):
    with pytest.raises(ValueError):
        loads(HEAD + text + TAIL)


def test_strict_loads_keeps_the_fallback_for_what_only_the_standard_library_reads():
    decoded = loads(b'{"n": NaN, "s": "\\ud83d\\ude00", "k": "\\u00e9"}')  # orjson refuses NaN
    assert math.isnan(decoded["n"]) and (decoded["s"], decoded["k"]) == ("\U0001f600", "\u00e9")
    assert loads(bytearray(b'{"k": "\\u00e9"}')) == {"k": "\u00e9"}
