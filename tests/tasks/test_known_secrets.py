"""known_secrets: every credential this process could leak, for redaction."""

import pytest

from tasks.known_secrets import SECRET_ENV_NAMES, known_secrets
from tasks.settings import FarmSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (*SECRET_ENV_NAMES, "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def settings(**values) -> FarmSettings:
    return FarmSettings(**{"redis_url": "redis://127.0.0.1:6379/0", **values})


def test_nothing_known():
    assert known_secrets(settings()) == []


def test_every_source(clean_env):
    clean_env.setenv("ONEAPI_API_KEY", "sk-gw-111111")
    clean_env.setenv("ADAPTER_TOKENS", "tok-aaaaaa, tok-bbbbbb")
    clean_env.setenv("FARM_MCP_TOKEN", "mcp-333333")
    found = known_secrets(settings(adapter_token="tok-aaaaaa", redis_url="redis://:redis-pass-444@127.0.0.1:6379/0"))
    assert found == [
        "sk-gw-111111", "tok-aaaaaa, tok-bbbbbb", "mcp-333333",  # whole values, in SECRET_ENV_NAMES order
        "sk-gw-111111", "tok-aaaaaa", "tok-bbbbbb", "mcp-333333",  # comma-separated parts
        "tok-aaaaaa",  # the worker's adapter token
        "redis-pass-444",  # the Redis password
    ]


@pytest.mark.parametrize("name", SECRET_ENV_NAMES)
def test_each_secret_variable_is_read(clean_env, name):
    clean_env.setenv(name, "value-123456")
    assert "value-123456" in known_secrets(settings())


SHORT = [
    ("12345", []),
    ("  12345  ", []),
    ("123456", ["123456", "123456"]),  # the whole value and its only part
    (" 123456 ", ["123456", "123456"]),
    ("a,bcdefgh", ["a,bcdefgh", "bcdefgh"]),
]


@pytest.mark.parametrize(("value", "expected"), SHORT)
def test_values_shorter_than_six_chars_dropped(clean_env, value, expected):
    clean_env.setenv("ADAPTER_TOKENS", value)
    assert known_secrets(settings()) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", []),
        ("redis://:pw@127.0.0.1/0", []),
        ("redis://user:longpassword@127.0.0.1/0", ["longpassword"]),
        ("rediss://:tls-secret-1@host:6380/1", ["tls-secret-1"]),
    ],
)
def test_redis_password(url, expected):
    assert known_secrets(settings(redis_url=url)) == expected
