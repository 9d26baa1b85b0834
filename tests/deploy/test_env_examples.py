"""The env examples: known settings only, placeholders for every secret, the gateway key kept apart."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.deploy.files import (
    DEPLOY,
    OTHER_READER,
    PLACEHOLDER,
    SECRET_NAME,
    documented_settings,
    env_entries,
    env_values,
)

FARM_ENV = DEPLOY / "farm.env.example"
ADAPTER_ENV = DEPLOY / "adapter.env.example"
COMPOSE_ENV = DEPLOY / "compose.env.example"
EXAMPLES = [FARM_ENV, ADAPTER_ENV, COMPOSE_ENV]
GATEWAY_SECRETS = {"ONEAPI_API_KEY", "ANTHROPIC_API_KEY", "FALLBACK_API_KEY", "ADAPTER_TOKENS"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_variable_is_a_documented_setting_or_says_who_reads_it(path):
    documented = documented_settings()
    assert documented, "the settings doc's tables were not found"
    for entry in env_entries(path):
        assert entry.name in documented or OTHER_READER.search(entry.comment), (
            f"{path.name}: {entry.name} is not in docs/settings.md and its comment does not say "
            "it is Redis-, Flower-, compose- or systemd-only"
        )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_variable_is_explained_and_listed_once(path):
    names = [entry.name for entry in env_entries(path)]
    assert len(names) == len(set(names)), path.name
    for entry in env_entries(path):
        assert entry.comment, f"{path.name}: {entry.name} has no comment"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_secret_is_a_placeholder(path):
    for entry in env_entries(path):
        if SECRET_NAME.search(entry.name):
            assert PLACEHOLDER in entry.value, f"{path.name}: {entry.name}"
        if "://" in entry.value:
            parts = urlsplit(entry.value)
            assert parts.password is None or parts.password.startswith(PLACEHOLDER), (
                f"{path.name}: {entry.name}"
            )
    assert "FLOWER_UNAUTHENTICATED_API" not in {entry.name for entry in env_entries(path)}


def test_farm_env_has_what_a_worker_and_flower_need():
    values = env_values(FARM_ENV)
    assert {"REDIS_URL", "ADAPTER_URL", "ADAPTER_TOKEN", "FLOWER_BASIC_AUTH"} <= set(values)
    user, _, password = values["FLOWER_BASIC_AUTH"].partition(":")
    assert user and password.startswith(PLACEHOLDER)


def test_farm_env_redis_url_has_a_password_and_verified_tls():
    url = urlsplit(env_values(FARM_ENV)["REDIS_URL"])
    assert url.scheme == "rediss"
    assert url.password == PLACEHOLDER
    assert url.hostname == "redis.example" and url.port == 6380 and url.path == "/0"
    # Without it Celery's Redis transport accepts any certificate on rediss://.
    assert parse_qs(url.query)["ssl_cert_reqs"] == ["required"]


def test_the_gateway_key_is_only_in_the_adapter_env():
    assert not GATEWAY_SECRETS & {entry.name for entry in env_entries(FARM_ENV)}
    adapter = env_values(ADAPTER_ENV)
    assert {"ONEAPI_BASE_URL", "ONEAPI_API_KEY", "ADAPTER_TOKENS"} <= set(adapter)
    assert "REDIS_URL" not in {entry.name for entry in env_entries(ADAPTER_ENV)}, (
        "the adapter never needs the broker"
    )


def test_the_compose_example_is_consistent():
    values = env_values(COMPOSE_ENV)
    assert values["ADAPTER_TOKEN"] in values["ADAPTER_TOKENS"].split(","), (
        "the workers' token must be one the adapter accepts"
    )
    for name, value in values.items():
        assert "$" not in value, f"{name}: compose would interpolate it"
