"""`codex-farm stats`: gateway calls, tokens and estimated cost by model, queue and day.

Reads the adapter's `WORKER_METRICS_FILE` (one JSON row per gateway call). Token counts in a row
are Anthropic-style: `input_tokens` excludes the prompt tokens served from the gateway's cache,
which are `cached_tokens`. So the estimate is

    cost = input_tokens x input price + cached_tokens x cache price + output_tokens x output price

with prices in USD per million tokens. A row names its job (`job`) when the call came through a
per-job token; the job's queue is looked up in the job records in Redis (`REDIS_URL`), and shown
as `?` when Redis cannot be reached or the record has expired (`-`: a call that was not a job's).
"""

import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import redis

from codex_farm.settings import StatsSettings
from farm_core.keys import JobKeys
from farm_core.settings import FarmSettings

# Approximate list prices (USD per million tokens) of well-known models; providers change them, and
# relays (OneAPI, New API) charge their own. Override with WORKER_PRICE_* or WORKER_PRICE_TABLE.
BUILTIN_PRICES = {
    "deepseek-chat": (0.28, 0.42, 0.028),
    "deepseek-reasoner": (0.28, 0.42, 0.028),
}
NO_JOB, UNKNOWN_QUEUE = "-", "?"
BUILTIN_SOURCE = "built-in*"


@dataclass(frozen=True)
class Price:
    """USD per million tokens, and where the numbers come from."""

    input: float
    output: float
    cache: float
    source: str

    def cost(self, row: dict) -> float:
        return (
            _count(row, "input_tokens") * self.input
            + _count(row, "cached_tokens") * self.cache
            + _count(row, "output_tokens") * self.output
        ) / 1e6


class PriceBook:
    """Per-model prices: WORKER_PRICE_TABLE, else WORKER_PRICE_INPUT/OUTPUT/CACHE, else the built-in table."""

    def __init__(self, settings: StatsSettings):
        self._table = {
            model: Price(p.input, p.output, p.input if p.cache is None else p.cache, "WORKER_PRICE_TABLE")
            for model, p in settings.price_table.items()
        }
        self._flat = None
        if settings.price_input is not None or settings.price_output is not None:
            given = settings.price_input or 0.0
            cache = given if settings.price_cache is None else settings.price_cache
            self._flat = Price(given, settings.price_output or 0.0, cache, "WORKER_PRICE_*")
        self._cache: dict[str, Price | None] = {}

    def price(self, model: str) -> Price | None:
        if model not in self._cache:
            self._cache[model] = self._lookup(model)
        return self._cache[model]

    def _lookup(self, model: str) -> Price | None:
        names = [model, model.rsplit("/", 1)[-1]]  # `deepseek/deepseek-chat` as named by relays
        for name in names:
            if name in self._table:
                return self._table[name]
        if self._flat is not None:
            return self._flat
        for name in names:
            if name in BUILTIN_PRICES:
                return Price(*BUILTIN_PRICES[name], BUILTIN_SOURCE)
        return None


@dataclass
class Totals:
    """Sums over the rows of one group."""

    calls: int = 0
    errors: int = 0
    input: int = 0
    cached: int = 0
    output: int = 0
    reasoning: int = 0  # part of output
    cost: float = 0.0
    unpriced: int = 0  # rows with tokens but no known price

    def add(self, row: dict, price: Price | None) -> None:
        self.calls += 1
        self.errors += 1 if row.get("status") != 200 or row.get("error") else 0
        self.input += _count(row, "input_tokens")
        self.cached += _count(row, "cached_tokens")
        self.output += _count(row, "output_tokens")
        self.reasoning += _count(row, "reasoning_tokens")
        if price is not None:
            self.cost += price.cost(row)
        elif _count(row, "input_tokens") or _count(row, "cached_tokens") or _count(row, "output_tokens"):
            self.unpriced += 1

    def cache_hit_text(self) -> str:
        """The share of prompt tokens the gateway served from its cache."""
        prompt = self.input + self.cached
        return f"{100 * self.cached / prompt:.0f}%" if prompt else "-"

    def cost_text(self) -> str:
        if self.unpriced == self.calls and self.calls:
            return "-"
        return f"{self.cost:.4f}" + ("+?" if self.unpriced else "")


def read_rows(path: Path, since: float | None) -> tuple[list[dict], int]:
    """The rows of a metrics file (only those at or after `since`), and how many lines were unreadable."""
    rows, skipped = [], 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if not isinstance(row, dict):
                skipped += 1
                continue
            if since is None or float(row.get("ts") or 0) >= since:
                rows.append(row)
    return rows, skipped


def job_queues(job_ids: Iterable[str], redis_url: str, prefix: str) -> tuple[dict[str, str], str]:
    """Queue of each job from its record in Redis; ({}, why) when Redis cannot be read."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}, ""
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(JobKeys(prefix, job_id).record, "queue")
        found = pipe.execute()
        client.close()
    except redis.RedisError as exc:
        return {}, f"Redis unreachable ({type(exc).__name__}); queues shown as {UNKNOWN_QUEUE}"
    return {job_id: queue.decode() for job_id, queue in zip(ids, found) if queue}, ""


def summarise(rows: list[dict], key: Callable[[dict], str], prices: PriceBook) -> dict[str, Totals]:
    groups: dict[str, Totals] = defaultdict(Totals)
    for row in rows:
        groups[key(row)].add(row, prices.price(str(row.get("model") or "?")))
    return dict(sorted(groups.items()))


def render_table(title: str, groups: dict[str, Totals], extra: Callable[[str], str] | None = None) -> str:
    """A plain-text table with a total line."""
    header = [title, *NUMBER_COLUMNS] + (["prices"] if extra else [])
    total = Totals()
    lines = []
    for name, t in groups.items():
        lines.append([name, *_numbers(t)] + ([extra(name)] if extra else []))
        for field in ("calls", "errors", "input", "cached", "output", "reasoning", "cost", "unpriced"):
            setattr(total, field, getattr(total, field) + getattr(t, field))
    lines.append(["total", *_numbers(total)] + ([""] if extra else []))
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        numbers = len(NUMBER_COLUMNS) + 1
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:numbers], widths[1:numbers])
        ]
        cells += [cell.ljust(width) for cell, width in zip(row[numbers:], widths[numbers:])]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(header), *(fmt(row) for row in lines)])


def run_stats(
    metrics_file: Path | None,
    days: float | None,
    out: TextIO = sys.stdout,
    settings: StatsSettings | None = None,
) -> int:
    """Print the three tables; returns the exit status."""
    settings = settings or StatsSettings()
    path = metrics_file or settings.metrics_file
    if path is None:
        print(
            "codex-farm stats: no metrics file; pass --metrics-file or set WORKER_METRICS_FILE",
            file=sys.stderr,
        )
        return 2
    if not path.is_file():
        print(
            f"codex-farm stats: no file {path} (the adapter creates it on its first gateway call)",
            file=sys.stderr,
        )
        return 2
    since = time.time() - days * 86400 if days else None
    rows, skipped = read_rows(path, since)
    prices = PriceBook(settings)
    farm = FarmSettings()
    queues, queue_note = job_queues((r["job"] for r in rows if r.get("job")), farm.redis_url, farm.key_prefix)

    def queue_of(row: dict) -> str:
        job = row.get("job")
        return queues.get(job, UNKNOWN_QUEUE) if job else NO_JOB

    def price_of(model: str) -> str:
        price = prices.price(model)
        return "none" if price is None else f"{price.input:g}/{price.cache:g}/{price.output:g} {price.source}"

    window = f"last {days:g} days" if days else "all time"
    notes = [f"{len(rows)} gateway calls in {path} ({window})"]
    if skipped:
        notes.append(f"{skipped} unreadable line(s) skipped")
    print("; ".join(notes), file=out)
    print(file=out)
    print(
        render_table("model", summarise(rows, lambda r: str(r.get("model") or "?"), prices), price_of),
        file=out,
    )
    print(file=out)
    print(render_table("queue", summarise(rows, queue_of, prices)), file=out)
    print(file=out)
    print(
        render_table(
            "day (UTC)",
            summarise(
                rows, lambda r: time.strftime("%Y-%m-%d", time.gmtime(float(r.get("ts") or 0))), prices
            ),
        ),
        file=out,
    )
    print(file=out)
    print(
        "input = prompt tokens not served from cache; cost = input x input price + cached x cache price",
        file=out,
    )
    print("+ output x output price; prices are USD per million tokens (input/cache/output).", file=out)
    print(
        "cache hit = cached / (input + cached); reasoning = the part of output spent "
        "thinking, where the gateway reports it.",
        file=out,
    )
    if any(
        (p := prices.price(str(r.get("model") or "?"))) is not None and p.source == BUILTIN_SOURCE
        for r in rows
    ):
        print(
            f"{BUILTIN_SOURCE} approximate list prices, check your provider; set "
            "WORKER_PRICE_INPUT/OUTPUT/CACHE or WORKER_PRICE_TABLE.",
            file=out,
        )
    print(
        f"queue: {NO_JOB} = not a job's call, {UNKNOWN_QUEUE} = job record not found"
        + (f"; {queue_note}" if queue_note else ""),
        file=out,
    )
    return 0


NUMBER_COLUMNS = ("calls", "errors", "input", "cached", "cache hit", "output", "reasoning", "cost USD")


def _numbers(t: Totals) -> list[str]:
    """The cells of NUMBER_COLUMNS."""
    return [
        f"{t.calls:,}",
        f"{t.errors:,}",
        f"{t.input:,}",
        f"{t.cached:,}",
        t.cache_hit_text(),
        f"{t.output:,}",
        f"{t.reasoning:,}",
        t.cost_text(),
    ]


def _count(row: dict, key: str) -> int:
    value = row.get(key)
    return value if isinstance(value, int) and value > 0 else 0
