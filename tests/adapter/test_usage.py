import pytest

from adapter.translate.usage import Usage, from_openai
from adapter.wire.openai_response import CompletionUsage

CASES = [
    # id, openai usage, (input_tokens, output_tokens, cached_tokens)
    ("none", None, (0, 0, 0)),
    ("empty", {}, (0, 0, 0)),
    ("plain", {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}, (120, 30, 0)),
    (
        "openai_cached",
        {"prompt_tokens": 1000, "completion_tokens": 50, "prompt_tokens_details": {"cached_tokens": 800}},
        (200, 50, 800),
    ),
    (
        "deepseek_cache_hit",
        {
            "prompt_tokens": 1000,
            "completion_tokens": 7,
            "prompt_cache_hit_tokens": 640,
            "prompt_cache_miss_tokens": 360,
        },
        (360, 7, 640),
    ),
    (
        "both_styles_agree",
        {
            "prompt_tokens": 1000,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 640},
            "prompt_cache_hit_tokens": 640,
        },
        (360, 7, 640),
    ),
    (
        "details_win_when_positive",
        {
            "prompt_tokens": 1000,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 500},
            "prompt_cache_hit_tokens": 100,
        },
        (500, 1, 500),
    ),
    (
        "zero_details_do_not_hide_deepseek_hits",
        {
            "prompt_tokens": 1000,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 0},
            "prompt_cache_hit_tokens": 300,
        },
        (700, 1, 300),
    ),
    (
        "null_details",
        {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": None},
        (10, 2, 0),
    ),
    (
        "cached_exceeds_prompt_never_negative",
        {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 50}},
        (0, 2, 50),
    ),
    ("null_counts", {"prompt_tokens": None, "completion_tokens": None}, (0, 0, 0)),
    ("junk_counts", {"prompt_tokens": "lots", "completion_tokens": -4}, (0, 0, 0)),
    ("numeric_strings", {"prompt_tokens": "42", "completion_tokens": 3.0}, (42, 3, 0)),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_from_openai_dict(raw, expected):
    usage = from_openai(raw)
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == expected
    assert usage.cache_read_input_tokens == expected[2]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [c[1:] for c in CASES if isinstance(c[1], dict)],
    ids=[c[0] for c in CASES if isinstance(c[1], dict)],
)
def test_from_openai_pydantic_model_matches_dict(raw, expected):
    usage = from_openai(CompletionUsage.model_validate(raw))
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == expected


def test_to_anthropic_shape():
    usage = from_openai(
        {"prompt_tokens": 100, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 64}}
    )
    assert usage.to_anthropic() == {
        "input_tokens": 36,
        "output_tokens": 9,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 64,
    }
    assert usage.prompt_tokens == 100


def test_default_is_zero():
    assert Usage() == Usage(0, 0, 0)
    assert from_openai(None) == Usage()


def test_reasoning_tokens_are_the_part_of_the_output_spent_thinking():
    usage = from_openai(
        {"prompt_tokens": 10, "completion_tokens": 50, "completion_tokens_details": {"reasoning_tokens": 30}}
    )
    assert (usage.output_tokens, usage.reasoning_tokens) == (50, 30)
    assert from_openai({"prompt_tokens": 10, "completion_tokens": 5}).reasoning_tokens == 0
