"""known_secrets: every credential this process could leak, for redaction; and the worker's redactor built
from them."""

import base64
import os
import secrets as token_bytes
import time
import uuid
from urllib.parse import quote

import pytest

from farm_core.job_models import JobSpec, RepoSource
from farm_core.known_secrets import SECRET_ENV_NAMES, known_secrets
from farm_core.redaction import Redactor, secret_name
from farm_core.settings import FarmSettings
from farm_core.store import job_store
from mcp_frontend.service import FarmService
from mcp_frontend.settings import FrontendSettings
from tasks.pipeline import JobRun, WorkerContext
from tasks.settings import WorkerSettings
from tasks.worktree import WorktreeCache
from tests.fixtures.planted import GATEWAY_KEY, encoded_forms, plant


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (*SECRET_ENV_NAMES, "REDIS_URL", *[n for n in os.environ if secret_name(n)]):
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
    clean_env.setenv("DEPLOY_TOKEN", "deploy-555555")
    found = known_secrets(
        settings(adapter_token="tok-aaaaaa", redis_url="redis://:redis-pass-444@127.0.0.1:6379/0")
    )
    assert found == [
        "sk-gw-111111",
        "tok-aaaaaa, tok-bbbbbb",
        "mcp-333333",  # whole values, in SECRET_ENV_NAMES order
        "tok-aaaaaa",
        "tok-bbbbbb",  # comma-separated parts (each value once)
        "deploy-555555",  # a variable named like a credential
        "redis-pass-444",  # the Redis password
    ]


@pytest.mark.parametrize("name", SECRET_ENV_NAMES)
def test_each_secret_variable_is_read(clean_env, name):
    clean_env.setenv(name, "value-123456")
    assert "value-123456" in known_secrets(settings())


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("GITHUB_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("PGPASSWORD", True),
        ("npm_config__authToken", True),
        ("TOKEN_COUNT", False),
        ("SECRET_FILE", False),
        ("MAX_TOKENS", False),
        ("HOME", False),
    ],
)
def test_a_variable_named_like_a_credential_is_known(clean_env, name, known):
    clean_env.setenv(name, "value-987654")
    assert ("value-987654" in known_secrets(settings())) is known


SHORT = [
    ("12345", []),
    ("  12345  ", []),
    ("123456", ["123456"]),  # the whole value and its only part: once
    (" 123456 ", ["123456"]),
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
        ("redis://:p%40ss%2Fword@host/0", ["p%40ss%2Fword", "p@ss/word"]),  # as the URL has it, and decoded
    ],
)
def test_redis_password(url, expected):
    assert known_secrets(settings(redis_url=url)) == expected


def test_what_a_worker_logs_reaches_redis_and_tail_without_any_secret(clean_env, redis_server, tmp_path):
    # The attack: the gateway key's base64 form was stored in a job's log in Redis, and `tail` returned it.
    clean_env.setenv("ONEAPI_API_KEY", GATEWAY_KEY)
    farm = WorkerSettings(redis_url=redis_server.url, key_prefix=f"known-{uuid.uuid4().hex[:8]}:")
    worker = WorkerContext(
        farm, job_store(farm), WorktreeCache(tmp_path / "cache"), Redactor(known_secrets(farm)), "w1"
    )
    spec = JobSpec(
        job_id=uuid.uuid4().hex,
        prompt="p",
        source=RepoSource(location="/nowhere", origin_host="h"),
        snapshot_commit="0" * 40,
        timeout_ms=60000,
        created_at=time.time(),
    )
    worker.store.create(spec)
    github = plant("GitHub token in check output", "ghp_" + token_bytes.token_hex(18))
    db_password = plant("database password in check output", "db-pw-" + token_bytes.token_hex(8))
    url_password = plant("URL password in check output", "url-pw-" + token_bytes.token_hex(8))
    lines = [
        *[f"stored {form}" for form in encoded_forms(GATEWAY_KEY).values()],
        "Authorization: Basic " + base64.b64encode(f"farm:{GATEWAY_KEY}".encode()).decode(),
        f"curl 'https://gw/?key={quote(GATEWAY_KEY, safe='')}'",
        f"export GITHUB_TOKEN={github}",
        f'{{"password": "{db_password}"}}',
        f"DB_PASSWORD={db_password} ./migrate",
        f"git clone https://ci:{url_password}@git.example.com/app.git",
    ]
    run = JobRun(spec, worker)
    for line in lines:
        run.log("check", line)

    service = FarmService(FrontendSettings(sandbox_root=tmp_path), farm)
    tail = service.tail(spec.job_id, 100, None)
    stored = "\n".join(entry.text for entry in worker.store.read_log(spec.job_id, None, 100))
    assert len(tail.lines) == len(lines)
    for text in (stored, "\n".join(tail.lines)):
        for leaked in [GATEWAY_KEY, *encoded_forms(GATEWAY_KEY).values(), github, db_password, url_password]:
            assert leaked not in text
    assert (
        "export GITHUB_TOKEN=[REDACTED]" in stored
        and "https://ci:[REDACTED]@git.example.com/app.git" in stored
    )
