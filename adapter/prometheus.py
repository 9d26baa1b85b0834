"""Prometheus metrics of the adapter, served on `GET /metrics`.

Labels are bounded on purpose: backend model (from the settings), route (`primary`/`fallback`) and
upstream HTTP status. Never a client token, a client label or a job id: those would leak
identities and grow without bound; per-job accounting is in `WORKER_METRICS_FILE`.
"""

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from adapter.metrics import UpstreamCallRow

# Gateway calls run from well under a second to many minutes (long streams).
LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class AdapterMetrics:
    """Counters and a latency histogram in a registry of their own (one per app)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "codex_farm_adapter_upstream_requests",
            "Calls to the upstream gateways, by backend model, route and HTTP status (0: unreachable).",
            ["model", "route", "status"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "codex_farm_adapter_tokens",
            "Gateway tokens by backend model and kind (input excludes cached prompt tokens).",
            ["model", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "codex_farm_adapter_upstream_latency_seconds",
            "Time from sending a gateway request to the end of its response (or its failure).",
            ["model", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def observe(self, row: UpstreamCallRow) -> None:
        """Account for one metrics row (called for every upstream attempt)."""
        self.requests.labels(row.model, row.route, str(row.status)).inc()
        self.latency.labels(row.model, row.route).observe(row.latency_ms / 1000)
        for kind, count in (
            ("input", row.input_tokens),
            ("cached", row.cached_tokens),
            ("output", row.output_tokens),
        ):
            if count:
                self.tokens.labels(row.model, kind).inc(count)

    def render(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)
