"""Every deploy variant talks to Redis with a password, and shows its TLS form: systemd's farm.env, compose
(plain, with deploy/compose.tls.yml, with deploy/compose.signing.yml), Kubernetes, and the Codex config."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tests.deploy.files import DEPLOY, PLACEHOLDER, ROOT, env_entries, env_values
from tests.deploy.test_compose import ENV_EXAMPLE, SERVICES, VARIABLE, args, environment, interpolate, mounts

FARM_ENV = DEPLOY / "farm.env.example"
TLS_OVERRIDE = DEPLOY / "compose.tls.yml"
SIGNING_OVERRIDE = DEPLOY / "compose.signing.yml"
K8S = DEPLOY / "k8s"
SIGNING_SETTINGS = ("FARM_SIGNING_KEY_FILE", "FARM_SIGNING_CERT_FILE", "FARM_SIGNING_CERT_STORE")
REDIS_CLIENTS = {"worker", "flower", "mcp"}


def example_env() -> dict[str, str]:
    """compose.env.example's values, commented ones included (the overrides' opt-in variables are
    commented)."""
    return {entry.name: entry.value for entry in env_entries(ENV_EXAMPLE)} | env_values(ENV_EXAMPLE)


def merged_services(*overrides) -> dict[str, dict]:
    """docker-compose.yml with the override files, merged as compose does and interpolated with the example
    env."""
    services = yaml.safe_load(interpolate((ROOT / "docker-compose.yml").read_text(), example_env()))[
        "services"
    ]
    for path in overrides:
        for name, override in yaml.safe_load(interpolate(path.read_text(), example_env()))[
            "services"
        ].items():
            services[name] = merge_service(services[name], override)
    return services


def merge_service(base: dict, override: dict) -> dict:
    """Compose's merge: command replaced, environment and healthcheck merged by key, volumes by target."""
    merged = {**base, **override}
    merged["environment"] = environment(base) | environment(override)
    if "healthcheck" in base or "healthcheck" in override:
        merged["healthcheck"] = {**base.get("healthcheck", {}), **override.get("healthcheck", {})}
    volumes = {target: f"{source}:{target}" for target, source in mounts(base).items()}
    volumes |= {target: f"{source}:{target}" for target, source in mounts(override).items()}
    merged["volumes"] = list(volumes.values())
    return merged


def verified_tls(url: str) -> dict[str, list[str]]:
    """The query of a rediss:// URL that requires and checks the server's certificate."""
    parts = urlsplit(url)
    assert parts.scheme == "rediss", url
    query = parse_qs(parts.query)
    assert query.get("ssl_cert_reqs") == ["required"], url
    return query


def test_systemd_farm_env_has_a_password_and_verified_tls_and_documents_a_private_ca():
    url = env_values(FARM_ENV)["REDIS_URL"]
    assert urlsplit(url).password == PLACEHOLDER
    verified_tls(url)
    comment = next(e.comment for e in env_entries(FARM_ENV) if e.name == "REDIS_URL")
    assert "ssl_ca_certs=" in comment, "the private-CA form is shown"


def test_systemd_farm_env_shows_signing_commented_out():
    entries = {e.name: e for e in env_entries(FARM_ENV)}
    for name in SIGNING_SETTINGS:
        assert entries[name].commented, f"{name}: signing is opt-in"
        assert entries[name].value.startswith("/etc/codex-farm/"), name


def test_compose_plain_redis_requires_its_password_everywhere():
    command = args(SERVICES["redis"])
    assert VARIABLE.fullmatch(command[command.index("--requirepass") + 1])["name"] == "REDIS_PASSWORD"
    password = env_values(ENV_EXAMPLE)["REDIS_PASSWORD"]
    for name, service in merged_services().items():
        if "REDIS_URL" in environment(service):
            assert urlsplit(environment(service)["REDIS_URL"]).password == password, name


def test_compose_tls_override_serves_tls_only_with_a_password_and_every_client_verifies_it():
    services = merged_services(TLS_OVERRIDE)
    redis, password = services["redis"], env_values(ENV_EXAMPLE)["REDIS_PASSWORD"]
    command = args(redis)
    option = lambda flag: command[command.index(flag) + 1]  # noqa: E731
    assert option("--requirepass") == password
    assert option("--port") == "0", "the plaintext port is closed"
    tls_port = option("--tls-port")
    tls_dir = mounts(redis)
    for flag in ("--tls-cert-file", "--tls-key-file", "--tls-ca-cert-file"):
        assert any(option(flag).startswith(target + "/") for target in tls_dir), (
            f"{flag} is not on a mounted folder"
        )
    assert option("--maxmemory-policy") == "noeviction" and option("--appendonly") == "yes", (
        "the override keeps the base's guarantees"
    )
    health = " ".join(redis["healthcheck"]["test"])
    assert "--tls" in health and "--cacert" in health and f"-p {tls_port}" in health and "PONG" in health

    users = {name for name, service in services.items() if "REDIS_URL" in environment(service)}
    assert users == REDIS_CLIENTS
    for name in users:
        url = environment(services[name])["REDIS_URL"]
        parts, query = urlsplit(url), verified_tls(url)
        assert (parts.password, parts.hostname, str(parts.port)) == (password, "redis", tls_port), name
        assert query["ssl_ca_certs"][0] in mounts(services[name]), f"{name}: the CA file is mounted"


def test_compose_signing_override_gives_each_role_only_its_own_key():
    services = merged_services(TLS_OVERRIDE, SIGNING_OVERRIDE)
    keys = {}
    for name in REDIS_CLIENTS:
        env, mounted = environment(services[name]), mounts(services[name])
        for setting in SIGNING_SETTINGS:
            assert env[setting] in mounted, f"{name}: {setting} is not mounted"
        keys[name] = mounted[env["FARM_SIGNING_KEY_FILE"]]
    assert keys["flower"] == keys["mcp"] != keys["worker"], (
        "the frontend signs jobs; workers have a key of their own"
    )
    assert not any(source == keys["mcp"] for source in mounts(services["worker"]).values()), (
        "no worker sees the frontend's key"
    )
    assert SIGNING_OVERRIDE.read_text().count(":ro\n") == 6, "the key files are mounted read-only"


@pytest.mark.parametrize("path", [TLS_OVERRIDE, SIGNING_OVERRIDE], ids=lambda p: p.name)
def test_compose_overrides_use_only_variables_of_the_example_env(path):
    used = {match["name"] for match in VARIABLE.finditer(path.read_text())}
    assert used - set(example_env()) == set(), (
        f"{path.name} reads variables compose.env.example does not list"
    )


def k8s_text(name: str) -> str:
    return (K8S / name).read_text()


@pytest.mark.parametrize("name", ["worker.yaml", "flower.yaml"])
def test_k8s_clients_use_the_password_and_show_the_tls_url_and_its_ca_mount(name):
    text = k8s_text(name)
    active = re.findall(r"^\s+value: (redis\S*)$", text, flags=re.MULTILINE)
    assert active and all(url.startswith("redis://:$(REDIS_PASSWORD)@") for url in active), name
    shown = re.findall(r"^\s*#\s+value: (rediss://\S+)$", text, flags=re.MULTILINE)
    assert shown, f"{name}: no TLS variant of REDIS_URL"
    for url in shown:
        assert url.startswith("rediss://:$(REDIS_PASSWORD)@redis:6380/"), url
        ca = verified_tls(url)["ssl_ca_certs"][0]
        assert re.search(rf"#\s+mountPath: {re.escape(ca.rsplit('/', 1)[0])}$", text, flags=re.MULTILINE), (
            f"{name}: the CA is not mounted"
        )


def test_k8s_redis_shows_its_tls_form_and_keda_follows():
    redis = k8s_text("redis.yaml")
    assert re.search(r"^\s+- --requirepass$", redis, flags=re.MULTILINE), "the password is always on"
    for flag in ("--tls-port", "--tls-cert-file", "--tls-key-file", "--tls-ca-cert-file"):
        assert re.search(rf"^\s*#\s+- {flag}$", redis, flags=re.MULTILINE), flag
    assert "redis-cli --tls --cacert" in redis, "the probes' TLS form"
    keda = k8s_text("keda-scaledobject.yaml")
    assert re.search(r"#\s+- parameter: tls$", keda, flags=re.MULTILINE) and re.search(
        r"#\s+- parameter: ca$", keda, flags=re.MULTILINE
    )


@pytest.mark.parametrize("doc", [ROOT / "README.md", DEPLOY / "README.md"], ids=["README", "deploy-README"])
def test_every_redis_url_in_the_docs_has_a_password(doc):
    urls = re.findall(r"REDIS_URL\s*=\s*\"?(rediss?://[^\s\"`]+)", doc.read_text())
    assert urls, doc.name
    for url in urls:
        assert urlsplit(url).password, f"{doc.name}: {url}"
        if url.startswith("rediss://"):
            verified_tls(url)
