"""Tool surface: what the farm's MCP tools add to the requests the real Codex CLI sends its model.

Run by hand (it is not a test):

    python -m bench.tool_surface [--codex PATH] [--codex-version VERSION] [--keep]

The Codex CLI is `--codex`, else `codex` on PATH, else `@openai/codex` at CODEX_VERSION (or
`--codex-version`) installed with npm into ~/.cache/codex-farm/bench. It runs `codex exec "say hi"` against
a stand-in Responses endpoint (bench/responses_stub.py) that records each request body. Every run has a
fresh CODEX_HOME and HOME whose config.toml names the stand-in as the model provider and, in the runs with
the farm, `codex-farm mcp` over stdio as an MCP server (`required = true`: Codex waits for its tools before
the first turn instead of racing the frontend's start-up).

Codex hands a server's tools to the model one of two ways, by model, and the bench measures both:

1. eager: a model Codex has no metadata for (a custom provider's model, say) gets every tool with its
   input schema in each request's `tools`, under the namespace `mcp__codex_farm`.
2. deferred: Codex's default model works through its `exec` (code mode) tool; each request names the
   namespace with the server's instructions, and the model reads a tool's declaration from `ALL_TOOLS`
   when it wants it, which then stays in the conversation. The stand-in makes that lookup happen: its first
   answer is one `exec` call listing our tools, and the bench reads what Codex sent back.

Each way runs once without and once with the farm; what the second request has more is the farm's. The
frontend's own `tools/list` (per tool, with and without output schemas) comes from an in-process MCP client
for comparison. Tokens are estimated as bytes / 4.
"""

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from mcp import Client

from bench.machine import load_average, machine_line
from bench.responses_stub import custom_tool_call, responses_stub
from bench.workdir import bench_workdir
from codex_farm.ports import LOOPBACK, free_port
from farm_core.settings import FarmSettings
from mcp_frontend.server import build_server
from mcp_frontend.service import FarmService
from mcp_frontend.settings import FrontendSettings
from mcp_frontend.tool_groups import DEFAULT_GROUPS, groups_named

CODEX_VERSION = "0.171.0"  # the Codex CLI the numbers in docs/benchmarks.md were taken with
CODEX_PACKAGE = "@openai/codex"
SERVER_NAME = "codex-farm"
# Codex names a server's tools `mcp__<server>` with `-` as `_`, and each tool `<namespace>__<tool>`.
NAMESPACE = "mcp__" + SERVER_NAME.replace("-", "_")
UNLISTED_MODEL = "farm-bench-unlisted"  # not in Codex's model metadata: it falls back to eager tools
PROMPT = "say hi"
BYTES_PER_TOKEN = 4
CODEX_RUN_TIMEOUT_S = 300
MCP_STARTUP_TIMEOUT_S = 60  # Codex's default is 10 s; a loaded machine imports the frontend slower
LOOKUP_CALL_ID = "call_farm_lookup"
LOOKUP_SCRIPT = f'text(JSON.stringify(ALL_TOOLS.filter((tool) => tool.name.startsWith("{NAMESPACE}__"))));'
MODEL_KEY_ENV = "FARM_BENCH_MODEL_KEY"
# Inherited variables that would point Codex at a real account or endpoint.
SCRUBBED_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY", "CODEX_HOME")


@dataclass(frozen=True)
class Mode:
    """One way Codex hands tools to the model: the model that gets it, and whether to make it look ours up."""

    name: str
    model: str | None  # None: Codex's default model
    lookup: bool


MODES = (Mode("eager", UNLISTED_MODEL, lookup=False), Mode("deferred", None, lookup=True))


# ----------------------------------------------------------------------------- the Codex CLI


def codex_cli(explicit: Path | None, version: str | None) -> Path:
    """--codex, else a pinned --codex-version from the cache, else `codex` on PATH, else CODEX_VERSION."""
    if explicit is not None:
        return explicit
    if version is None and (on_path := shutil.which("codex")):
        return Path(on_path)
    return npm_installed_codex(version or CODEX_VERSION)


def npm_installed_codex(version: str) -> Path:
    """`@openai/codex@version` installed with npm into the bench's cache folder (once per version)."""
    prefix = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codex-farm" / "bench"
    prefix /= f"codex-{version}"
    binary = prefix / "node_modules" / ".bin" / "codex"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("no codex on PATH and no npm to install it with; pass --codex PATH")
        print(f"installing {CODEX_PACKAGE}@{version} into {prefix} ...", flush=True)
        package = f"{CODEX_PACKAGE}@{version}"
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", package], check=True
        )
    return binary


# ----------------------------------------------------------------------------- one Codex run


def codex_env(run_dir: Path) -> dict[str, str]:
    """Our environment with Codex's home (CODEX_HOME and HOME) in run_dir and the stand-in's dummy key."""
    env = {name: value for name, value in os.environ.items() if name not in SCRUBBED_ENV}
    home = run_dir / "codex-home"
    return env | {"CODEX_HOME": str(home), "HOME": str(run_dir), MODEL_KEY_ENV: "farm-bench-dummy-key"}


def codex_version(codex: Path, run_dir: Path) -> str:
    """What `codex --version` prints, run in an isolated home too (it writes helper files there)."""
    (run_dir / "codex-home").mkdir(parents=True)
    done = subprocess.run(
        [str(codex), "--version"], env=codex_env(run_dir), capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip() or f"unknown ({done.stderr.strip()[-200:]})"


def frontend_env(run_dir: Path, tools: str) -> dict[str, str]:
    """What `codex-farm mcp` needs to list its tools (those of FARM_TOOLS=tools): a sandbox of its own and a
    Redis it never calls."""
    # The frontend connects to Redis only when a tool is called, so nothing listens on this port.
    return {
        "REDIS_URL": f"redis://{LOOPBACK}:{free_port()}/0",
        "SANDBOX_ROOT": str(run_dir / "sandbox"),
        "FARM_TOOLS": tools,
    }


def codex_config(base_url: str, mode: Mode, farm_env: dict[str, str] | None) -> str:
    """config.toml: the stand-in as the model provider and, given farm_env, the farm's stdio server."""
    quoted = json.dumps  # a JSON string is a TOML basic string
    lines = [f"model = {quoted(mode.model)}"] if mode.model else []
    lines += [
        'model_provider = "farm-bench"',
        "check_for_update_on_startup = false",
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[model_providers.farm-bench]",
        'name = "farm-bench stand-in"',
        f"base_url = {quoted(base_url)}",
        f"env_key = {quoted(MODEL_KEY_ENV)}",
        'wire_api = "responses"',
        "request_max_retries = 0  # a retry would be recorded as another turn",
        "stream_max_retries = 0",
    ]
    if farm_env is not None:
        env = ", ".join(f"{name} = {quoted(value)}" for name, value in farm_env.items())
        lines += [
            "",
            f"[mcp_servers.{SERVER_NAME}]",
            f"command = {quoted(sys.executable)}",
            'args = ["-m", "codex_farm", "mcp"]',
            "required = true",
            f"startup_timeout_sec = {MCP_STARTUP_TIMEOUT_S}",
            f"env = {{ {env} }}",
        ]
    return "\n".join(lines) + "\n"


def run_codex(codex: Path, run_dir: Path, mode: Mode, tools: str | None) -> list[dict]:
    """`codex exec PROMPT` in a fresh CODEX_HOME, with the farm serving FARM_TOOLS=tools (None: without the
    farm); the request bodies it sent, in order (also saved)."""
    home, workspace = run_dir / "codex-home", run_dir / "workspace"
    for folder in (home, workspace, run_dir / "sandbox"):
        folder.mkdir(parents=True)
    script = [custom_tool_call(LOOKUP_CALL_ID, "exec", LOOKUP_SCRIPT)] if mode.lookup else []
    with responses_stub(script) as stub:
        farm_env = frontend_env(run_dir, tools) if tools is not None else None
        (home / "config.toml").write_text(codex_config(stub.base_url, mode, farm_env))
        argv = [str(codex), "exec", "--skip-git-repo-check", "--color", "never", PROMPT]
        exit_code, output = run_in_session(argv, workspace, codex_env(run_dir), run_dir / "codex-output.txt")
    if exit_code != 0 or not stub.bodies:
        raise RuntimeError(
            f"codex exec ({mode.name}) exited {exit_code}, {len(stub.bodies)} requests:\n{output}"
        )
    for number, body in enumerate(stub.bodies, 1):
        (run_dir / f"request-{number}.json").write_bytes(body)
    return [json.loads(body) for body in stub.bodies]


def run_in_session(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int, str]:
    """Run argv in its own session, output to log; on timeout its whole group (MCP server too) is killed."""
    with log.open("w+b") as output:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        try:
            exit_code = process.wait(timeout=CODEX_RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            exit_code = -signal.SIGKILL
        output.seek(0)
        return exit_code, output.read().decode(errors="replace")[-3000:]


# ----------------------------------------------------------------------------- reading the bodies


def size(value) -> int:
    """Bytes of a JSON value as Codex sends it (serde_json: compact, UTF-8 unescaped)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def tool_entries(body: dict) -> list[dict]:
    """Every tool definition in a request: its `tools` and any `additional_tools` input item's."""
    entries = list(body.get("tools", []))
    for item in body.get("input", []):
        if item.get("type") == "additional_tools":
            entries += item.get("tools", [])
    return entries


def our_tools(body: dict) -> tuple[dict[str, dict], int]:
    """(definition per farm tool, bytes of all our entries) in a request, as a namespace or flat names."""
    per_tool, total = {}, 0
    for entry in tool_entries(body):
        name = entry.get("name", "")
        if name == NAMESPACE:
            per_tool |= {tool["name"]: tool for tool in entry.get("tools", [])}
        elif name.startswith(f"{NAMESPACE}__"):
            per_tool[name.removeprefix(f"{NAMESPACE}__")] = entry
        else:
            continue
        total += size(entry)
    return per_tool, total


def described_arguments(schema: dict) -> int:
    """How many of a tool's top-level arguments carry a description."""
    return sum("description" in argument for argument in schema.get("properties", {}).values())


def codex_own_tools(body: dict) -> dict[str, int]:
    """Bytes per tool definition that is not ours (a namespace counted whole)."""
    return {
        entry.get("name") or entry.get("type", "?"): size(entry)
        for entry in tool_entries(body)
        if not entry.get("name", "").startswith(NAMESPACE)
    }


def namespace_mentions(body: dict) -> list[str]:
    """Lines of the request's messages that name our namespace (the deferred listing)."""
    texts = [
        part.get("text", "")
        for item in body.get("input", [])
        if item.get("type") == "message"
        for part in item.get("content", [])
    ]
    return [line for text in texts for line in text.splitlines() if NAMESPACE in line]


def lookup_result(bodies: list[dict]) -> tuple[dict[str, int], int]:
    """(description bytes per farm tool, bytes of the whole tool output) of the `exec` lookup."""
    for body in bodies:
        for item in body.get("input", []):
            if item.get("type") == "custom_tool_call_output" and item.get("call_id") == LOOKUP_CALL_ID:
                return _listed_descriptions(item), size(item)
    raise RuntimeError("Codex sent no output for the lookup call; did its exec tool run?")


def _listed_descriptions(output_item: dict) -> dict[str, int]:
    """The `[{name, description}]` the lookup script printed, as bytes per tool's description."""
    parts = output_item.get("output")
    texts = [part.get("text", "") for part in parts] if isinstance(parts, list) else [str(parts)]
    for text in texts:
        start = text.find("[")
        try:
            listed = json.loads(text[start:]) if start >= 0 else None
        except json.JSONDecodeError:
            continue
        if isinstance(listed, list):
            prefix = f"{NAMESPACE}__"
            return {tool["name"].removeprefix(prefix): len(tool["description"].encode()) for tool in listed}
    raise RuntimeError(f"the lookup printed no tool list: {texts!r:.500}")


# ----------------------------------------------------------------------------- the frontend's own list


@dataclass(frozen=True)
class Listed:
    """The frontend's `tools/list` result in bytes: per tool with and without its output schema."""

    with_output: dict[str, int]
    without_output: dict[str, int]
    result_bytes: int  # the whole `{"tools": [...]}` result as sent
    described: dict[str, int]  # per tool, how many arguments have a description


async def listed_tools(sandbox: Path, tools: str) -> Listed:
    """tools/list from the frontend `codex-farm mcp` serves with FARM_TOOLS=tools, through an in-process MCP
    client."""
    # The real service: registering tools uses none of it, and a listing makes no Redis call.
    farm = FarmSettings(redis_url=f"redis://{LOOPBACK}:{free_port()}/0")
    service = FarmService(FrontendSettings(sandbox_root=sandbox), farm)
    try:
        async with Client(build_server(service, groups_named(tools.split(",")))) as client:
            tools = (await client.list_tools()).tools
    finally:
        await service.aclose()
    # As the server writes them: by alias, only the fields it set.
    sent = {tool.name: tool.model_dump(mode="json", by_alias=True, exclude_unset=True) for tool in tools}
    without = {name: {k: v for k, v in tool.items() if k != "outputSchema"} for name, tool in sent.items()}
    return Listed(
        {name: size(tool) for name, tool in sent.items()},
        {name: size(tool) for name, tool in without.items()},
        size({"tools": list(sent.values())}),
        {name: described_arguments(tool["inputSchema"]) for name, tool in sent.items()},
    )


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Measured:
    """One mode's two runs: the first request without the farm, and every request with it."""

    without: dict
    with_farm: list[dict]

    @property
    def first(self) -> dict:
        return self.with_farm[0]

    @property
    def added(self) -> int:
        return size(self.first) - size(self.without)


def tokens(byte_count: int) -> str:
    """The token estimate of a byte count, for printing."""
    return f"≈ {byte_count / BYTES_PER_TOKEN:,.0f} tokens"


def report_listing(listed: Listed) -> None:
    with_total, without_total = sum(listed.with_output.values()), sum(listed.without_output.values())
    print(f"\n[1] tools/list of `codex-farm mcp` (in-process MCP client): {len(listed.with_output)} tools")
    print(f"  whole result {listed.result_bytes:,} B {tokens(listed.result_bytes)}")
    print(f"  tool entries with output schemas {with_total:,} B, without {without_total:,} B")


def report_eager(run: Measured, listed: Listed) -> dict[str, int]:
    tools, ours = our_tools(run.first)
    if not tools:
        raise RuntimeError(f"Codex sent none of the farm's tools ({NAMESPACE}); --keep keeps its output")
    before = size(run.without)
    print(f"\n[2] eager: model `{run.first['model']}` (no metadata in Codex), tools sent in full every turn")
    print(
        f"  request without the farm {before:,} B, with {size(run.first):,} B: "
        f"+{run.added:,} B (+{100 * run.added / before:.1f} %) {tokens(run.added)} per turn"
    )
    print(
        f"  of which `{NAMESPACE}` ({len(tools)} tools) {ours:,} B {tokens(ours)}, "
        f"{100 * ours / size(run.first):.1f} % of the request"
    )
    known = codex_own_tools(run.without)
    extra = {name: n for name, n in codex_own_tools(run.first).items() if name not in known}
    if extra:
        names = ", ".join(f"{name} {n:,}" for name, n in extra.items())
        print(f"  and Codex's own tools it adds once any MCP server is configured: {names} B")
    biggest = max(known.items(), key=lambda pair: pair[1])
    print(f"  for scale: Codex's largest own tool entry is `{biggest[0]}`, {biggest[1]:,} B")
    stripped = [
        f"{name} ({listed.described[name]})"
        for name, tool in tools.items()
        if listed.described.get(name) and not described_arguments(tool.get("parameters", {}))
    ]
    if stripped:
        print(
            f"  !! Codex sent these without their arguments' descriptions (described in tools/list): "
            f"{', '.join(stripped)}"
        )
    return {name: size(tool) for name, tool in tools.items()}


def report_deferred(run: Measured) -> dict[str, int]:
    tools, ours = our_tools(run.first)
    looked_up, output_bytes = lookup_result(run.with_farm)
    before = size(run.without)
    print(f"\n[3] deferred: Codex's default model `{run.first['model']}` (code mode, tools through `exec`)")
    print(
        f"  request without the farm {before:,} B, with {size(run.first):,} B: "
        f"+{run.added:,} B (+{100 * run.added / before:.1f} %) {tokens(run.added)} per turn"
    )
    if tools:
        print(f"  !! our tools are in it as entries too: {ours:,} B")
    for line in namespace_mentions(run.first):
        print(f"  the request names the namespace: {line[:90]!r}... ({len(line.encode())} B)")
    print(
        f"  the model's lookup (`exec` printing our `ALL_TOOLS` entries): {output_bytes:,} B "
        f"{tokens(output_bytes)}, in every later request of the conversation"
    )
    print(
        f"  of which tool descriptions (TypeScript declarations with input and output types) "
        f"{sum(looked_up.values()):,} B"
    )
    return looked_up


def report_table(listed: Listed, eager: dict[str, int], looked_up: dict[str, int]) -> None:
    print("\n[4] per tool, bytes (sorted by the eager request's)")
    columns = ("tools/list", "no output", "eager", "lookup")
    print(f"  {'tool':<20}" + "".join(f"{column:>12}" for column in columns))
    names = sorted(listed.with_output, key=lambda name: (-eager.get(name, 0), name))
    sources = (listed.with_output, listed.without_output, eager, looked_up)
    for name in names:
        print(f"  {name:<20}" + "".join(f"{source.get(name, 0):>12,}" for source in sources))
    print(f"  {'all':<20}" + "".join(f"{sum(source.values()):>12,}" for source in sources))
    eager_total, listed_total = sum(eager.values()), sum(listed.without_output.values())
    print(f"  eager / tools/list without output schemas: {eager_total / listed_total:.2f}")
    print(f"  lookup / eager: {sum(looked_up.values()) / eager_total:.2f}")


def header(argv: list[str], codex: Path, codex_line: str) -> None:
    """Machine, versions, the command as run and the load average."""
    print(f"machine: {machine_line()}")
    print(f"versions: {codex_line} ({codex}), mcp {metadata.version('mcp')}")
    print(f"command: python -m bench.tool_surface {shlex.join(argv)}".rstrip())
    print(f"load average at start: {load_average()}")
    print(f"tokens are estimated as bytes / {BYTES_PER_TOKEN}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.tool_surface", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--codex", type=Path, help="the Codex CLI to run (default: codex on PATH, else npm's)"
    )
    parser.add_argument(
        "--codex-version", help=f"install and run this @openai/codex (default {CODEX_VERSION})"
    )
    parser.add_argument(
        "--tools",
        default=",".join(sorted(DEFAULT_GROUPS)),
        help="FARM_TOOLS of the measured frontend: groups, comma-separated, or all (default: the frontend's)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder and the recorded requests")
    args = parser.parse_args(argv)
    codex = codex_cli(args.codex, args.codex_version)
    with bench_workdir("farm-bench-tools-", args.keep) as workdir:
        header(argv, codex, codex_version(codex, workdir / "version"))
        print(f"FARM_TOOLS={args.tools}")
        listed = asyncio.run(listed_tools(workdir, args.tools))
        # Equal-length folder names: the workspace path is in the request, both runs pay it alike.
        runs = {
            mode.name: Measured(
                run_codex(codex, workdir / f"{mode.name}-farm-off", mode, tools=None)[0],
                run_codex(codex, workdir / f"{mode.name}-farm-on", mode, tools=args.tools),
            )
            for mode in MODES
        }
        report_listing(listed)
        eager = report_eager(runs["eager"], listed)
        looked_up = report_deferred(runs["deferred"])
        report_table(listed, eager, looked_up)


if __name__ == "__main__":
    main()
