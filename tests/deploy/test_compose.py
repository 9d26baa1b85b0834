"""docker-compose.yml: the five services, locked down, with every variable in the example env file."""

import os
import re
import shlex
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.files import DEPLOY, ROOT, env_entries, env_values

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / "compose.env.example"
TEXT = COMPOSE_FILE.read_text()
RAW = yaml.safe_load(TEXT)
SERVICES = RAW["services"]
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution, for the forms this file uses."""

    def substitute(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        if op in (":?", "?") and not value:
            raise KeyError(f"{name} is required: {arg}")
        if op in (":-", "-") and not value:
            return arg
        return value or ""

    return VARIABLE.sub(substitute, text.replace("$$", "\0")).replace("\0", "$")


RESOLVED = yaml.safe_load(interpolate(TEXT, env_values(ENV_EXAMPLE)))["services"]


def args(service: dict) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def published(service: dict) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) of every published port; host ip '' = all interfaces."""
    ports = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.append((port.get("host_ip", ""), str(port.get("published", "")), str(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) == 3:
            ports.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            ports.append(("", parts[0], parts[1]))
        else:
            ports.append(("", "", parts[0]))
    return ports


def mounts(service: dict) -> dict[str, str]:
    """Mount target -> source."""
    result = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            result[volume["target"]] = volume.get("source", "")
        else:
            source, _, rest = str(volume).partition(":")
            result[rest.split(":")[0] if rest else source] = source if rest else ""
    return result


def requires(value: str, variable: str) -> bool:
    """True when value is exactly `${variable:?...}`: compose refuses to start without it."""
    match = VARIABLE.fullmatch(value)
    return bool(match) and match["name"] == variable and match["op"] == ":?"


def compose_cli() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if (
            shutil.which(command[0])
            and subprocess.run([*command, "version"], capture_output=True).returncode == 0
        ):
            return command
    return None


def run_config(cli: list[str], env_file) -> subprocess.CompletedProcess:
    clean = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [*cli, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        env=clean,
        cwd=ROOT,
        timeout=60,
    )


def test_docker_compose_config_accepts_the_file_and_refuses_a_missing_secret(tmp_path):
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` works on this machine")
    env_file = tmp_path / "compose.env"
    shutil.copy(ENV_EXAMPLE, env_file)
    result = run_config(cli, env_file)
    assert result.returncode == 0, result.stderr

    env_file.write_text(
        "".join(
            line
            for line in ENV_EXAMPLE.read_text().splitlines(True)
            if not line.startswith("REDIS_PASSWORD=")
        )
    )
    result = run_config(cli, env_file)
    assert result.returncode != 0
    assert "REDIS_PASSWORD" in result.stdout + result.stderr


def test_the_five_services():
    assert set(SERVICES) == {"redis", "adapter", "worker", "flower", "mcp"}
    for name in ("adapter", "worker", "flower", "mcp"):
        assert "build" in SERVICES[name] or "image" in SERVICES[name], name
    assert len({SERVICES[name].get("image") for name in ("adapter", "worker", "flower", "mcp")}) == 1


def test_every_variable_is_in_the_example_env_file():
    used = {match["name"] for match in VARIABLE.finditer(TEXT)}
    listed = {entry.name for entry in env_entries(ENV_EXAMPLE)}
    assert used - listed == set()
    required = {match["name"] for match in VARIABLE.finditer(TEXT) if match["op"] in (":?", "?")}
    assert required - set(env_values(ENV_EXAMPLE)) == set(), (
        "a required variable is commented out in the example"
    )
    # No bare $VAR (only ${VAR}, or $$ for a literal dollar).
    assert not re.search(r"(?<!\$)\$(?![{$])", TEXT)


def test_redis_requires_a_password_keeps_every_key_and_is_not_published():
    redis = SERVICES["redis"]
    command = args(redis)
    assert redis["image"].startswith("redis:")
    assert requires(command[command.index("--requirepass") + 1], "REDIS_PASSWORD")
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--appendonly") + 1] == "yes"
    data = mounts(redis)["/data"]
    assert data in RAW["volumes"], "Redis data lives on a named volume"
    assert all(host_ip == "127.0.0.1" for host_ip, _, _ in published(redis))


def test_redis_healthcheck_authenticates():
    redis = SERVICES["redis"]
    test = redis["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    assert "ping" in text
    authenticated = (
        requires(environment(redis).get("REDISCLI_AUTH", ""), "REDIS_PASSWORD") or " -a " in f" {text} "
    )
    assert authenticated, "redis-cli must authenticate, or the healthcheck fails on NOAUTH"
    assert "PONG" in text, "redis-cli exits 0 on an error reply: the check must look for PONG"


def test_services_that_use_redis_wait_for_it_to_be_healthy():
    for name, service in SERVICES.items():
        if "REDIS_URL" in environment(service):
            assert service["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_every_redis_url_has_a_password():
    urls = [
        (name, environment(service)["REDIS_URL"])
        for name, service in RESOLVED.items()
        if "REDIS_URL" in environment(service)
    ]
    assert {name for name, _ in urls} == {"worker", "flower", "mcp"}
    password = env_values(ENV_EXAMPLE)["REDIS_PASSWORD"]
    for name, url in urls:
        parts = urlsplit(url)
        assert parts.scheme in ("redis", "rediss") and parts.password == password, name
        assert parts.hostname == "redis", name


def test_adapter_holds_the_gateway_key_alone():
    adapter = SERVICES["adapter"]
    assert args(adapter) == ["codex-farm", "adapter", "--host", "0.0.0.0", "--port", "8788"]
    env = environment(adapter)
    for name in ("ONEAPI_BASE_URL", "ONEAPI_API_KEY", "ADAPTER_TOKENS"):
        assert requires(env[name], name), name
    assert os.path.dirname(env["WORKER_METRICS_FILE"]) in mounts(adapter), "the metrics file is on a volume"
    assert not published(adapter)
    for name, service in SERVICES.items():
        if name != "adapter":
            assert not {"ONEAPI_API_KEY", "ANTHROPIC_API_KEY", "FALLBACK_API_KEY", "ADAPTER_TOKENS"} & set(
                environment(service)
            ), name


def test_worker_scales():
    worker = SERVICES["worker"]
    assert args(worker)[:2] == ["codex-farm", "worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    env = environment(worker)
    assert re.fullmatch(r"redis://:\$\{REDIS_PASSWORD(:\?[^}]*)?\}@redis:6379/0", env["REDIS_URL"])
    assert env["ADAPTER_URL"] == "http://adapter:8788"
    assert requires(env["ADAPTER_TOKEN"], "ADAPTER_TOKEN")
    assert mounts(worker)[env["WORKER_CACHE_DIR"]] in RAW["volumes"], "the cache is a volume"


def test_flower_has_basic_auth_and_listens_on_loopback_only():
    flower = SERVICES["flower"]
    command = args(flower)
    # `codex-farm flower`: refuses to start without basic auth, read-only without --allow-control.
    assert command[:2] == ["codex-farm", "flower"] and "--allow-control" not in command
    assert "--address=0.0.0.0" in command and "--port=5555" in command
    flag = next((part.split("=", 1)[1] for part in command if part.startswith("--basic-auth=")), None)
    env_value = environment(flower).get("FLOWER_BASIC_AUTH")
    assert (flag and requires(flag, "FLOWER_BASIC_AUTH")) or (
        env_value and requires(env_value, "FLOWER_BASIC_AUTH")
    )
    assert published(flower) == [("127.0.0.1", "5555", "5555")]


def test_nothing_turns_on_flowers_unauthenticated_api():
    for name, service in SERVICES.items():
        assert "FLOWER_UNAUTHENTICATED_API" not in environment(service), name
        # env_file would hand every service every variable, the gateway key included.
        assert "env_file" not in service, name
    assert "FLOWER_UNAUTHENTICATED_API" not in {entry.name for entry in env_entries(ENV_EXAMPLE)}


def test_mcp_requires_its_token_listens_on_loopback_and_sees_the_sandbox_at_the_same_path():
    mcp = SERVICES["mcp"]
    assert args(mcp) == ["codex-farm", "mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "8787"]
    assert requires(environment(mcp)["FARM_MCP_TOKEN"], "FARM_MCP_TOKEN")
    assert published(mcp) == [("127.0.0.1", "8787", "8787")]
    resolved = RESOLVED["mcp"]
    sandbox = environment(resolved)["SANDBOX_ROOT"]
    assert mounts(resolved).get(sandbox) == sandbox, "the host folder is mounted at the same path"
    assert "user" in mcp, "runs as the owner of the repositories"


def test_only_flower_and_mcp_publish_ports_and_only_on_loopback():
    for name, service in SERVICES.items():
        for host_ip, _, _ in published(service):
            assert host_ip == "127.0.0.1", name
    assert {name for name, service in SERVICES.items() if published(service)} == {"flower", "mcp"}
