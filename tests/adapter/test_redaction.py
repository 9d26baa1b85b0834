"""Redactor and RedactingFilter: known values and credential shapes never reach a log line."""

import io
import logging

import pytest

from adapter.job_tokens import mint_job_token
from adapter.redaction import MASK, RedactingFilter, Redactor

M = MASK

KNOWN_CASES = [
    # (id, secrets, text, expected)
    ("single", ["hunter22"], "pw is hunter22 ok", f"pw is {M} ok"),
    ("every_occurrence", ["hunter22"], "hunter22/hunter22", f"{M}/{M}"),
    ("two_values", ["alpha-1", "beta-22"], "a=alpha-1 b=beta-22", f"a={M} b={M}"),
    # A secret that contains another is masked whole (longest first), not as "[REDACTED]-suffix".
    ("contains_other_short_first", ["abcd", "abcd-efgh-ijkl"], "x abcd-efgh-ijkl y", f"x {M} y"),
    ("contains_other_long_first", ["abcd-efgh-ijkl", "abcd"], "x abcd-efgh-ijkl y abcd", f"x {M} y {M}"),
    ("contained_in_middle", ["efgh", "abcdefghijkl"], "abcdefghijkl efgh", f"{M} {M}"),
    ("exactly_four_chars", ["wxyz"], "wxyz", M),
    ("regex_metacharacters", ["a.b*c(d)"], "a.b*c(d) aXbbcd", f"{M} aXbbcd"),
    ("case_sensitive", ["Secret99"], "secret99 Secret99", f"secret99 {M}"),
    ("duplicates_in_list", ["dupe-val", "dupe-val"], "dupe-val", M),
]


@pytest.mark.parametrize(("secrets", "text", "expected"), [c[1:] for c in KNOWN_CASES], ids=[c[0] for c in KNOWN_CASES])
def test_known_values_masked(secrets, text, expected):
    assert Redactor(secrets)(text) == expected


SHORT_CASES = [
    ("empty", [""], "a b c"),
    ("one_char", ["a"], "a b a"),
    ("three_chars", ["abc"], "abc abcabc"),
]


@pytest.mark.parametrize(("secrets", "text"), [c[1:] for c in SHORT_CASES], ids=[c[0] for c in SHORT_CASES])
def test_values_shorter_than_four_chars_are_ignored(secrets, text):
    assert Redactor(secrets)(text) == text


def test_short_value_ignored_while_long_one_is_masked():
    assert Redactor(["abc", "abcdef"])("abc abcdef") == f"abc {M}"


def test_overlapping_secrets_both_masked_when_apart():
    assert Redactor(["abcdefgh", "efghijkl"])("abcdefgh and efghijkl") == f"{M} and {M}"


def test_overlapping_secrets_leave_no_part_visible():
    # "abcdefgh" and "efghijkl" overlap in "abcdefghijkl"; the tail "ijkl" of the second secret stays visible.
    assert Redactor(["abcdefgh", "efghijkl"])("abcdefghijkl") == M


SHAPE_CASES = [
    ("sk_key", "key sk-abcdefgh1234 end", f"key {M} end"),
    ("sk_key_with_dash_underscore", "sk-proj_AB-cd_EF-gh", M),
    ("sk_uppercase", "SK-ABCDEFGH", M),
    ("bearer", "Authorization: Bearer abc.def-ghi~jkl+mn/o=", f"Authorization: {M}"),
    ("bearer_lowercase", "bearer abcdefgh", M),
    ("bearer_many_spaces", "Bearer    abcdefgh!", f"{M}!"),
    ("api_key_equals", "url?api_key=abcdef&x=1", f"url?{M}"),
    ("api_dash_key_colon", "api-key: abcdef", M),
    ("apikey", "apikey=abcdef", M),
    ("token_colon", "token: 123456 rest", f"{M} rest"),
    ("token_equals_spaces", "TOKEN = qwerty", M),
    ("password", "password=hunter2!", M),
    ("two_shapes", "sk-aaaaaaaa and Bearer bbbbbbbb", f"{M} and {M}"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in SHAPE_CASES], ids=[c[0] for c in SHAPE_CASES])
def test_credential_shapes_masked_without_known_values(text, expected):
    assert Redactor([])(text) == expected


def test_job_token_shape_masked():
    token = mint_job_token("3f2a9c0e", "signing-key-0123", ttl_s=600, now=1_700_000_000)
    assert Redactor([])(f"sent x-api-key {token} upstream") == f"sent x-api-key {M} upstream"


UNCHANGED = [
    ("plain", "the quick brown fox"),
    ("empty", ""),
    ("unicode_and_newlines", "héllo wörld ✓\n\ttab\r\n漢字"),
    ("sk_too_short", "sk-abc1234"),
    ("sk_inside_word", "task-0123456789 desk-lampshade"),
    ("bearer_too_short", "Bearer abc"),
    ("bearer_word_alone", "the Bearer of news"),
    ("token_too_short", "token: 12345"),
    ("tokens_plural_count", "tokens: 1234567 input_tokens=1234567"),
    ("password_word", "password reset requested"),
    ("job_words", "job.3f2a.done job. 12"),
    ("json_usage", '{"prompt_tokens": 1234567, "completion_tokens": 89}'),
    ("mask_itself", f"already {M} here"),
]


@pytest.mark.parametrize("text", [c[1] for c in UNCHANGED], ids=[c[0] for c in UNCHANGED])
def test_text_without_secrets_unchanged_byte_for_byte(text):
    assert Redactor(["not-in-text-000"])(text) == text


def test_known_value_and_shape_together():
    redact = Redactor(["gw-key-777777"])
    assert redact("k=gw-key-777777 auth=Bearer zzzzzzzz") == f"k={M} auth={M}"


def _record(msg, args) -> logging.LogRecord:
    return logging.LogRecord("adapter.test", logging.INFO, __file__, 1, msg, args, None)


FILTER_CASES = [
    ("tuple_args", "key=%s route=%s", ("gw-secret-value", "primary"), f"key={M} route=primary"),
    ("dict_args", "key=%(k)s n=%(n)d", ({"k": "gw-secret-value", "n": 3},), f"key={M} n=3"),
    ("no_args", "plain gw-secret-value", None, f"plain {M}"),
    ("percent_survives", "100%% of gw-secret-value", (), f"100%% of {M}"),
    ("shape_in_arg", "header %s", ("Bearer abcdefghij",), f"header {M}"),
]


@pytest.mark.parametrize(("msg", "args", "expected"), [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter_redacts_the_formatted_message(msg, args, expected):
    record = _record(msg, args)
    assert RedactingFilter(Redactor(["gw-secret-value"])).filter(record) is True
    assert record.msg == expected
    assert record.args is None
    assert record.getMessage() == expected


def test_filter_on_a_logger_redacts_what_handlers_emit():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.adapter.redaction.emit")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.addFilter(RedactingFilter(Redactor(["gw-secret-value"])))
    try:
        logger.info("calling %s with %s", "http://gw/v1", "gw-secret-value")
        logger.warning("retry after %.1f s", 2.5)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == f"INFO calling http://gw/v1 with {M}\nWARNING retry after 2.5 s\n"


def test_filter_does_not_make_a_bad_logging_call_raise():
    logger = logging.getLogger("tests.adapter.redaction.badargs")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    logger.addFilter(RedactingFilter(Redactor([])))
    # Without the filter, logging reports the mismatch through Handler.handleError and the caller carries on.
    logger.warning("two %s %s", "only-one")
