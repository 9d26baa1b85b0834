"""Our adapter versus the Anthropic→OpenAI proxies a user would pick instead, measured in one run.

Run by hand (it is not a test):

    python -m bench.proxy_compare [--requests 300] [--litellm-command VENV/bin/litellm]
        [--claude-code-proxy-python VENV2/bin/python]

Paths, each to the same scripted gateway: direct (the adapter's own OpenAI translation sent
straight to the gateway), our adapter, LiteLLM's proxy (`litellm[proxy]`, configured with a
`model_list` entry `openai/<model>` whose `api_base` is the gateway) and, when installed,
claude-code-proxy (PyPI `claude-code-proxy`).  Every server is its own process on loopback.
Requests go round robin (one request per path per round, the order reversed every round) so
drift on the machine hits every path alike; non-streaming and streaming, after a warm-up.

Neither proxy is a dependency of this project: install each into its own virtual environment
and name it with an option or environment variable; a proxy that is absent is reported as
"not installed, skipped".  Before timing, the unmodified Claude Code request is sent through
each proxy once and the answer printed, then every proxy's answer to the compared request is
checked to be a valid Anthropic message with the scripted text (the fairness check).
It prints numbers and ratios; it never fails the run.
"""

import argparse
import gc
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx
import orjson

from adapter.translate.request import UpstreamTarget, to_openai
from adapter.wire.anthropic_request import MessagesRequest
from bench.claude_code_request import claude_code_request
from bench.machine import load_average, machine_line, tool_version
from bench.servers import (
    ANSWER,
    ANSWER_CHUNKS,
    CLIENT_TOKEN,
    DEFAULT_CAP,
    DEFAULT_MODEL,
    GATEWAY_KEY,
    MARKER,
    Server,
    start_adapter,
    start_gateway,
    start_server,
)
from bench.timing import Measured, interleaved, keep_alive_client, post_once, stream_once, summary
from codex_farm.ports import free_port

LITELLM_KEY = "sk-bench-litellm-key-0000"
LITELLM_INSTALL = "python3 -m venv VENV && VENV/bin/pip install 'litellm[proxy]'"
CC_PROXY_INSTALL = "python3 -m venv VENV && VENV/bin/pip install claude-code-proxy"
# claude-code-proxy maps only names containing "sonnet" or "haiku" to the OpenAI side.
CC_PROXY_MODEL = "claude-sonnet-4-5"
START_TIMEOUT_S = 180  # LiteLLM imports a lot; on a busy 2-core machine start-up takes tens of seconds
RESET_EVERY = 50  # the gateway keeps every request it saw; clear them this often so its memory stays flat


# ----------------------------------------------------------------------------- requests


def without_schema_keys(value: object) -> object:
    """`value` with every `$schema` key dropped, at any depth."""
    if isinstance(value, dict):
        return {key: without_schema_keys(item) for key, item in value.items() if key != "$schema"}
    if isinstance(value, list):
        return [without_schema_keys(item) for item in value]
    return value


def compared_request(size: int, stream: bool) -> dict:
    """The Claude Code request every proxy gets: as Claude Code sends it, except that its tool
    schemas carry no `$schema` key, which LiteLLM forwards and the gateway refuses (the probe shows it)."""
    request = claude_code_request(size, stream=stream, marker=MARKER)
    request["tools"] = without_schema_keys(request["tools"])
    return request


def cc_proxy_request(request: dict) -> dict:
    """claude-code-proxy's variant: a model name it maps, and no mid-conversation system message,
    which its request model refuses (the probe shows it)."""
    messages = [message for message in request["messages"] if message["role"] != "system"]
    return {**request, "model": CC_PROXY_MODEL, "messages": messages}


def encode(request: dict) -> bytes:
    return json.dumps(request).encode()


def direct_body(request: dict) -> bytes:
    """The OpenAI request our adapter sends upstream for `request`: the direct path's body."""
    translated = to_openai(
        MessagesRequest.model_validate(request), UpstreamTarget(DEFAULT_MODEL, DEFAULT_CAP)
    )
    return orjson.dumps(translated.payload)


# ----------------------------------------------------------------------------- proxies


@dataclass
class Proxy:
    """One Anthropic-speaking path under test: its server, how to call it, what it is sent."""

    name: str
    server: Server
    headers: dict[str, str]
    plain: bytes
    streamed: bytes
    probe: bytes  # the unmodified Claude Code request, non-streaming
    settings: list[str] = field(default_factory=list)


def anthropic_headers(key_header: str, key: str) -> dict[str, str]:
    return {"content-type": "application/json", key_header: key, "anthropic-version": "2023-06-01"}


def litellm_config(gateway: Server) -> dict:
    """LiteLLM proxy config: the request's model name served by the gateway as an OpenAI-compatible
    upstream."""
    return {
        "model_list": [
            {
                "model_name": claude_code_request(0)["model"],
                "litellm_params": {
                    "model": f"openai/{DEFAULT_MODEL}",
                    "api_base": gateway.url + "/v1",
                    "api_key": GATEWAY_KEY,
                },
            }
        ],
        "litellm_settings": {
            "set_verbose": False,
            # Claude Code's output_config.effort becomes reasoning_effort, which LiteLLM refuses for an
            # unknown OpenAI model unless told to drop what the model does not support.
            "drop_params": True,
            # Without it LiteLLM sends /v1/messages for openai/ models to the Responses API, which an
            # OpenAI-compatible chat gateway (DeepSeek, OneAPI, vLLM, this one) does not serve.
            "use_chat_completions_url_for_anthropic_messages": True,
        },
        "general_settings": {"master_key": LITELLM_KEY},
    }


def quiet_env(drop_prefixes: tuple[str, ...]) -> dict[str, str]:
    """This process's environment less variables that would reconfigure a proxy behind our back."""
    return {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes) and k != "DATABASE_URL"}


def litellm_version(command: list[str]) -> str:
    """The version `litellm --version` reports (without fetching the remote model cost map)."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    try:
        out = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=120, env=env
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    match = re.search(r"Version = (\S+)", out)
    return match.group(1) if match else "unknown"


def start_litellm(command: list[str], workdir: Path, gateway: Server, workers: int) -> Server:
    """LiteLLM's proxy on a free port, `workers` uvicorn workers, logging at ERROR, no database."""
    config_path = workdir / "litellm-config.yaml"
    config_path.write_text(json.dumps(litellm_config(gateway), indent=2))  # JSON is valid YAML
    env = quiet_env(("LITELLM_", "OPENAI_", "ANTHROPIC_"))
    # ERROR also sets uvicorn's log level, so no access line is written per request.
    env.update(LITELLM_LOG="ERROR", LITELLM_LOCAL_MODEL_COST_MAP="True", NUM_WORKERS=str(workers))
    port = free_port()
    args = [
        *command,
        "--config",
        str(config_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        str(workers),
    ]
    return start_server("litellm", args, env, port, "/health/liveliness", workdir, timeout_s=START_TIMEOUT_S)


def start_cc_proxy(python: str, workdir: Path, gateway: Server) -> Server:
    """claude-code-proxy's FastAPI app under uvicorn (its own entry point binds a fixed public port)."""
    env = quiet_env(
        ("LITELLM_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "BIG_MODEL", "SMALL_MODEL", "PREFERRED_PROVIDER")
    )
    env.update(
        OPENAI_API_KEY=GATEWAY_KEY,
        OPENAI_API_BASE=gateway.url + "/v1",
        BIG_MODEL=DEFAULT_MODEL,
        SMALL_MODEL=DEFAULT_MODEL,
        PREFERRED_PROVIDER="openai",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    port = free_port()
    args = [
        python,
        "-m",
        "uvicorn",
        "server.fastapi:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--no-access-log",
    ]
    return start_server("claude-code-proxy", args, env, port, "/", workdir, timeout_s=START_TIMEOUT_S)


def cc_proxy_versions(python: str) -> str:
    code = "import importlib.metadata as m; print(m.version('claude-code-proxy'), m.version('litellm'))"
    claude_code_proxy, _, litellm = tool_version(python, "-c", code).partition(" ")
    return f"claude-code-proxy {claude_code_proxy} (litellm {litellm})"


def resolve_litellm(option: str | None) -> list[str] | None:
    """The LiteLLM proxy command: the option, else $LITELLM_COMMAND, else `litellm` on PATH."""
    text = option or os.environ.get("LITELLM_COMMAND") or shutil.which("litellm")
    return shlex.split(text) if text else None


def resolve_cc_proxy(option: str | None) -> str | None:
    """The interpreter of a virtual environment holding claude-code-proxy: the option, else
    $CLAUDE_CODE_PROXY_PYTHON."""
    return option or os.environ.get("CLAUDE_CODE_PROXY_PYTHON") or None


# ----------------------------------------------------------------------------- fairness check


@dataclass
class Answer:
    """What one proxy answered, reduced to what must match across proxies."""

    valid: bool
    text: str
    stop_reason: str | None
    detail: str


def check_message(body: dict) -> Answer:
    """A non-streaming Anthropic Messages response: shape, text and stop reason."""
    usage = body.get("usage") or {}
    blocks = body.get("content") or []
    valid = (
        body.get("type") == "message"
        and body.get("role") == "assistant"
        and isinstance(body.get("id"), str)
        and all(block.get("type") == "text" for block in blocks)
        and isinstance(usage.get("input_tokens"), int)
        and isinstance(usage.get("output_tokens"), int)
    )
    text = "".join(block.get("text", "") for block in blocks)
    detail = f"{len(blocks)} block(s), usage {usage.get('input_tokens')}/{usage.get('output_tokens')}"
    return Answer(valid, text, body.get("stop_reason"), detail)


def check_stream(lines: list[str]) -> Answer:
    """A streamed Anthropic Messages response: event order, text deltas and stop reason."""
    data = [line[5:].strip() for line in lines if line.startswith("data:")]
    events = [json.loads(item) for item in data if item.startswith("{")]
    # Anthropic streams carry only JSON events; an extra `[DONE]` (OpenAI's end marker) is noted, not
    # failed: Anthropic's SDKs skip events whose name they do not know.
    extra = [item for item in data if not item.startswith("{")]
    kinds = [event.get("type") for event in events if event.get("type") != "ping"]
    text = "".join(e["delta"].get("text", "") for e in events if e.get("type") == "content_block_delta")
    stop = next((e["delta"].get("stop_reason") for e in events if e.get("type") == "message_delta"), None)
    valid = (
        bool(kinds)
        and kinds[0] == "message_start"
        and kinds[-1] == "message_stop"
        and kinds.count("content_block_start") == kinds.count("content_block_stop") >= 1
        and "message_delta" in kinds
    )
    deltas = kinds.count("content_block_delta")
    note = f", extra non-JSON data lines: {extra}" if extra else ""
    return Answer(valid, text, stop, f"{len(events)} events, {deltas} text deltas{note}")


def upstream_request(control: httpx.Client) -> dict:
    """The last request the gateway received, decoded."""
    recorded = control.get("/_control/requests").json()["requests"][-1]
    body = recorded["body"]
    return {
        "bytes": int(recorded["headers"].get("content-length", 0)),
        "messages": len(body["messages"]),
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens"),
    }


def fairness_check(
    proxies: list[Proxy], clients: dict[str, httpx.Client], control: httpx.Client
) -> list[Proxy]:
    """Print each proxy's answer to the compared request; return the proxies whose answers are valid and
    equal."""
    print(
        "\nfairness check (compared request; expected text: the scripted 20-word "
        "answer, stop_reason end_turn)"
    )
    passed = []
    for proxy in proxies:
        client = clients[proxy.name]
        response = client.post("/v1/messages", content=proxy.plain)
        ok_plain = response.status_code == 200
        plain = check_message(response.json()) if ok_plain else Answer(False, "", None, response.text[:200])
        upstream = upstream_request(control) if ok_plain else {}
        with client.stream("POST", "/v1/messages", content=proxy.streamed) as stream_response:
            lines = list(stream_response.iter_lines())
        failed = Answer(False, "", None, "\n".join(lines)[:200])
        streamed = check_stream(lines) if stream_response.status_code == 200 else failed
        ok = all(a.valid and a.text == ANSWER and a.stop_reason == "end_turn" for a in (plain, streamed))
        verdict = "PASS" if ok else "FAIL"
        print(
            f"  {proxy.name:18} {verdict}  non-streaming: valid={plain.valid} text={plain.text == ANSWER} "
            f"stop={plain.stop_reason} ({plain.detail}); streaming: valid={streamed.valid} "
            f"text={streamed.text == ANSWER} stop={streamed.stop_reason} ({streamed.detail})"
        )
        if upstream:
            print(
                f"  {'':18} upstream request it sent: {upstream['bytes']:,} B, "
                f"{upstream['messages']} messages, max_tokens {upstream['max_tokens']}"
            )
        if ok:
            passed.append(proxy)
        else:
            print(f"  {'':18} left out of the timing")
    return passed


def probe_unmodified(proxies: list[Proxy], clients: dict[str, httpx.Client]) -> None:
    """Send the Claude Code request exactly as Claude Code sends it through each proxy; print the outcome."""
    print("\nunmodified Claude Code request through each proxy (non-streaming, once):")
    for proxy in proxies:
        response = clients[proxy.name].post("/v1/messages", content=proxy.probe)
        if response.status_code == 200:
            print(f"  {proxy.name:18} 200")
            continue
        first_line = response.text.replace("\\n", "\n").splitlines()[0][:300]
        print(f"  {proxy.name:18} {response.status_code}: {first_line}")


# ----------------------------------------------------------------------------- timing and report


def print_mode(title: str, direct: list[float], via: dict[str, list[float]]) -> None:
    """Rows per path, added latency over direct per proxy, and each proxy's added over ours."""
    rows = {"direct": summary(direct), **{name: summary(times) for name, times in via.items()}}
    added = {name: tuple(v - d for v, d in zip(rows[name], rows["direct"])) for name in via}
    print(f"\n{title}  (n={len(direct)} per path)")
    print(f"  {'':34}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, row in rows.items():
        print(f"  {name:34}{row[0]:10.2f}{row[1]:10.2f}{row[2]:10.2f}")
    for name, row in added.items():
        print(f"  {'added: ' + name + ' - direct':34}{row[0]:10.2f}{row[1]:10.2f}{row[2]:10.2f}")
    ours = added.get("adapter")
    for name, row in added.items():
        if name == "adapter" or ours is None:
            continue
        ratios = [f"{theirs / mine:.1f}x" if mine > 0 else "n/a" for theirs, mine in zip(row, ours)]
        print(f"  ratio {name} added / adapter added: p50 {ratios[0]}, p99 {ratios[1]}, mean {ratios[2]}")


def timed_paths(
    proxies: list[Proxy],
    clients: dict[str, httpx.Client],
    direct: httpx.Client,
    bodies: tuple[bytes, bytes],
    stream: bool,
) -> dict[str, Callable[[], object]]:
    """One callable per path sending its request once, timed."""
    if stream:
        paths: dict[str, Callable[[], object]] = {
            "direct": lambda: stream_once(direct, "/v1/chat/completions", bodies[1])
        }
        for proxy in proxies:
            paths[proxy.name] = lambda p=proxy: stream_once(clients[p.name], "/v1/messages", p.streamed)
    else:
        paths = {"direct": lambda: post_once(direct, "/v1/chat/completions", bodies[0])}
        for proxy in proxies:
            paths[proxy.name] = lambda p=proxy: post_once(clients[p.name], "/v1/messages", p.plain)
    return paths


def run_mode(
    paths: dict[str, Callable[[], object]],
    args: argparse.Namespace,
    control: httpx.Client,
    pids: dict[str, int],
) -> Measured:
    """Warm-up, then the timed round robin of every path; the gateway's request log is cleared now and
    then."""
    calls = 0

    def between() -> None:
        nonlocal calls
        calls += 1
        if calls % RESET_EVERY == 0:
            control.post("/_control/reset")
            gc.collect()

    interleaved(paths, args.warmup, args.batch, between, pids)
    control.post("/_control/reset")
    gc.collect()
    return interleaved(paths, args.requests, args.batch, between, pids)


def print_cpu(label: str, measured: Measured, requests: int) -> None:
    """CPU per request of each path's server process, and each proxy's as a multiple of ours."""
    parts = [f"{name} {cpu / requests * 1000:.2f} ms" for name, cpu in measured.cpu_s.items()]
    print(f"  {label:14} " + "   ".join(parts) + "   (direct: the gateway)")
    ours = measured.cpu_s.get("adapter", 0.0)
    ratios = [
        f"{name} {cpu / ours:.1f}x"
        for name, cpu in measured.cpu_s.items()
        if name not in ("direct", "adapter")
    ]
    if ours > 0 and ratios:
        print(f"  {'':14} proxy CPU / adapter CPU: " + ", ".join(ratios))


# ----------------------------------------------------------------------------- main


def litellm_proxy(
    args: argparse.Namespace, workdir: Path, gateway: Server, requests: tuple[dict, dict, bytes]
) -> Proxy | None:
    """LiteLLM's proxy, started; None (and a line saying so) when it is not installed."""
    command = resolve_litellm(args.litellm_command)
    if command is None or shutil.which(command[0]) is None:
        print(
            f"litellm: not installed, skipped (install: {LITELLM_INSTALL}; then "
            "--litellm-command or LITELLM_COMMAND)"
        )
        return None
    server = start_litellm(command, workdir, gateway, args.litellm_workers)
    settings = [
        f"LiteLLM {litellm_version(command)}: {shlex.join(command)} --config ... --num_workers "
        f"{args.litellm_workers}",
        "LITELLM_LOG=ERROR (uvicorn log level error: no access log), set_verbose false, no database, "
        "master_key auth, drop_params, use_chat_completions_url_for_anthropic_messages",
    ]
    plain, streamed, probe = requests
    headers = anthropic_headers("x-api-key", LITELLM_KEY)
    return Proxy("litellm", server, headers, encode(plain), encode(streamed), probe, settings)


def cc_proxy(
    args: argparse.Namespace, workdir: Path, gateway: Server, requests: tuple[dict, dict, bytes]
) -> Proxy | None:
    """claude-code-proxy, started; None (and a line saying so) when it is not installed."""
    python = resolve_cc_proxy(args.claude_code_proxy_python)
    if python is None or shutil.which(python) is None:
        print(
            f"claude-code-proxy: not installed, skipped (install: {CC_PROXY_INSTALL}; "
            "then --claude-code-proxy-python or CLAUDE_CODE_PROXY_PYTHON)"
        )
        return None
    server = start_cc_proxy(python, workdir, gateway)
    settings = [
        f"{cc_proxy_versions(python)}: uvicorn server.fastapi:app, one process, --log-level error "
        "--no-access-log (it still prints two lines per request, to its log file)"
    ]
    plain, streamed, probe = requests
    headers = anthropic_headers("x-api-key", "unused")
    return Proxy(
        "claude-code-proxy",
        server,
        headers,
        encode(cc_proxy_request(plain)),
        encode(cc_proxy_request(streamed)),
        probe,
        settings,
    )


def build_proxies(
    args: argparse.Namespace, workdir: Path, gateway: Server, servers: list[Server]
) -> list[Proxy]:
    """Start our adapter and each installed proxy (added to `servers` to be stopped); say which are
    skipped."""
    requests = (
        compared_request(args.size, False),
        compared_request(args.size, True),
        encode(claude_code_request(args.size, stream=False, marker=MARKER)),
    )
    adapter = start_adapter(workdir, gateway.url + "/v1", args.adapter_log_level)
    servers.append(adapter)
    headers = anthropic_headers("x-api-key", CLIENT_TOKEN)
    proxies = [
        Proxy(
            "adapter",
            adapter,
            headers,
            encode(requests[0]),
            encode(requests[1]),
            requests[2],
            [f"codex-farm adapter, one uvicorn process, --log-level {args.adapter_log_level}"],
        )
    ]
    for start in (litellm_proxy, cc_proxy):
        proxy = start(args, workdir, gateway, requests)
        if proxy is not None:
            servers.append(proxy.server)
            proxies.append(proxy)
    return proxies


def measure(args: argparse.Namespace) -> None:
    plain_request = compared_request(args.size, False)
    bodies = (direct_body(plain_request), direct_body(compared_request(args.size, True)))
    turns = sum(1 for m in json.loads(bodies[0])["messages"] if m["role"] == "assistant")
    print(
        f"compared request: Anthropic {len(encode(plain_request)):,} B (tool schemas without $schema), "
        f"direct: the adapter's translation, {len(bodies[0]):,} B; answer {len(ANSWER.split())} words, "
        f"{ANSWER_CHUNKS} chunks when streamed"
    )
    with tempfile.TemporaryDirectory(prefix="proxy-compare-") as tmp:
        workdir = Path(tmp)
        servers: list[Server] = []
        try:
            # Proxies split the history into more messages than the adapter does, and LiteLLM forwards
            # Claude Code's max_tokens as is: the gateway allows both so every path can be measured.
            gateway = start_gateway(workdir, turns * 4, max_output_tokens=plain_request["max_tokens"])
            servers.append(gateway)
            proxies = build_proxies(args, workdir, gateway, servers)
            for proxy in proxies:
                settings = "; ".join(proxy.settings)
                print(f"{proxy.name}: pid {proxy.server.pid} :{proxy.server.port}; {settings}")
            report(args, gateway, proxies, bodies)
        finally:
            for server in reversed(servers):
                server.stop()


def report(
    args: argparse.Namespace, gateway: Server, proxies: list[Proxy], bodies: tuple[bytes, bytes]
) -> None:
    """Probe, fairness check, then the timed round robin of every path; print the tables."""
    auth = {"content-type": "application/json", "authorization": f"Bearer {GATEWAY_KEY}"}
    clients = {proxy.name: keep_alive_client(proxy.server.url, proxy.headers) for proxy in proxies}
    with (
        keep_alive_client(gateway.url, auth) as direct,
        httpx.Client(base_url=gateway.url, headers=auth) as control,
    ):
        try:
            probe_unmodified(proxies, clients)
            control.post("/_control/reset")
            timed = fairness_check(proxies, clients, control)
            pids = {"direct": gateway.pid, **{proxy.name: proxy.server.pid for proxy in timed}}
            plain = run_mode(timed_paths(timed, clients, direct, bodies, False), args, control, pids)
            streamed = run_mode(timed_paths(timed, clients, direct, bodies, True), args, control, pids)
        finally:
            for client in clients.values():
                client.close()
    names = [proxy.name for proxy in timed]
    print_mode("non-streaming total latency", plain.times["direct"], {n: plain.times[n] for n in names})
    print_mode(
        "streaming time to first event (direct: first chunk; proxies: first Anthropic event)",
        [t[0] for t in streamed.times["direct"]],
        {n: [t[0] for t in streamed.times[n]] for n in names},
    )
    print_mode(
        "streaming full-stream time",
        [t[1] for t in streamed.times["direct"]],
        {n: [t[1] for t in streamed.times[n]] for n in names},
    )
    print("\nserver CPU per request (user+sys from /proc, during the timed runs)")
    print_cpu("non-streaming", plain, args.requests)
    print_cpu("streaming", streamed, args.requests)


def print_header(argv: list[str]) -> None:
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("uvicorn", "starlette", "httpx", "pydantic")
    )
    print("adapter versus other Anthropic->OpenAI proxies")
    print(f"machine: {machine_line()} ({versions})")
    print(f"command: {shlex.join(['python', '-m', 'bench.proxy_compare', *argv])}")
    print(f"load average at start: {load_average()}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.proxy_compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=300, help="timed requests per path and mode")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per path and mode first")
    parser.add_argument(
        "--size", type=int, default=100_000, help="target size of the Anthropic request in bytes"
    )
    parser.add_argument("--batch", type=int, default=1, help="requests per path in a row (1: round robin)")
    parser.add_argument(
        "--litellm-command", help="LiteLLM proxy command (default: $LITELLM_COMMAND, else `litellm` on PATH)"
    )
    parser.add_argument(
        "--litellm-workers", type=int, default=1, help="LiteLLM --num_workers (ours runs one process)"
    )
    parser.add_argument(
        "--claude-code-proxy-python",
        help="python of a venv with claude-code-proxy (default: $CLAUDE_CODE_PROXY_PYTHON)",
    )
    parser.add_argument(
        "--adapter-log-level", default="info", help="the adapter's --log-level (as deployed: info)"
    )
    args = parser.parse_args(argv)

    print_header(argv)
    measure(args)
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
