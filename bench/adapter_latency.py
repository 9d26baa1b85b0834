"""Adapter overhead: the same 100 KB Claude Code request sent straight to the gateway and through the adapter.

Run by hand (it is not a test):

    python -m bench.adapter_latency [--requests 500] [--size 100000]

The scripted gateway and the adapter each run as their own process on loopback ports, so
the benchmark client's GIL does not distort either.  Direct requests are the adapter's own
translation of the Anthropic request (`to_openai` with the default target model and cap),
so both paths ask the gateway for the same work; the difference is the adapter's cost.
It also measures, in-process, the request translation alone and the stream translator's
throughput.  It prints numbers and ratios; it never fails the run.
"""

import argparse
import gc
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx
import orjson

from adapter.reasoning_seal import CarriedReasoning
from adapter.translate.context import ResponseContext
from adapter.translate.request import UpstreamTarget, to_openai
from adapter.translate.stream import StreamTranslator
from adapter.wire.anthropic_request import MessagesRequest
from bench.claude_code_request import claude_code_request
from bench.machine import cpu_model, load_average
from bench.servers import (
    ANSWER,
    ANSWER_CHUNKS,
    BENCH_SEAL,
    CLIENT_TOKEN,
    DEFAULT_CAP,
    DEFAULT_MODEL,
    GATEWAY_KEY,
    MARKER,
    Server,
    start_adapter,
    start_gateway,
)
from bench.timing import interleaved, keep_alive_client, post_once, stream_once, summary

GOAL_ADDED_P50_MS = 2.0


# ----------------------------------------------------------------------------- requests


@dataclass
class Bodies:
    anthropic: bytes
    openai: bytes


def _sealed_text(text: str) -> str:
    """The signature a generic-profile adapter gives a thinking block of text."""
    return BENCH_SEAL.seal("generic", CarriedReasoning("reasoning_content", text))


def build_bodies(size: int, stream: bool, reasoning: bool) -> Bodies:
    """The Anthropic request and the OpenAI request the adapter sends upstream for it (reasoning carried
    back or not)."""
    seal = BENCH_SEAL if reasoning else None
    sealer = _sealed_text if reasoning else None
    anthropic = json.dumps(
        claude_code_request(size, stream=stream, marker=MARKER, seal_reasoning=sealer)
    ).encode()
    target = UpstreamTarget(DEFAULT_MODEL, DEFAULT_CAP, seal=seal)
    translated = to_openai(MessagesRequest.model_validate_json(anthropic), target)
    return Bodies(anthropic, orjson.dumps(translated.payload))


def check_answers(direct: httpx.Client, via: httpx.Client, plain: Bodies, streamed: Bodies) -> None:
    """One request of each kind, checked for the scripted answer, before anything is timed."""
    completion = direct.post("/v1/chat/completions", content=plain.openai).json()
    assert completion["choices"][0]["message"]["content"] == ANSWER, completion
    message = via.post("/v1/messages", content=plain.anthropic).json()
    assert [b["text"] for b in message["content"] if b["type"] == "text"] == [ANSWER], message
    with via.stream("POST", "/v1/messages", content=streamed.anthropic) as response:
        text = "".join(
            event["delta"].get("text", "")
            for line in response.iter_lines()
            if line.startswith("data:") and (event := json.loads(line[5:]))["type"] == "content_block_delta"
        )
    assert text == ANSWER, text
    chunks = 0
    with direct.stream("POST", "/v1/chat/completions", content=streamed.openai) as response:
        chunks = sum(1 for line in response.iter_lines() if line.startswith("data:"))
    assert chunks >= ANSWER_CHUNKS, chunks


# ----------------------------------------------------------------------------- statistics


def print_table(title: str, direct: list[float], via: list[float]) -> float:
    """Print direct / via adapter / added rows; return the added p50 in ms."""
    d, a = summary(direct), summary(via)
    added = tuple(x - y for x, y in zip(a, d))
    print(f"\n{title}  (n={len(direct)} each)")
    print(f"  {'':28}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for label, row in (("direct", d), ("via adapter", a), ("added (adapter - direct)", added)):
        print(f"  {label:28}{row[0]:10.2f}{row[1]:10.2f}{row[2]:10.2f}")
    print(f"  ratio adapter/direct p50 {a[0] / d[0]:.2f}x, p99 {a[1] / d[1]:.2f}x")
    verdict = "PASS" if added[0] <= GOAL_ADDED_P50_MS else "FAIL"
    print(f"  {verdict}: added p50 {added[0]:.2f} ms (goal <= {GOAL_ADDED_P50_MS:.0f} ms)")
    return added[0]


# ----------------------------------------------------------------------------- end to end


def measure_end_to_end(args: argparse.Namespace) -> None:
    plain, streamed = (
        build_bodies(args.size, False, args.reasoning),
        build_bodies(args.size, True, args.reasoning),
    )
    assistant_turns = sum(1 for m in json.loads(plain.openai)["messages"] if m["role"] == "assistant")
    print(f"reasoning: {'sealed in every history turn and in each answer' if args.reasoning else 'none'}")
    print(
        f"request: Anthropic {len(plain.anthropic):,} B -> OpenAI {len(plain.openai):,} B "
        f"(model {DEFAULT_MODEL}, max_tokens cap {DEFAULT_CAP}); answer: {len(ANSWER.split())} words, "
        f"{ANSWER_CHUNKS} chunks when streamed"
    )
    with tempfile.TemporaryDirectory(prefix="adapter-bench-") as tmp:
        workdir = Path(tmp)
        servers: list[Server] = []
        try:
            gateway = start_gateway(workdir, assistant_turns, reasoning=args.reasoning)
            servers.append(gateway)
            adapter = start_adapter(workdir, gateway.url + "/v1", args.adapter_log_level)
            servers.append(adapter)
            print(
                f"gateway pid {gateway.pid} :{gateway.port}, adapter pid {adapter.pid} :{adapter.port} "
                f"(adapter log level {args.adapter_log_level})"
            )
            json_headers = {"content-type": "application/json"}
            with (
                keep_alive_client(
                    gateway.url, {**json_headers, "authorization": f"Bearer {GATEWAY_KEY}"}
                ) as direct,
                keep_alive_client(
                    adapter.url,
                    {**json_headers, "x-api-key": CLIENT_TOKEN, "anthropic-version": "2023-06-01"},
                ) as via,
                httpx.Client(base_url=gateway.url) as control,
            ):
                check_answers(direct, via, plain, streamed)

                def between() -> None:
                    # The gateway keeps every request it saw; clear them so its memory stays flat.
                    control.post("/_control/reset")
                    gc.collect()

                # CPU of the process serving each path: the gateway for direct, the adapter via the adapter.
                pids = {"direct": gateway.pid, "adapter": adapter.pid}
                runs = {
                    "direct": lambda: post_once(direct, "/v1/chat/completions", plain.openai),
                    "adapter": lambda: post_once(via, "/v1/messages", plain.anthropic),
                }
                interleaved(runs, args.warmup, args.batch, between, pids)
                plain_run = interleaved(runs, args.requests, args.batch, between, pids)

                stream_runs = {
                    "direct": lambda: stream_once(direct, "/v1/chat/completions", streamed.openai),
                    "adapter": lambda: stream_once(via, "/v1/messages", streamed.anthropic),
                }
                interleaved(stream_runs, args.warmup, args.batch, between, pids)
                stream_run = interleaved(stream_runs, args.requests, args.batch, between, pids)
        finally:
            for server in reversed(servers):
                server.stop()

    plain_times, stream_times = plain_run.times, stream_run.times
    print_table(
        "non-streaming total latency: POST /v1/chat/completions vs POST /v1/messages",
        plain_times["direct"],
        plain_times["adapter"],
    )
    print_table(
        "streaming time to first event (direct: first chunk; adapter: message_start)",
        [t[0] for t in stream_times["direct"]],
        [t[0] for t in stream_times["adapter"]],
    )
    print_table(
        "streaming full-stream time",
        [t[1] for t in stream_times["direct"]],
        [t[1] for t in stream_times["adapter"]],
    )
    n = args.requests
    print("\nserver CPU per request (user+sys from /proc, during that path's batches)")
    for label, measured in (("non-streaming", plain_run), ("streaming", stream_run)):
        print(
            f"  {label:14} adapter {measured.cpu_s['adapter'] / n * 1000:5.2f} ms   "
            f"gateway (direct path) {measured.cpu_s['direct'] / n * 1000:5.2f} ms"
        )


# ----------------------------------------------------------------------------- in-process


def measure_translation_cost(size: int, runs: int, reasoning: bool) -> None:
    """The adapter's request work alone: parse, translate, serialise (what it does before sending
    upstream)."""
    raw = build_bodies(size, False, reasoning).anthropic
    target = UpstreamTarget(DEFAULT_MODEL, DEFAULT_CAP, seal=BENCH_SEAL if reasoning else None)
    parse, translate, dump, total = [], [], [], []
    for _ in range(runs + 20):
        t0 = time.perf_counter()
        parsed = MessagesRequest.model_validate(orjson.loads(raw))
        t1 = time.perf_counter()
        translated = to_openai(parsed, target)
        t2 = time.perf_counter()
        orjson.dumps(translated.payload)
        t3 = time.perf_counter()
        parse.append(t1 - t0)
        translate.append(t2 - t1)
        dump.append(t3 - t2)
        total.append(t3 - t0)
    print(f"\nrequest translation in-process, {len(raw):,} B request ({runs} runs after 20 warm-up)")
    print(f"  {'':44}{'p50 ms':>10}{'p99 ms':>10}")
    for label, values in (
        ("parse: orjson.loads + model_validate", parse),
        ("to_openai", translate),
        ("serialise: orjson.dumps(payload)", dump),
        ("total", total),
    ):
        p50, p99, _ = summary(values[20:])
        print(f"  {label:44}{p50:10.2f}{p99:10.2f}")


def stream_mix() -> list[dict]:
    """One realistic upstream stream: role chunk, reasoning, text, two parallel tool calls
    whose argument pieces arrive interleaved (0, 1, 0, 1, ...), finish, usage."""

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": DEFAULT_MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }

    def pieces(text: str, count: int) -> list[str]:
        bounds = [len(text) * i // count for i in range(count + 1)]
        return [text[bounds[i] : bounds[i + 1]] for i in range(count)]

    reasoning = (
        "The test fails because the helper multiplies before it clamps; reading both files shows where. " * 2
    )
    text = "I will read the helper and its test, then run the suite to confirm the failure. " * 2
    calls = [
        (
            "call_0",
            "Read",
            json.dumps({"file_path": "/srv/checkout/src/helpers/scale.py", "offset": 1, "limit": 200}),
        ),
        (
            "call_1",
            "Bash",
            json.dumps({"command": "python -m pytest tests/test_scale.py -x -q", "description": "run it"}),
        ),
    ]
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"reasoning_content": p}) for p in pieces(reasoning, 15)]
    chunks += [chunk({"content": p}) for p in pieces(text, 15)]
    for index, (call_id, name, _) in enumerate(calls):
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
    split = [pieces(arguments, 8) for _, _, arguments in calls]
    for step in range(8):
        for index in range(len(calls)):
            chunks.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": split[index][step]}}]})
            )
    chunks.append(chunk({}, "tool_calls"))
    chunks.append(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": DEFAULT_MODEL,
            "choices": [],
            "usage": {
                "prompt_tokens": 30000,
                "completion_tokens": 180,
                "total_tokens": 30180,
                "prompt_tokens_details": {"cached_tokens": 28000},
            },
        }
    )
    return chunks


def translate_stream(chunks: list[dict], context: ResponseContext) -> bytes:
    translator = StreamTranslator(context, "msg_bench")
    out = [translator.start()]
    for chunk in chunks:
        out.append(translator.feed(chunk))
    out.append(translator.finish())
    return b"".join(out)


def measure_stream_throughput(total_chunks: int) -> None:
    chunks = stream_mix()
    context = ResponseContext(request_model="claude-opus-5-5")
    sample = translate_stream(chunks, context)
    events_per_stream = sample.count(b"event: ")
    assert b"event: message_stop" in sample and sample.count(b'"type":"tool_use"') == 2, sample
    streams = max(1, total_chunks // len(chunks))
    lines = [json.dumps(c, separators=(",", ":")) for c in chunks]

    def run(decode: bool) -> float:
        gc.collect()
        started = time.perf_counter()
        for _ in range(streams):
            translator = StreamTranslator(context, "msg_bench")
            translator.start()
            if decode:
                for line in lines:
                    translator.feed(json.loads(line))
            else:
                for chunk in chunks:
                    translator.feed(chunk)
            translator.finish()
        return time.perf_counter() - started

    run(False)  # warm-up
    print(
        f"\nstream translation in-process: {streams:,} streams x {len(chunks)} chunks = "
        f"{streams * len(chunks):,} chunks "
        f"-> {streams * events_per_stream:,} events ({events_per_stream} per stream)"
    )
    for label, decode in (("pre-decoded chunk dicts", False), ("json.loads per chunk + translate", True)):
        elapsed = min(run(decode) for _ in range(3))
        chunk_rate, event_rate = streams * len(chunks) / elapsed, streams * events_per_stream / elapsed
        print(
            f"  {label:34} {chunk_rate:12,.0f} chunks/s {event_rate:12,.0f} events/s "
            f"({elapsed / (streams * len(chunks)) * 1e6:.2f} us/chunk, best of 3)"
        )


# ----------------------------------------------------------------------------- header, main


def print_header(argv: list[str]) -> None:
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("uvicorn", "starlette", "httpx", "pydantic")
    )
    print("adapter overhead benchmark")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()} ({versions})")
    print(f"command: {shlex.join(['python', '-m', 'bench.adapter_latency', *argv])}")
    print(f"load average at start: {load_average()}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.adapter_latency", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=500, help="timed requests per path and mode")
    parser.add_argument(
        "--size", type=int, default=100_000, help="target size of the Anthropic request in bytes"
    )
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per path and mode first")
    parser.add_argument(
        "--batch", type=int, default=50, help="direct/adapter alternate in batches of this many"
    )
    parser.add_argument(
        "--stream-chunks", type=int, default=200_000, help="chunks fed to the stream translator"
    )
    parser.add_argument(
        "--translate-runs", type=int, default=500, help="runs of the in-process request translation"
    )
    parser.add_argument(
        "--adapter-log-level", default="info", help="the adapter's --log-level (as deployed: info)"
    )
    parser.add_argument(
        "--reasoning",
        action="store_true",
        help="the gateway answers with reasoning and every history turn carries sealed reasoning back",
    )
    args = parser.parse_args(argv)

    print_header(argv)
    measure_end_to_end(args)
    measure_translation_cost(args.size, args.translate_runs, args.reasoning)
    measure_stream_throughput(args.stream_chunks)
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
