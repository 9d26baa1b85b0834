"""Running the gateway: in a background thread for tests, or blocking for the CLI."""

import logging
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import uvicorn

from .app import StreamCut, create_app
from .connections import ConnectionDropped, ConnectionResetter
from .scenario import Scenario, coerce_scenarios
from .state import GatewayConfig, GatewayState

ScenarioSource = str | Path | Scenario | dict | Iterable[Scenario | dict] | None


class _DropStreamCuts(logging.Filter):
    # Scripted stream cuts and resets are intended; keep uvicorn from logging them as crashes.
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, (StreamCut, ConnectionDropped))


def install_log_filter() -> None:
    """Silence uvicorn's error log for scripted stream cuts (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropStreamCuts) for f in logger.filters):
        logger.addFilter(_DropStreamCuts())


def build_state(scenarios: ScenarioSource = None, **config: Any) -> GatewayState:
    """A GatewayState from scenarios (path, dicts or models) and GatewayConfig fields."""
    if "models" in config:
        config["models"] = tuple(config["models"])
    return GatewayState(coerce_scenarios(scenarios), GatewayConfig(**config))


class GatewayHandle:
    """A gateway running in a background thread; also a context manager that stops it."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, state: GatewayState, host: str, port: int
    ):
        self._server, self._thread, self.state = server, thread, state
        self.host, self.port = host, port

    @property
    def base_url(self) -> str:
        """Root URL without the `/v1` prefix (where `/_control/` lives)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """OpenAI base URL, e.g. `http://127.0.0.1:PORT/v1`."""
        return f"{self.base_url}/v1"

    def add_scenario(self, scenario: Scenario | dict) -> Scenario:
        """Register or replace one scenario (model or dict)."""
        (parsed,) = coerce_scenarios(scenario)
        self.state.add_scenario(parsed)
        return parsed

    def add_scenarios(self, scenarios: ScenarioSource) -> list[Scenario]:
        """Register several scenarios (path, list, or single)."""
        parsed = coerce_scenarios(scenarios)
        for scenario in parsed:
            self.state.add_scenario(scenario)
        return parsed

    def configure(self, **changes: Any) -> GatewayConfig:
        """Change api_key / default_scenario / max_output_tokens / models / report_tokens / profile at
        runtime."""
        return self.state.configure(**changes)

    def requests(self) -> list[dict]:
        """Recorded chat-completion requests, oldest first."""
        return self.state.requests()

    def usage(self) -> dict:
        """Usage totals: `{"total": {...}, "per_scenario": {...}}`."""
        return self.state.usage()

    def reset(self, full: bool = False) -> None:
        """Clear records, usage and fault counters; `full` also restores initial scenarios/config."""
        self.state.reset(full=full)

    def stop(self, timeout: float = 5.0) -> None:
        """Shut the server down and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> "GatewayHandle":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _uvicorn_config(app: Any, host: str, port: int) -> uvicorn.Config:
    # log_config=None leaves the host process's logging setup untouched.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )


def run_in_thread(
    scenarios: ScenarioSource = None, host: str = "127.0.0.1", port: int = 0, **config: Any
) -> GatewayHandle:
    """Start a gateway on a background thread; `config` takes GatewayConfig fields (e.g.
    profile="deepseek")."""
    install_log_filter()
    state = build_state(scenarios, **config)
    # Binding here (port 0 = any free port) means the URL is known before uvicorn starts.
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it keep-alive requests stall ~40 ms on delayed ACKs.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = _server(state, host, port)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="scripted-gateway", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("scripted gateway failed to start")
        time.sleep(0.005)
    return GatewayHandle(server, thread, state, host, sock.getsockname()[1])


def serve(scenarios: ScenarioSource = None, host: str = "127.0.0.1", port: int = 8000, **config: Any) -> None:
    """Run the gateway in the foreground until interrupted."""
    install_log_filter()
    state = build_state(scenarios, **config)
    _server(state, host, port).run()


def _server(state: GatewayState, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for the app, registered with the app's connection resetter (`reset` faults)."""
    connections = ConnectionResetter()
    server = uvicorn.Server(_uvicorn_config(create_app(state, connections), host, port))
    connections.attach(server)
    return server
