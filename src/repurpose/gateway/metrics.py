"""Prometheus metrics of a gateway replica (``GET /metrics``), and one access log line per request.

Its own registry (never the process-global one), holding:

- ``repurpose_gateway_requests_total{method,route,status}`` and the latency histogram
  ``repurpose_gateway_request_seconds{method,route}``; ``route`` is the route's template
  (``/v1/targets/{target_id}``), so ids never become labels;
- ``repurpose_gateway_requests_in_flight``: the replica's queue depth (requests accepted, not yet
  answered), and ``repurpose_gateway_scorer_calls_in_flight``: calls waiting on the scorer;
- ``repurpose_gateway_predict_pairs``: pairs per ``/v1/predict`` request (batch sizes as sent)
  and ``repurpose_gateway_pairs_scored_total{kind}``;
- the scorer's own figures, read from a scorer replica when ``/metrics`` is scraped
  (``ScorerClient.stats``): pairs scored, compound and target cache hits and misses, dynamic
  batches formed, their sizes (a histogram) and the largest, cached entries, loaded models and
  memory, each labelled with the replica that answered (``replica``);
- the monitors' figures as last read through this replica (``MonitorGauges``, set when a
  ``pairs``, ``hour`` or ``day`` window is shown: jobs would make a label per job): drift share,
  dataset drift, each feature's drift score and verdict, the out-of-domain share and the pairs,
  labelled with ``model`` and ``window``;
- live quality as last read through this replica (``QualityGauges``: feedback recorded, or a
  model's quality shown): ``repurpose_monitor_live_auroc{model,version}`` and the outcomes behind it;
- ``repurpose_alerts_firing{rule,model}``: 1 while a rule fires for a model, 0 once resolved,
  read from the stored alert states at every scrape (``AlertGauges``), so every replica says the same.

With several replicas each answers for itself (as Prometheus expects of scrape targets).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repurpose.gateway.paths import route_path

if TYPE_CHECKING:
    from repurpose.contracts.alerts import AlertState
    from repurpose.contracts.feedback import LiveQuality
    from repurpose.contracts.monitoring import MonitorReport
    from repurpose.scoring.core import ScorerStats

logger = logging.getLogger("repurpose.gateway.access")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_PAIR_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_SCORING = frozenset({"/v1/predict", "/v1/explain", "/v1/profile"})
_DOCS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})  # FastAPI's own routes


_COUNTERS: dict[str, tuple[str, Callable[[ScorerStats], float]]] = {
    "pairs_scored": ("Pairs the scorer replica scored.", lambda s: s.pairs_scored),
    "compound_cache_hits": ("Featurised compounds found in the cache.", lambda s: s.compound_hits),
    "compound_cache_misses": ("Compounds featurised anew.", lambda s: s.compound_misses),
    "compound_state_hits": ("Predicted compounds whose GCN states were kept.", lambda s: s.compound_state_hits),
    "compound_state_misses": ("Predicted compounds run through the GCN anew.", lambda s: s.compound_state_misses),
    "target_cache_hits": ("Target tensors found in the cache.", lambda s: s.target_hits),
    "target_cache_misses": ("Target tensors computed anew.", lambda s: s.target_misses),
    "predict_batches": ("Dynamic batches of single predictions.", lambda s: s.predict_batches),
}
_GAUGES: dict[str, tuple[str, Callable[[ScorerStats], float]]] = {
    "largest_predict_batch": ("The largest dynamic batch so far.", lambda s: s.largest_predict_batch),
    "cached_compounds": ("Featurised compounds in the cache.", lambda s: s.compounds),
    "cached_targets": ("Targets whose tensors are cached.", lambda s: s.targets),
    "target_cache_bytes": ("Bytes of cached target tensors.", lambda s: s.target_bytes),
    "compound_state_bytes": ("Bytes of kept compound GCN states.", lambda s: s.compound_state_bytes),
    "models_loaded": ("Model versions loaded.", lambda s: len(s.models)),
    "rss_bytes": ("Resident memory of the scorer replica.", lambda s: s.rss_bytes),
}
SCORER_STATS_MAX_AGE_SECONDS = 600.0
"""A replica not read for this long is left out (Serve replaced it, or stopped routing to it)."""


class ScorerStatsCollector(Collector):
    """Each scorer replica's figures as last read, one series per replica (label ``replica``).

    A scrape reads the replica Serve routes the call to; the others keep their last figures
    until they are ``SCORER_STATS_MAX_AGE_SECONDS`` old. Nothing before the first read.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.latest: dict[str, tuple[float, ScorerStats]] = {}

    def record(self, stats: ScorerStats) -> None:
        self.latest[stats.replica or "unknown"] = (self.clock(), stats)

    def collect(self) -> Iterator[Metric]:
        cutoff = self.clock() - SCORER_STATS_MAX_AGE_SECONDS
        for replica in [r for r, (read_at, _) in self.latest.items() if read_at < cutoff]:
            del self.latest[replica]
        replicas = sorted((replica, stats) for replica, (_, stats) in self.latest.items())
        if not replicas:
            return
        labels = ["replica"]
        for name, (help_text, value) in _COUNTERS.items():
            counter = CounterMetricFamily(f"repurpose_scorer_{name}", help_text, labels=labels)
            for replica, stats in replicas:
                counter.add_metric([replica], value(stats))
            yield counter
        batches = HistogramMetricFamily(
            "repurpose_scorer_predict_batch_size", "Sizes of the dynamic batches formed.", labels=labels
        )
        for replica, stats in replicas:
            sizes = stats.predict_batch_sizes
            cumulative = [
                (str(bound), sum(n for size, n in sizes.items() if size <= bound)) for bound in _BATCH_BUCKETS
            ]
            batches.add_metric(
                [replica], [*cumulative, ("+Inf", sum(sizes.values()))], sum_value=sum(s * n for s, n in sizes.items())
            )
        yield batches
        for name, (help_text, value) in _GAUGES.items():
            gauge = GaugeMetricFamily(f"repurpose_scorer_{name}", help_text, labels=labels)
            for replica, stats in replicas:
                gauge.add_metric([replica], value(stats))
            yield gauge


class MonitorGauges:
    """Drift figures of the monitors read through this replica (a series per model and window)."""

    WINDOWS = frozenset({"pairs", "hour", "day"})

    def __init__(self, registry: CollectorRegistry) -> None:
        window = ["model", "window"]
        self.drift_share = Gauge(
            "repurpose_monitor_drift_share", "Share of the features tested that drifted.", window, registry=registry
        )
        self.dataset_drift = Gauge(
            "repurpose_monitor_dataset_drift", "1: at least half the features drifted.", window, registry=registry
        )
        self.feature_drift = Gauge(
            "repurpose_monitor_feature_drift_score",
            "A feature's drift statistic: a p-value (ks, chi2: drift below 0.05) or a distance (normed Wasserstein, "
            "Jensen-Shannon: drift at 0.1 or more).",
            [*window, "feature"],
            registry=registry,
        )
        self.feature_drifted = Gauge(
            "repurpose_monitor_feature_drifted", "1: the feature drifted.", [*window, "feature"], registry=registry
        )
        self.out_of_domain = Gauge(
            "repurpose_monitor_out_of_domain_share",
            "Share of the window's pairs outside the model's applicability domain.",
            window,
            registry=registry,
        )
        self.pairs = Gauge("repurpose_monitor_window_pairs", "Pairs in the window.", window, registry=registry)

    def observe(self, report: MonitorReport) -> None:
        if report.window not in self.WINDOWS:
            return
        labels = (report.model, report.window)
        self.pairs.labels(*labels).set(report.pairs)
        self.dataset_drift.labels(*labels).set(1 if report.dataset_drift else 0)
        _set_or_remove(self.drift_share, labels, report.drift_share)
        _set_or_remove(self.out_of_domain, labels, report.out_of_domain_share)
        for feature in report.features:
            _set_or_remove(self.feature_drift, (*labels, feature.feature), feature.value)
            self.feature_drifted.labels(*labels, feature.feature).set(1 if feature.drifted else 0)


class QualityGauges:
    """Live quality of the model versions read through this replica (a series per model and version)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["model", "version"]
        self.auroc = Gauge(
            "repurpose_monitor_live_auroc",
            "AUROC of a model version on the outcomes fed back (feedback).",
            labels,
            registry=registry,
        )
        self.drop = Gauge(
            "repurpose_monitor_live_auroc_drop",
            "The registry's AUROC of the version minus its live AUROC.",
            labels,
            registry=registry,
        )
        self.outcomes = Gauge(
            "repurpose_monitor_feedback_outcomes", "Outcomes fed back for the version.", labels, registry=registry
        )

    def observe(self, quality: LiveQuality) -> None:
        labels = (quality.model, str(quality.version))
        self.outcomes.labels(*labels).set(quality.outcomes)
        _set_or_remove(self.auroc, labels, quality.auroc)
        _set_or_remove(self.drop, labels, quality.auroc_drop)


class AlertGauges:
    """Every alert state: 1 firing, 0 resolved (a rule that never fired for a model has no series)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.firing = Gauge(
            "repurpose_alerts_firing", "1 while the rule fires for the model.", ["rule", "model"], registry=registry
        )

    def observe(self, states: list[AlertState]) -> None:
        self.firing.clear()  # a removed rule's series goes with it
        for state in states:
            self.firing.labels(state.rule, state.model).set(1 if state.status == "firing" else 0)


def _set_or_remove(gauge: Gauge, labels: tuple[str, ...], value: float | None) -> None:
    """A figure the report does not have (nothing tested) is no series, rather than a stale one."""
    if value is not None:
        gauge.labels(*labels).set(value)
    else:
        gauge.remove(*labels)  # a no-op where there is no such series


class GatewayMetrics:
    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: a replica process holds only the gateway
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "repurpose_gateway_requests",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "repurpose_gateway_request_seconds",
            "Time to answer, in the gateway replica.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "repurpose_gateway_requests_in_flight", "Requests accepted and not yet answered.", registry=self.registry
        )
        self.scorer_in_flight = Gauge(
            "repurpose_gateway_scorer_calls_in_flight", "Calls to the scorer not yet answered.", registry=self.registry
        )
        self.predict_pairs = Histogram(
            "repurpose_gateway_predict_pairs",
            "Pairs per prediction request.",
            buckets=_PAIR_BUCKETS,
            registry=self.registry,
        )
        self.pairs_scored = Counter(
            "repurpose_gateway_pairs_scored", "Pairs scored for callers.", ["kind"], registry=self.registry
        )
        self.scorer = ScorerStatsCollector()
        self.registry.register(self.scorer)
        self.monitors = MonitorGauges(self.registry)
        self.quality = QualityGauges(self.registry)
        self.alerts = AlertGauges(self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every request by route template and status; logs the caller of each."""

    def __init__(self, app: ASGIApp, *, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app fails before answering
        metrics = self.metrics

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_recording)
        finally:
            metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            path = scope.get("path", "")
            below = route_path(scope)
            route = getattr(scope.get("route"), "path", None) or (below if below in _DOCS else "unmatched")
            method = scope.get("method", "")
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.latency.labels(method, route).observe(seconds)
            principal = scope.get("state", {}).get("principal")
            caller = getattr(principal, "subject", "-")
            # Serve logs every request already (with its id); ours adds the caller, kept for changes
            # and refusals, and left at debug level for reads and scoring, the bulk of the traffic.
            quiet = status < 400 and (method in ("GET", "HEAD") or route in _SCORING)
            logger.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %d %.1fms %s",
                method,
                path,
                status,
                seconds * 1000,
                caller,
            )
