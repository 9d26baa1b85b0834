"""A whole farm on one machine: Redis, model, adapter, worker and (optionally) the HTTP frontend.

Each piece is healthy before the next starts; children log to files in the run directory
and are stopped in reverse order, each by its own PID.
"""

import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from codex_farm.children import Child, spawn, wait_ready
from codex_farm.local_redis import EMBEDDED_WARNING, LocalRedis, start_redis
from codex_farm.ports import LOOPBACK, is_listening
from codex_farm.settings import LocalFarmSettings
from farm_core.key_guard import make_undumpable
from scripted_gateway import GatewayHandle, builtin_scenarios_dir, run_in_thread

# Scripted requests without a `[[scenario:NAME]]` marker get this one (a plain answer, no tools).
DEFAULT_SCENARIO = "hello"
# The provider profile the scripted gateway plays for `up` and `demo` unless they are given one.
SCRIPTED_PROFILE = "generic"
# Credentials each piece must not see unless it is the one that uses them.
_GATEWAY_SECRETS = ("ONEAPI_API_KEY", "ANTHROPIC_API_KEY", "FALLBACK_API_KEY")
# Where the adapter finds its keys instead: files `up` writes and removes once the adapter has read them.
_KEY_FILES = ("ONEAPI_API_KEY_FILE", "FALLBACK_API_KEY_FILE")
_FARM_SECRETS = ("ADAPTER_TOKENS", "ADAPTER_TOKEN", "FARM_MCP_TOKEN")
_WORKER_STOP_GRACE_S = 30.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class FarmPlan:
    """What to start and where."""

    run_dir: Path
    adapter_port: int
    mcp_port: int | None  # None: no HTTP frontend (the demo runs one over stdio itself)
    concurrency: int
    scripted: bool
    sandbox_root: Path
    cache_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)  # read by worker and frontend alike
    mcp_token: str | None = None
    # The model's provider profile: the scripted gateway plays it and the adapter uses it (ADAPTER_PROFILE).
    # None: generic for the scripted model, the adapter's own choice for a real gateway.
    profile: str | None = None

    @property
    def scripted_profile(self) -> str:
        """The profile the scripted gateway plays."""
        return self.profile or SCRIPTED_PROFILE


def default_cache_dir() -> Path:
    """WORKER_CACHE_DIR, else codex-farm under the user's cache dir."""
    configured = LocalFarmSettings().cache_dir
    return configured or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codex-farm"


def interrupt_once_on_stop_signals() -> None:
    """Turn SIGINT/SIGTERM/SIGHUP into one KeyboardInterrupt, so `with` blocks stop the children."""

    def interrupt(signum: int, frame: object) -> None:
        # Later signals are ignored: a second Ctrl-C must not cut the orderly stop short.
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise KeyboardInterrupt

    for number in STOP_SIGNALS:
        signal.signal(number, interrupt)


class LocalFarm:
    """Starts the pieces on `with` (or start()) and stops them on exit (or stop())."""

    def __init__(self, plan: FarmPlan, say: Callable[[str], None] = print):
        self.plan, self.say = plan, say
        self.redis: LocalRedis | None = None
        self.gateway: GatewayHandle | None = None
        self.children: list[Child] = []
        self.adapter_token = secrets.token_urlsafe(24)
        self.mcp_token = plan.mcp_token or secrets.token_urlsafe(24)
        self.model = ""
        self.model_note: str | None = None  # set when the model is the scripted one

    @property
    def adapter_url(self) -> str:
        return f"http://{LOOPBACK}:{self.plan.adapter_port}"

    @property
    def mcp_url(self) -> str:
        return f"http://{LOOPBACK}:{self.plan.mcp_port}/mcp"

    def __enter__(self) -> "LocalFarm":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Redis, model, adapter, worker, frontend: each healthy before the next."""
        # This process holds the gateway key and the farm's tokens: close its environment and memory
        # to the user's other processes (agents among them) before it holds any of them.
        make_undumpable()
        self.plan.run_dir.mkdir(parents=True, exist_ok=True)
        self.redis = start_redis(self.plan.run_dir)
        self.say(f"redis:   {self.redis.mode}")
        if self.redis.is_embedded:
            self.say(EMBEDDED_WARNING)
        upstream_url, upstream_key = self._start_model()
        self._start_adapter(upstream_url, upstream_key)
        self._start_worker()
        if self.plan.mcp_port is not None:
            self._start_frontend()

    def stop(self) -> None:
        """Stop every piece we started, newest first; safe to call twice."""
        for child in reversed(self.children):
            child.stop(_WORKER_STOP_GRACE_S if child.name == "worker" else 10.0)
        if self.gateway is not None:
            self.gateway.stop()
        if self.redis is not None:
            self.redis.stop()

    def pids(self) -> dict[str, int]:
        """PID of each child process, by name."""
        found = {child.name: child.pid for child in self.children}
        if self.redis is not None and self.redis.child is not None:
            found["redis-server"] = self.redis.child.pid
        return found

    def dead_piece(self) -> str | None:
        """A description of the first piece that stopped on its own, with its last log lines."""
        for child in self.children:
            if not child.alive():
                return (
                    f"{child.name} exited with code {child.process.returncode}; last lines of "
                    f"{child.log_path}:\n{child.tail()}"
                )
        if self.redis is not None and not self.redis.alive():
            child = self.redis.child
            return "redis stopped" + (f"; last lines of {child.log_path}:\n{child.tail()}" if child else "")
        return None

    def frontend_env(self) -> dict[str, str]:
        """Environment of an MCP frontend of this farm (the HTTP child, or the demo's stdio one)."""
        return {**self._farm_env(), "SANDBOX_ROOT": str(self.plan.sandbox_root)}

    def _farm_env(self) -> dict[str, str]:
        """What the worker and the frontends share: this farm's Redis and adapter (the cheap tools call it
        too)."""
        env = _without(os.environ, _GATEWAY_SECRETS + _FARM_SECRETS)
        env.update(
            self.plan.extra_env,
            REDIS_URL=self.redis.url,
            ADAPTER_URL=self.adapter_url,
            ADAPTER_TOKEN=self.adapter_token,
        )
        return env

    def _start_model(self) -> tuple[str, str]:
        """The user's gateway from ONEAPI_BASE_URL/ONEAPI_API_KEY, else the scripted one in a thread."""
        settings = LocalFarmSettings()
        if not self.plan.scripted and settings.gateway_url and settings.gateway_key:
            self.model = f"{settings.gateway_url} (ONEAPI_BASE_URL)"
            self.say(f"model:   {self.model}")
            return settings.gateway_url, settings.gateway_key.get_secret_value()
        key = secrets.token_urlsafe(24)
        # A scripted answer costs nothing, so its usage is reported as zero tokens, not as a paid call's.
        profile = self.plan.scripted_profile
        self.gateway = run_in_thread(
            builtin_scenarios_dir(),
            api_key=key,
            default_scenario=DEFAULT_SCENARIO,
            report_tokens=False,
            profile=profile,
        )
        why = "" if self.plan.scripted else ", as ONEAPI_BASE_URL/ONEAPI_API_KEY are not set"
        self.model = f"offline scripted gateway on {self.gateway.url} playing {profile}{why}"
        self.model_note = scripted_model_note(self.gateway)
        self.say(f"model:   {self.model}")
        return self.gateway.url, key

    def _start_adapter(self, upstream_url: str, upstream_key: str) -> None:
        """The adapter, with its keys in files rather than its environment (see farm_core/key_guard.py)."""
        env = _without(os.environ, _FARM_SECRETS + _GATEWAY_SECRETS + _KEY_FILES)
        keys = {"ONEAPI_API_KEY_FILE": upstream_key}
        if self.gateway is not None:
            # A fallback to a real gateway would turn scripted failures into paid calls.
            env = _without(env, ("FALLBACK_BASE_URL", "FALLBACK_MODEL"))
            env["ADAPTER_PROFILE"] = self.plan.scripted_profile  # the rules the scripted gateway plays
        else:
            if os.environ.get("FALLBACK_API_KEY"):
                keys["FALLBACK_API_KEY_FILE"] = os.environ["FALLBACK_API_KEY"]
            if self.plan.profile is not None:
                env["ADAPTER_PROFILE"] = self.plan.profile
        env.update(ONEAPI_BASE_URL=upstream_url, ADAPTER_TOKENS=self.adapter_token)
        argv = _farm_command("adapter", "--host", LOOPBACK, "--port", str(self.plan.adapter_port))
        # The files live until the adapter answers, so it has read them; no agent runs yet (the worker starts
        # later).
        with key_files(self.plan.run_dir, keys) as key_env:
            child = self._spawn("adapter", argv, {**env, **key_env})
            wait_ready(child, lambda: _answers(self.adapter_url + "/healthz"), 30, "answering /healthz")
        self.say(f"adapter: {self.adapter_url} (pid {child.pid})")

    def _start_worker(self) -> None:
        env = {**self._farm_env(), "WORKER_CACHE_DIR": str(self.plan.cache_dir)}
        argv = _farm_command("worker", "--concurrency", str(self.plan.concurrency), "--loglevel", "INFO")
        child = self._spawn("worker", argv, env)
        # Celery logs "celery@host ready." once it consumes from the queues.
        wait_ready(child, lambda: "ready." in child.log(), 60, "ready")
        self.say(f"worker:  concurrency {self.plan.concurrency} (pid {child.pid})")

    def _start_frontend(self) -> None:
        env = self.frontend_env()
        env["FARM_MCP_TOKEN"] = self.mcp_token
        argv = _farm_command(
            "mcp", "--transport", "http", "--host", LOOPBACK, "--port", str(self.plan.mcp_port)
        )
        child = self._spawn("mcp", argv, env)
        wait_ready(child, lambda: is_listening(self.plan.mcp_port), 30, "listening")
        self.say(f"mcp:     {self.mcp_url} (pid {child.pid})")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = spawn(name, argv, env, self.plan.run_dir / f"{name}.log")
        self.children.append(child)
        return child


def scripted_model_note(gateway: GatewayHandle) -> str:
    """One line on what the scripted model answers, how a prompt picks a scenario, and how to get a real
    model."""
    scenarios = gateway.state.scenarios()
    canned = scenarios[DEFAULT_SCENARIO].turns[0].text
    return (
        f"the model is scripted (usage 0 tokens): a plain prompt gets {canned!r}; "
        f"[[scenario:NAME]] in a prompt plays one of {', '.join(sorted(scenarios))}; for a real "
        "model set ONEAPI_BASE_URL and ONEAPI_API_KEY and run codex-farm up without --scripted"
    )


@contextmanager
def key_files(folder: Path, keys: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Each key in a file only this user can read, in a fresh folder under `folder`; yields variable ->
    path, removes all on exit."""
    private = Path(tempfile.mkdtemp(prefix="keys-", dir=folder))  # mode 0700
    try:
        paths = {}
        for variable, key in keys.items():
            path = private / variable.lower()
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as key_file:
                key_file.write(key + "\n")
            paths[variable] = str(path)
        yield paths
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _farm_command(*args: str) -> list[str]:
    """argv of a `codex-farm` subcommand run by this interpreter."""
    return [sys.executable, "-m", "codex_farm", *args]


def _without(env: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
