"""The gateway key is out of reach of every other process of the adapter's user: the adapter is non-dumpable
from start-up (its environment, memory and descriptors need CAP_SYS_PTRACE), and it can take the key from a
file so that not even its initial environment ever holds it."""

import os
import secrets
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from adapter.settings import AdapterSettings
from tests.fixtures.planted import GATEWAY_KEY, plant
from tests.fixtures.processes import free_port, python_module, start_server
from tests.fixtures.unprivileged import read_as_unprivileged, unprivileged

# Settings of the test's own shell that would change which key the adapter under test holds.
OUTSIDE_KEYS = (
    "ONEAPI_API_KEY",
    "ANTHROPIC_API_KEY",
    "ONEAPI_API_KEY_FILE",
    "FALLBACK_API_KEY",
    "FALLBACK_API_KEY_FILE",
)


def adapter_env(upstream_url: str, token: str, **settings: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in OUTSIDE_KEYS}
    return {
        **base,
        "ONEAPI_BASE_URL": upstream_url,
        "ADAPTER_TOKENS": token,
        "ADAPTER_PROFILE": "generic",
        **settings,
    }


@pytest.fixture
def unprivileged_adapter(tmp_path: Path):
    """Factory: `codex-farm adapter` with these settings, run without any capability; stopped afterwards."""
    started = []

    def start(env: dict[str, str]):
        port = free_port()
        argv = unprivileged(python_module("codex_farm", "adapter", "--port", str(port)))
        server = start_server(
            argv, env, tmp_path / f"adapter-{port}.log", port, "/healthz", inherit_env=False
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def ask(url: str, token: str, scenario: str) -> httpx.Response:
    body = {
        "model": "m",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": f"[[scenario:{scenario}]] hi"}],
    }
    return httpx.post(url + "/v1/messages", headers={"x-api-key": token}, json=body, timeout=30)


def test_an_adapter_with_its_key_in_the_environment_closes_it_to_its_own_user(
    scripted_gateway, unprivileged_adapter, tmp_path
):
    token = plant("adapter token", "adapter-token-" + secrets.token_hex(8))
    env = adapter_env(scripted_gateway.url, token, ONEAPI_API_KEY=GATEWAY_KEY)
    # The control: a plain process started the same way, with the same environment, is readable to the reader.
    control = start_server(
        unprivileged(python_module("http.server", str(port := free_port()), "--bind", "127.0.0.1")),
        env,
        tmp_path / "control.log",
        port,
        "/",
        inherit_env=False,
    )
    try:
        assert read_as_unprivileged(control.process.pid, "environ")["environ"].holds(GATEWAY_KEY)
    finally:
        control.stop()

    adapter = unprivileged_adapter(env)
    found = read_as_unprivileged(adapter.process.pid, "environ", "cmdline")

    assert not found["environ"].holds(GATEWAY_KEY), (
        "a same-user process read the gateway key from the adapter's environ"
    )
    assert found["environ"].error == "PermissionError"
    assert found["cmdline"].data and not found["cmdline"].holds(GATEWAY_KEY)


def test_an_adapter_takes_its_key_from_a_file_and_uses_it(scripted_gateway, unprivileged_adapter, tmp_path):
    scripted_gateway.configure(api_key=GATEWAY_KEY)  # any other key is refused with 401
    scripted_gateway.add_scenario({"name": "key_file", "turns": [{"text": "keyed"}]})
    key_file = tmp_path / "gateway.key"
    key_file.write_text(GATEWAY_KEY + "\n")
    key_file.chmod(0o600)
    token = plant("adapter token", "adapter-token-" + secrets.token_hex(8))
    adapter = unprivileged_adapter(
        adapter_env(scripted_gateway.url, token, ONEAPI_API_KEY_FILE=str(key_file))
    )

    answer = ask(adapter.url, token, "key_file")
    found = read_as_unprivileged(adapter.process.pid, "environ", "cmdline")

    assert answer.status_code == 200 and answer.json()["content"][0]["text"] == "keyed", answer.text
    assert found["environ"].error == "PermissionError" and not found["cmdline"].holds(GATEWAY_KEY)


# --- the key files, as settings -------------------------------------------------------------------


def key_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_key_files_give_the_keys_without_the_trailing_newline(tmp_path):
    settings = AdapterSettings(
        ONEAPI_API_KEY_FILE=str(key_file(tmp_path, "primary", "sk-primary\n")),
        FALLBACK_API_KEY_FILE=str(key_file(tmp_path, "fallback", "sk-fallback\r\n")),
    )
    assert settings.upstream_api_key.get_secret_value() == "sk-primary"
    assert settings.fallback_api_key.get_secret_value() == "sk-fallback"
    assert {"sk-primary", "sk-fallback"} <= set(settings.secrets())


def test_a_key_and_its_file_together_are_refused_without_quoting_the_key(tmp_path):
    with pytest.raises(ValidationError, match="ONEAPI_API_KEY and ONEAPI_API_KEY_FILE") as refused:
        AdapterSettings(
            ONEAPI_API_KEY="sk-given-twice", ONEAPI_API_KEY_FILE=str(key_file(tmp_path, "k", "sk-b"))
        )
    assert "sk-given" not in str(refused.value)


@pytest.mark.parametrize("text", ["", "\n", "sk-first\nsk-second\n"])
def test_an_empty_or_multi_line_key_file_is_refused_without_quoting_it(tmp_path, text):
    with pytest.raises(ValidationError, match="FALLBACK_API_KEY_FILE") as refused:
        AdapterSettings(FALLBACK_API_KEY_FILE=str(key_file(tmp_path, "k", text)))
    assert "sk-first" not in str(refused.value) and "sk-second" not in str(refused.value)


def test_a_missing_key_file_names_the_variable(tmp_path):
    with pytest.raises(ValidationError, match="ONEAPI_API_KEY_FILE.*cannot be read"):
        AdapterSettings(ONEAPI_API_KEY_FILE=str(tmp_path / "missing"))
