"""AdapterSettings from the environment, and which backend model serves a requested Claude model."""

from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from adapter.model_map import listed_models, resolve_target
from adapter.settings import AdapterSettings, ModelRoute


def _env_names() -> set[str]:
    names = set()
    for field in AdapterSettings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
        elif isinstance(alias, str):
            names.add(alias)
    return names


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No adapter variable of the machine running the tests leaks in."""
    for name in _env_names():
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_env_names_we_clear_are_the_documented_ones():
    assert {
        "ONEAPI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "ONEAPI_API_KEY",
        "ANTHROPIC_API_KEY",
        "ADAPTER_MODEL_MAP",
        "ADAPTER_TOKENS",
        "FALLBACK_BASE_URL",
        "FALLBACK_API_KEY",
        "WORKER_METRICS_FILE",
    } <= _env_names()


def test_defaults():
    s = AdapterSettings()
    assert (s.upstream_base_url, s.upstream_api_key, s.default_model) == (
        "https://api.deepseek.com/v1",
        None,
        "deepseek-chat",
    )
    assert (s.model_map, s.max_output_tokens, s.client_tokens, s.allow_anonymous) == ({}, 8192, [], False)
    assert (s.fallback_base_url, s.fallback_api_key, s.fallback_model) == (None, None, None)
    assert (s.retries, s.retry_max_wait_s, s.metrics_file) == (2, 20.0, None)
    assert s.secrets() == []


def test_request_limit_defaults_and_env(clean_env):
    s = AdapterSettings()
    assert (s.max_body_bytes, s.header_timeout_s, s.body_timeout_s) == (16 * 1024 * 1024, 10.0, 60.0)
    assert (s.job_max_concurrent, s.job_rate_per_min, s.job_burst) == (8, 240.0, 60)
    clean_env.setenv("ADAPTER_MAX_BODY_BYTES", "1024")
    clean_env.setenv("ADAPTER_JOB_MAX_CONCURRENT", "0")
    clean_env.setenv("ADAPTER_JOB_RATE_PER_MIN", "30")
    assert (
        AdapterSettings().max_body_bytes,
        AdapterSettings().job_max_concurrent,
        AdapterSettings().job_rate_per_min,
    ) == (1024, 0, 30.0)
    clean_env.setenv("ADAPTER_MAX_BODY_BYTES", "0")
    with pytest.raises(ValidationError):
        AdapterSettings()


def test_model_map_string_and_object_entries(clean_env):
    clean_env.setenv(
        "ADAPTER_MODEL_MAP",
        '{"haiku": "deepseek-chat", "opus": {"model": "deepseek-reasoner", "max_output_tokens": 4096}}',
    )
    assert AdapterSettings().model_map == {
        "haiku": ModelRoute(model="deepseek-chat", max_output_tokens=None),
        "opus": ModelRoute(model="deepseek-reasoner", max_output_tokens=4096),
    }


def test_model_map_empty_object(clean_env):
    clean_env.setenv("ADAPTER_MODEL_MAP", "{}")
    assert AdapterSettings().model_map == {}


@pytest.mark.parametrize("text", ["[1, 2]", '{"haiku": 5}', '{"haiku": {"max_output_tokens": 5}}'])
def test_model_map_wrong_shape_refused(clean_env, text):
    clean_env.setenv("ADAPTER_MODEL_MAP", text)
    with pytest.raises(ValidationError):
        AdapterSettings()


def test_model_map_invalid_json_refused(clean_env):
    clean_env.setenv("ADAPTER_MODEL_MAP", "{haiku: deepseek-chat}")
    with pytest.raises(ValidationError, match="ADAPTER_MODEL_MAP"):
        AdapterSettings()


@pytest.mark.parametrize("text", ["", "  "], ids=["empty", "blank"])
def test_model_map_empty_variable_means_no_map(clean_env, text):
    clean_env.setenv("ADAPTER_MODEL_MAP", text)
    assert AdapterSettings().model_map == {}


def test_model_map_from_init_text():
    settings = AdapterSettings(model_map='{"sonnet": "m1"}')
    assert settings.model_map == {"sonnet": ModelRoute(model="m1")}


TOKENS_CASES = [
    ("one", "tok-a", ["tok-a"]),
    ("two", "tok-a,tok-b", ["tok-a", "tok-b"]),
    ("spaces_and_empties", " tok-a , ,tok-b,, ", ["tok-a", "tok-b"]),
    ("empty", "", []),
    ("only_commas", ",,", []),
]


@pytest.mark.parametrize(
    ("value", "expected"), [c[1:] for c in TOKENS_CASES], ids=[c[0] for c in TOKENS_CASES]
)
def test_adapter_tokens_comma_list(clean_env, value, expected):
    clean_env.setenv("ADAPTER_TOKENS", value)
    assert [t.get_secret_value() for t in AdapterSettings().client_tokens] == expected


ALIAS_CASES = [
    # (id, env, expected base url, expected key)
    (
        "oneapi_only",
        {"ONEAPI_BASE_URL": "http://one/v1", "ONEAPI_API_KEY": "k-one"},
        "http://one/v1",
        "k-one",
    ),
    (
        "anthropic_only",
        {"ANTHROPIC_BASE_URL": "http://anth/v1", "ANTHROPIC_API_KEY": "k-anth"},
        "http://anth/v1",
        "k-anth",
    ),
    (
        "both_oneapi_wins",
        {
            "ONEAPI_BASE_URL": "http://one/v1",
            "ANTHROPIC_BASE_URL": "http://anth/v1",
            "ONEAPI_API_KEY": "k-one",
            "ANTHROPIC_API_KEY": "k-anth",
        },
        "http://one/v1",
        "k-one",
    ),
    ("mixed", {"ANTHROPIC_BASE_URL": "http://anth/v1", "ONEAPI_API_KEY": "k-one"}, "http://anth/v1", "k-one"),
]


@pytest.mark.parametrize(("env", "url", "key"), [c[1:] for c in ALIAS_CASES], ids=[c[0] for c in ALIAS_CASES])
def test_upstream_aliases_and_precedence(clean_env, env, url, key):
    for name, value in env.items():
        clean_env.setenv(name, value)
    settings = AdapterSettings()
    assert settings.upstream_base_url == url
    assert settings.upstream_api_key.get_secret_value() == key


def test_init_kwargs_beat_environment(clean_env):
    clean_env.setenv("ONEAPI_BASE_URL", "http://env/v1")
    assert AdapterSettings(upstream_base_url="http://init/v1").upstream_base_url == "http://init/v1"


def test_scalar_variables(clean_env, tmp_path):
    env = {
        "CLAUDE_MODEL": "m-default",
        "ADAPTER_MAX_OUTPUT_TOKENS": "1000",
        "FALLBACK_BASE_URL": "http://fb/v1",
        "FALLBACK_MODEL": "m-fb",
        "ADAPTER_RETRIES": "5",
        "ADAPTER_RETRY_MAX_WAIT_S": "1.5",
        "ADAPTER_ALLOW_ANONYMOUS": "1",
        "WORKER_METRICS_FILE": str(tmp_path / "m.jsonl"),
    }
    for name, value in env.items():
        clean_env.setenv(name, value)
    s = AdapterSettings()
    assert (s.default_model, s.max_output_tokens, s.fallback_base_url, s.fallback_model) == (
        "m-default",
        1000,
        "http://fb/v1",
        "m-fb",
    )
    assert (s.retries, s.retry_max_wait_s, s.allow_anonymous, s.metrics_file) == (
        5,
        1.5,
        True,
        tmp_path / "m.jsonl",
    )
    assert isinstance(s.metrics_file, Path)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ADAPTER_RETRIES", "11"), ("ADAPTER_RETRIES", "-1"), ("ADAPTER_RETRY_MAX_WAIT_S", "-0.1")],
)
def test_out_of_range_numbers_refused(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError):
        AdapterSettings()


def test_secrets_lists_every_held_secret(clean_env):
    clean_env.setenv("ONEAPI_API_KEY", "gw-key-1")
    clean_env.setenv("FALLBACK_API_KEY", "fb-key-2")
    clean_env.setenv("ADAPTER_TOKENS", "tok-a,tok-b")
    assert AdapterSettings().secrets() == ["gw-key-1", "fb-key-2", "tok-a", "tok-b"]


def test_secrets_skips_unset_and_empty(clean_env):
    clean_env.setenv("ONEAPI_API_KEY", "")
    clean_env.setenv("ADAPTER_TOKENS", "tok-a")
    assert AdapterSettings().secrets() == ["tok-a"]


def test_secrets_from_anthropic_alias(clean_env):
    clean_env.setenv("ANTHROPIC_API_KEY", "anth-key-3")
    assert AdapterSettings().secrets() == ["anth-key-3"]


def test_secret_values_hidden_in_repr(clean_env):
    clean_env.setenv("ONEAPI_API_KEY", "gw-key-hidden")
    clean_env.setenv("ADAPTER_TOKENS", "tok-hidden")
    assert "gw-key-hidden" not in repr(AdapterSettings())
    assert "tok-hidden" not in repr(AdapterSettings())


MAP = {
    "claude-3-5-haiku-20241022": {"model": "exact-haiku", "max_output_tokens": 1000},
    "haiku": "family-haiku",
    "Sonnet": {"model": "family-sonnet", "max_output_tokens": 2000},
    "opus": {"model": "family-opus"},
}

RESOLVE_CASES = [
    # (id, requested, expected model, expected cap)
    ("exact_with_cap", "claude-3-5-haiku-20241022", "exact-haiku", 1000),
    ("family_substring", "claude-haiku-4-5", "family-haiku", 3000),
    ("family_key_case_insensitive", "claude-sonnet-4-5", "family-sonnet", 2000),
    ("family_request_case_insensitive", "CLAUDE-OPUS-4", "family-opus", 3000),
    ("family_exact_key", "opus", "family-opus", 3000),
    ("unknown_goes_to_default", "gpt-4o", "m-default", 3000),
    ("empty_goes_to_default", "", "m-default", 3000),
]


@pytest.mark.parametrize(
    ("requested", "model", "cap"), [c[1:] for c in RESOLVE_CASES], ids=[c[0] for c in RESOLVE_CASES]
)
def test_resolve_target(requested, model, cap):
    settings = AdapterSettings(model_map=MAP, default_model="m-default", max_output_tokens=3000)
    target = resolve_target(requested, settings)
    assert (target.model, target.max_output_tokens) == (model, cap)


def test_resolve_target_without_map():
    target = resolve_target(
        "claude-sonnet-4-5", AdapterSettings(default_model="m-default", max_output_tokens=123)
    )
    assert (target.model, target.max_output_tokens) == ("m-default", 123)


def test_exact_entry_wins_over_an_earlier_family_entry():
    settings = AdapterSettings(model_map={"sonnet": "fam", "claude-sonnet-4-5": "exact"})
    assert resolve_target("claude-sonnet-4-5", settings).model == "exact"


def test_listed_models_sorted_and_include_default():
    settings = AdapterSettings(model_map={"opus": "x", "haiku": "y"}, default_model="deepseek-chat")
    assert listed_models(settings) == ["deepseek-chat", "haiku", "opus"]
