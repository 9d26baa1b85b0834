"""`codex-farm doctor`: diagnose a box with one command, one line per check, never printing a secret."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import redis
from celery import Celery
from pydantic import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from adapter.model_map import profile_of
from adapter.settings import AdapterSettings, ModelRoute
from codex_farm.adapter_exposure import can_read_any_process, local_adapters
from codex_farm.gateway_probe import run_probe
from farm_core.job_models import QUEUE_NAME
from farm_core.known_secrets import known_secrets
from farm_core.redaction import Redactor
from farm_core.signing import SigningError, check_signing_files, signing_enabled
from mcp_frontend.settings import FrontendSettings
from tasks.dead_letter import MAX_ENTRIES, DeadLetters
from tasks.sandbox import fix_hint, sandbox_state
from tasks.settings import WorkerSettings

CLI_TIMEOUT_S = 15
REDIS_TIMEOUT_S = 3
INSPECT_TIMEOUT_S = 2
HTTP_TIMEOUT_S = 3
GATEWAY_TIMEOUT_S = 5
# The model a job's Claude Code asks for when CLAUDE_CODE_MODEL is unset (the adapter maps it by family).
PROBE_MODEL = "claude-sonnet-4-5"
MIN_PYTHON = (3, 11)
# What a Celery queue on Redis (a list key, and an item of `worker --queues a,b`) may safely be called.
MASK = "***"
_SECRET_QUERY_KEYS = re.compile(r"(?i)pass|token|key|secret")


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check; `hint` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    hint: str = ""
    skipped: bool = False
    note: Literal["", "WARN", "INFO"] = (
        ""  # a passing check worth a look (WARN, with its hint) or a plain fact (INFO)
    )

    @property
    def status(self) -> str:
        return "SKIP" if self.skipped else self.note or ("OK" if self.ok else "FAIL")

    def line(self) -> str:
        text = f"{self.status:<4} {self.name:<12} {self.detail}"
        if self.hint and (not self.ok or self.note == "WARN"):
            text += f" — {self.hint}"
        return text


def mask_url(url: str) -> str:
    """The URL with any password (and credential-like query values) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_QUERY_KEYS.search(k) else v) for k, v in pairs], safe="*")
    head = f"{parts.scheme}:" if parts.scheme else ""
    head += f"//{netloc}" if netloc or url[len(head) :].startswith("//") else ""
    return (
        head + parts.path + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")
    )


# --- settings ------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """The settings objects this box's pieces would read; None where the environment is invalid."""

    farm: object | None
    frontend: object | None
    adapter: object | None
    errors: dict[str, str]


def load_settings() -> Loaded:
    """Each package's settings object, read once; validation errors name the variable, never its value."""
    objects, errors = {}, {}
    # "farm": the shared settings with the worker's own, as this box's worker would read them.
    for key, cls in (("farm", WorkerSettings), ("frontend", FrontendSettings), ("adapter", AdapterSettings)):
        try:
            objects[key] = cls()
        except ValidationError as exc:
            objects[key] = None
            errors[cls.__name__] = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '?'}: {e['msg']}" for e in exc.errors()
            )
        except ValueError as exc:  # e.g. a JSON setting that does not parse; the message may quote the value
            objects[key] = None
            errors[cls.__name__] = type(exc).__name__
    return Loaded(objects["farm"], objects["frontend"], objects["adapter"], errors)


def check_settings(loaded: Loaded) -> CheckResult:
    if loaded.errors:
        detail = "invalid: " + " | ".join(f"{name}: {msg}" for name, msg in loaded.errors.items())
        return CheckResult(
            "settings", False, detail, "fix those environment variables (see docs/settings.md)"
        )
    return CheckResult("settings", True, "environment parses (farm, frontend, adapter)")


# --- the box -------------------------------------------------------------------------------------


def check_python() -> CheckResult:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return CheckResult("python", False, f"{version} is too old", "use Python 3.11 or newer")
    return CheckResult("python", True, f"{version} ({sys.implementation.name})")


def check_git() -> CheckResult:
    git = shutil.which("git")
    if git is None:
        return CheckResult("git", False, "git is not on PATH", "install git (Debian: apt-get install git)")
    try:
        done = subprocess.run([git, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CheckResult("git", False, f"{git} --version failed: {type(exc).__name__}", "reinstall git")
    if done.returncode != 0:
        return CheckResult("git", False, f"{git} --version exited {done.returncode}", "reinstall git")
    return CheckResult("git", True, done.stdout.strip() or "present")


def check_claude_cli(farm) -> CheckResult:
    """The CLI a worker would run (`CLAUDE_CLI_PATH`, else the one bundled with claude-agent-sdk) answers
    --version."""
    name, hint = (
        "claude-cli",
        "set CLAUDE_CLI_PATH to a Claude Code CLI, or reinstall claude-agent-sdk (it bundles one)",
    )
    try:
        # Imported here: claude-agent-sdk takes 0.6 s to import (`codex-farm up` imports this module), and one
        # that cannot be imported is this check's FAIL line, not doctor's crash.
        from tasks.agent_env import OFFLINE_CLI_ENV, bundled_cli

        cli = farm.claude_cli_path or bundled_cli()
    except ImportError as exc:
        return CheckResult(
            name, False, f"claude-agent-sdk cannot be imported ({exc.name or 'import error'})", hint
        )
    if not cli.exists():
        return CheckResult(name, False, f"Claude Code CLI not found at {cli}", hint)
    if not cli.is_file() or not os.access(cli, os.X_OK):
        return CheckResult(name, False, f"Claude Code CLI at {cli} is not an executable file", hint)
    try:
        done = subprocess.run(
            [str(cli), "--version"],
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            env={**os.environ, **OFFLINE_CLI_ENV},
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return CheckResult(name, False, f"{cli} --version did not answer within {CLI_TIMEOUT_S} s", hint)
    except OSError as exc:
        return CheckResult(name, False, f"{cli} cannot run: {exc.strerror or type(exc).__name__}", hint)
    if done.returncode != 0:
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        return CheckResult(
            name,
            False,
            f"{cli} --version exited {done.returncode}" + (f": {first[0][:200]}" if first else ""),
            hint,
        )
    return CheckResult(name, True, f"{done.stdout.strip() or 'runs'} at {cli}")


# --- Redis, queues and workers --------------------------------------------------------------------


def probe_client(url: str):
    """A Redis client for one look: short timeouts, no retries (a doctor reports, it does not wait)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )


def check_redis(farm) -> CheckResult:
    """PING with the configured URL, telling refused, wrong password, no password and timeout apart."""
    url = farm.redis_url
    shown = mask_url(url)
    try:
        has_password = bool(urlsplit(url).password) or "password=" in urlsplit(url).query
    except ValueError:
        return CheckResult(
            "redis", False, "REDIS_URL is not a valid URL", "fix REDIS_URL (redis://:PASSWORD@host:6379/0)"
        )
    fail = lambda detail, hint: CheckResult("redis", False, detail, hint)  # noqa: E731
    try:
        client = probe_client(url)
        client.ping()
        client.close()
    except ValueError as exc:
        return fail(f"REDIS_URL is not usable: {exc}", "fix REDIS_URL (redis://:PASSWORD@host:6379/0)")
    except redis.AuthenticationError as exc:
        message = str(exc)
        if not has_password:
            return fail(
                f"Redis at {shown} requires a password and REDIS_URL has none (NOAUTH)",
                "put the password in REDIS_URL",
            )
        if "without any password configured" in message or "no password is set" in message:
            return fail(
                f"REDIS_URL has a password but Redis at {shown} has none",
                "drop the password from REDIS_URL or set requirepass",
            )
        return fail(f"wrong password for Redis at {shown} (WRONGPASS)", "fix the password in REDIS_URL")
    except redis.TimeoutError:
        return fail(
            f"timed out after {REDIS_TIMEOUT_S} s connecting to {shown}",
            "check the host, port and firewall in REDIS_URL",
        )
    except redis.ConnectionError as exc:
        if isinstance(exc.__context__, ConnectionRefusedError) or "Connection refused" in str(exc):
            return fail(f"connection refused at {shown}", "start Redis or fix REDIS_URL")
        return fail(f"cannot connect to {shown}: {exc}", "start Redis or fix REDIS_URL")
    except redis.ResponseError as exc:
        return fail(
            f"Redis at {shown} refused PING: {exc}", "give the REDIS_URL user the rights the farm needs"
        )
    except redis.RedisError as exc:
        return fail(f"Redis at {shown}: {type(exc).__name__}: {exc}", "check REDIS_URL")
    return CheckResult(
        "redis", True, f"reachable at {shown} ({'auth ok' if has_password else 'no password'})"
    )


def configured_queues(farm) -> list[str]:
    return [part.strip() for part in farm.default_queue.split(",")]


def check_queues(farm) -> CheckResult:
    queues = configured_queues(farm)
    bad = [q for q in queues if not QUEUE_NAME.match(q)]
    if bad:
        return CheckResult(
            "queues",
            False,
            f"invalid queue name(s) in FARM_QUEUE: {', '.join(map(repr, bad))}",
            "use comma-separated names of letters, digits, '.', '_', ':' or '-'",
        )
    return CheckResult("queues", True, ", ".join(queues))


def active_queues(farm) -> dict[str, list[str]]:
    """Queue name -> the workers consuming it, as the workers themselves answer (within INSPECT_TIMEOUT_S)."""
    # Imported here: it configures the farm's Celery app, reading and validating what doctor reports on.
    from farm_core.queue import celery_config

    app = Celery("codex_farm_doctor", set_as_current=False)
    app.conf.update(celery_config(farm))
    app.conf.update(
        broker_connection_retry=False,
        broker_connection_max_retries=0,
        broker_connection_timeout=REDIS_TIMEOUT_S,
    )
    try:
        replies = app.control.inspect(timeout=INSPECT_TIMEOUT_S).active_queues() or {}
    finally:
        app.close()
    consumers: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues or []:
            consumers.setdefault(queue.get("name", ""), []).append(worker)
    return consumers


def check_workers(farm, redis_result: CheckResult) -> CheckResult:
    if not redis_result.ok:
        return CheckResult(
            "workers",
            False,
            f"not checked: Redis is not usable ({redis_result.detail})",
            "fix the redis check first",
        )
    queues = [q for q in configured_queues(farm) if QUEUE_NAME.match(q)]
    if not queues:
        return CheckResult("workers", False, "not checked: no valid queue in FARM_QUEUE", "fix FARM_QUEUE")
    try:
        consumers = active_queues(farm)
    except Exception as exc:  # a broker hiccup between the redis check and here
        return CheckResult(
            "workers", False, f"cannot ask the workers: {type(exc).__name__}", "check Redis and REDIS_URL"
        )
    missing = [q for q in queues if not consumers.get(q)]
    if missing:
        return CheckResult(
            "workers",
            False,
            f"no worker consumes queue(s) {', '.join(missing)}",
            f"start codex-farm worker --queues {','.join(missing)}",
        )
    return CheckResult("workers", True, "; ".join(f"{q}: {', '.join(sorted(consumers[q]))}" for q in queues))


# --- HTTP services --------------------------------------------------------------------------------


def _http_failure(exc: httpx.HTTPError, timeout_s: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    return f"request failed ({type(exc).__name__})"


def check_adapter(farm) -> CheckResult:
    """`/healthz` answers; with ADAPTER_TOKEN set, the adapter accepts it on `/v1/models`."""
    base, shown = farm.adapter_url.rstrip("/"), mask_url(farm.adapter_url)
    hint = "start codex-farm adapter or fix ADAPTER_URL"
    try:
        health = httpx.get(base + "/healthz", timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return CheckResult("adapter", False, f"{_http_failure(exc, HTTP_TIMEOUT_S)} at {shown}", hint)
    except ValueError:
        return CheckResult("adapter", False, f"ADAPTER_URL is not a valid URL: {shown}", "fix ADAPTER_URL")
    if health.status_code != 200:
        return CheckResult(
            "adapter", False, f"{shown}/healthz answered {health.status_code}", "is ADAPTER_URL the adapter?"
        )
    if farm.adapter_token is None:
        return CheckResult("adapter", True, f"healthy at {shown} (ADAPTER_TOKEN not set, token not checked)")
    try:
        models = httpx.get(
            base + "/v1/models",
            headers={"x-api-key": farm.adapter_token.get_secret_value()},
            timeout=HTTP_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        return CheckResult(
            "adapter", False, f"GET /v1/models: {_http_failure(exc, HTTP_TIMEOUT_S)} at {shown}", hint
        )
    if models.status_code == 401:
        return CheckResult(
            "adapter",
            False,
            f"healthy at {shown} but ADAPTER_TOKEN was rejected (401)",
            "ADAPTER_TOKEN is not one of the adapter's ADAPTER_TOKENS",
        )
    if models.status_code != 200:
        return CheckResult(
            "adapter", False, f"GET {shown}/v1/models answered {models.status_code}", "see the adapter's log"
        )
    return CheckResult("adapter", True, f"healthy at {shown} (ADAPTER_TOKEN accepted)")


def check_profiles(adapter: AdapterSettings) -> CheckResult:
    """Which provider profile (thinking switch, reasoning field) each backend model gets, and why."""
    routes = {"default": ModelRoute(model=adapter.default_model), **adapter.model_map}
    shown = []
    for name, route in routes.items():
        profile = profile_of(route, adapter)
        source = "model map" if route.profile else ("ADAPTER_PROFILE" if adapter.profile else "inferred")
        thinking = f", thinking {route.thinking}" if route.thinking != "auto" else ""
        shown.append(f"{name} → {route.model}: {profile.name} ({source}{thinking})")
    return CheckResult(
        "profiles", True, "; ".join(shown), "set ADAPTER_PROFILE or a model-map profile (docs/providers.md)"
    )


def check_gateway(adapter) -> CheckResult:
    """The adapter's OpenAI-compatible gateway lists models with its key (only with --network)."""
    base, shown = adapter.upstream_base_url.rstrip("/"), mask_url(adapter.upstream_base_url)
    if adapter.upstream_api_key is None:
        # Boxes other than the adapter's never hold the gateway key; the probes below reach it through the
        # adapter.
        return CheckResult(
            "gateway",
            True,
            "ONEAPI_API_KEY is not set here: the gateway is probed through the adapter",
            skipped=True,
        )
    headers = {"authorization": f"Bearer {adapter.upstream_api_key.get_secret_value()}"}
    try:
        response = httpx.get(base + "/models", headers=headers, timeout=GATEWAY_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return CheckResult(
            "gateway",
            False,
            f"{_http_failure(exc, GATEWAY_TIMEOUT_S)} at {shown}",
            "check ONEAPI_BASE_URL and the network",
        )
    except ValueError:
        return CheckResult(
            "gateway", False, f"ONEAPI_BASE_URL is not a valid URL: {shown}", "fix ONEAPI_BASE_URL"
        )
    if response.status_code in (401, 403):
        return CheckResult(
            "gateway",
            False,
            f"{shown} rejected ONEAPI_API_KEY ({response.status_code})",
            "fix ONEAPI_API_KEY",
        )
    if response.status_code != 200:
        return CheckResult(
            "gateway", False, f"GET {shown}/models answered {response.status_code}", "check ONEAPI_BASE_URL"
        )
    try:
        count = len(response.json().get("data", []))
    except (ValueError, AttributeError):
        count = None
    return CheckResult(
        "gateway",
        True,
        f"answers at {shown}" + (f" ({count} model{'' if count == 1 else 's'})" if count is not None else ""),
    )


def check_probe(farm, adapter, thinking: bool) -> CheckResult:
    """A live two-step tool-call conversation through the adapter (only with --network)."""
    name = "probe-on" if thinking else "probe-off"
    if farm.adapter_token is None:
        return CheckResult(
            name, False, "ADAPTER_TOKEN is not set", "set ADAPTER_TOKEN (one of the adapter's ADAPTER_TOKENS)"
        )
    base_url = adapter.upstream_base_url if adapter is not None else ""
    verdict = run_probe(
        farm.adapter_url,
        farm.adapter_token.get_secret_value(),
        farm.claude_code_model or PROBE_MODEL,
        thinking,
        base_url,
    )
    return CheckResult(name, verdict.ok, verdict.detail, verdict.hint, note=verdict.note)


# --- folders ---------------------------------------------------------------------------------------


def check_sandbox(frontend) -> CheckResult:
    root: Path = frontend.sandbox_root
    if not root.exists():
        return CheckResult(
            "sandbox", False, f"SANDBOX_ROOT {root} does not exist", "create it or fix SANDBOX_ROOT"
        )
    if not root.is_dir():
        return CheckResult("sandbox", False, f"SANDBOX_ROOT {root} is not a directory", "fix SANDBOX_ROOT")
    return CheckResult("sandbox", True, f"{root} is a directory")


def check_cache_dir(farm) -> CheckResult:
    """WORKER_CACHE_DIR takes a file (or, when missing, its nearest existing parent does, so the worker can
    create it)."""
    cache: Path = farm.cache_dir.expanduser()
    hint = "make WORKER_CACHE_DIR a writable directory"
    if cache.exists() and not cache.is_dir():
        return CheckResult("cache-dir", False, f"{cache} is not a directory", hint)
    target = cache
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        with tempfile.NamedTemporaryFile(dir=target, prefix=".codex-farm-doctor-"):
            pass
    except OSError as exc:
        return CheckResult(
            "cache-dir", False, f"{target} is not writable ({exc.strerror or type(exc).__name__})", hint
        )
    return CheckResult(
        "cache-dir",
        True,
        f"{cache} writable"
        if target == cache
        else f"{cache} missing; {target} writable, the worker creates it",
    )


def check_isolation(farm) -> CheckResult:
    """The agents' sandbox: off (a fact), bwrap working, or bwrap asked for and unusable (a warning; a
    failure when required)."""
    state = sandbox_state(farm)
    if not state.requested:
        return CheckResult(
            "isolation",
            True,
            "off (WORKER_SANDBOX=none): agents run unsandboxed as the worker user",
            note="INFO",
        )
    if state.active:
        return CheckResult(
            "isolation", True, f"bwrap sandbox works ({state.bwrap}): agents and checks run in it"
        )
    hint = fix_hint(state.problem)
    if state.required:
        return CheckResult(
            "isolation",
            False,
            f"WORKER_SANDBOX=bwrap is required but unusable: {state.problem}; workers refuse to start",
            hint,
        )
    return CheckResult(
        "isolation",
        True,
        f"WORKER_SANDBOX=bwrap but unusable: {state.problem}; jobs run unsandboxed",
        hint,
        note="WARN",
    )


def check_gateway_key_reach(farm) -> CheckResult:
    """Whether agents here could read the adapter's gateway key: unsandboxed with CAP_SYS_PTRACE (root), or
    beside an adapter of their own user whose environment is readable (a WARN each)."""
    name = "gateway-key"
    if sandbox_state(farm).active:
        return CheckResult(
            name, True, "agents run in the bwrap sandbox: no process outside it is visible to them"
        )
    hint = (
        'run the worker as its own unprivileged user (deploy/README.md, "The gateway key"), or set '
        "WORKER_SANDBOX=bwrap"
    )
    if can_read_any_process():
        detail = (
            "agents would run unsandboxed with CAP_SYS_PTRACE (root): they can read any process's memory, "
            "the adapter's key included"
        )
        return CheckResult(name, True, detail, hint, note="WARN")
    same_user = [adapter for adapter in local_adapters() if adapter.uid == os.getuid()]
    exposed = [str(adapter.pid) for adapter in same_user if adapter.environ_readable]
    if exposed:
        detail = (
            f"adapter pid {', '.join(exposed)} runs as this user with a readable environment: unsandboxed "
            "agents can read its key"
        )
        hint = (
            "run the adapter under its own user and a current version (it makes itself non-dumpable), or set "
            "WORKER_SANDBOX=bwrap"
        )
        return CheckResult(name, True, detail, hint, note="WARN")
    if same_user:
        pids = ", ".join(str(adapter.pid) for adapter in same_user)
        return CheckResult(
            name,
            True,
            f"adapter pid {pids} runs as this user but is non-dumpable: agents cannot read its key",
        )
    return CheckResult(name, True, "no adapter on this box runs as this user")


def check_signing(farm) -> CheckResult:
    """Signed task messages: off (a fact), or the key, certificate and trusted store all readable and
    matching."""
    if not signing_enabled(farm):
        return CheckResult(
            "signing",
            True,
            "off: anyone who can write to Redis can queue jobs (see SECURITY.md)",
            note="INFO",
        )
    try:
        check_signing_files(farm)
    except SigningError as exc:
        return CheckResult(
            "signing",
            False,
            str(exc),
            "fix the FARM_SIGNING_* files; workers and frontends refuse to start as they are",
        )
    return CheckResult(
        "signing",
        True,
        f"task messages are signed ({farm.signing_digest}); workers run only trusted signatures",
    )


def check_dead_letters(farm, redis_result: CheckResult | None = None) -> CheckResult:
    """How many task messages workers refused and dead-lettered, and the newest one's reason (a WARN when
    any)."""
    if redis_result is not None and not redis_result.ok:
        return CheckResult("deadletter", True, "not checked: Redis is not usable", skipped=True)
    try:
        client = probe_client(farm.redis_url)
    except ValueError:
        return CheckResult(
            "deadletter", False, "REDIS_URL is not usable", "fix REDIS_URL (redis://:PASSWORD@host:6379/0)"
        )
    letters = DeadLetters(client, farm.key_prefix, farm.job_ttl_s)
    try:
        count, newest = letters.count(), letters.latest(1)
    # ValueError, TypeError: an entry not written by a worker
    except (
        redis.RedisError,
        ValueError,
        TypeError,
    ) as exc:
        return CheckResult(
            "deadletter",
            False,
            f"cannot read {letters.key}: {type(exc).__name__}",
            "check Redis and REDIS_URL",
        )
    finally:
        client.close()
    if not count or not newest:
        return CheckResult("deadletter", True, f"none: workers refused no task message ({letters.key})")
    letter, shown = newest[0], f"{count}+" if count >= MAX_ENTRIES else str(count)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(letter.at))
    detail = (
        f"{shown} refused message(s) in {letters.key}; newest: {letter.reason} on "
        f"queue {letter.queue!r} at {when}"
    )
    hint = (
        f"frontends and workers disagree on FARM_SIGNING_*, or something else writes to the queues; "
        f"read them with redis-cli LRANGE {letters.key} 0 9 (docs/operations.md)"
    )
    return CheckResult("deadletter", True, detail, hint, note="WARN")


# --- runner ----------------------------------------------------------------------------------------


def _needs(settings, name: str, check: Callable[[], CheckResult]) -> CheckResult:
    if settings is None:
        return CheckResult(
            name, False, "not checked: its settings are invalid", "fix the settings check first"
        )
    return check()


def run_checks(loaded: Loaded, network: bool = False) -> list[CheckResult]:
    """Every check, in order: the box, the settings, Redis and workers, the adapter, folders, the sandbox,
    the gateway."""
    farm, frontend, adapter = loaded.farm, loaded.frontend, loaded.adapter
    results = [check_python(), check_git(), check_settings(loaded)]
    results.append(_needs(farm, "claude-cli", lambda: check_claude_cli(farm)))
    redis_result = _needs(farm, "redis", lambda: check_redis(farm))
    results += [redis_result, _needs(farm, "queues", lambda: check_queues(farm))]
    results.append(_needs(farm, "workers", lambda: check_workers(farm, redis_result)))
    results.append(_needs(farm, "deadletter", lambda: check_dead_letters(farm, redis_result)))
    results.append(_needs(farm, "adapter", lambda: check_adapter(farm)))
    results.append(_needs(adapter, "profiles", lambda: check_profiles(adapter)))
    results.append(_needs(frontend, "sandbox", lambda: check_sandbox(frontend)))
    results.append(_needs(farm, "cache-dir", lambda: check_cache_dir(farm)))
    results.append(_needs(farm, "isolation", lambda: check_isolation(farm)))
    results.append(_needs(farm, "gateway-key", lambda: check_gateway_key_reach(farm)))
    results.append(_needs(farm, "signing", lambda: check_signing(farm)))
    if network:
        results.append(_needs(adapter, "gateway", lambda: check_gateway(adapter)))
        for thinking in (True, False):
            results.append(_needs(farm, "probe", partial(check_probe, farm, adapter, thinking)))
    else:
        results.append(CheckResult("gateway", True, "(use --network)", skipped=True))
    return results


def redactor(loaded_farm, loaded_adapter):
    """Masks every secret this environment holds, a last guard on each printed line."""
    secrets = known_secrets(loaded_farm) if loaded_farm is not None else []
    if loaded_adapter is not None:
        secrets += loaded_adapter.secrets()
    return Redactor(secrets)


def run_doctor(network: bool = False, out: TextIO | None = None) -> int:
    """Print one line per check; 0 when none failed, 1 otherwise."""
    out = out or sys.stdout
    loaded = load_settings()
    results = run_checks(loaded, network)
    redact = redactor(loaded.farm, loaded.adapter)
    for result in results:
        print(redact(result.line()), file=out, flush=True)
    return 0 if all(r.ok or r.skipped for r in results) else 1
