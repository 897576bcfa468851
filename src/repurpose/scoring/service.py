"""The scorer as a Ray Serve deployment: dynamic batching, multiplexing by model version.

``deploy_scorer(settings)`` runs the application ``settings.scorer_app`` (``up`` then starts
and warms the screening runner that feeds it chunks: ``screening.runner.start_screening_runner``);
``ScorerClient`` calls it from anywhere in the cluster (the screening runner, the gateway, the CLI).

- Multiplexing: every request carries the resolved model version (as JSON) as its
  ``multiplexed_model_id``; Serve
  routes it to a replica that holds that version and each replica keeps at most
  ``scorer_max_models`` versions (``@serve.multiplexed``), loading one on first use.
- Batching: single-pair predictions are gathered by ``@serve.batch`` (``scorer_max_batch_size``,
  ``scorer_batch_wait_ms``) and scored together; ``max_ongoing_requests`` is large so batches
  can fill. A single prediction that arrives while no other is in flight on the replica is scored
  at once as a batch of one (nothing could join it: the wait would only add
  ``scorer_batch_wait_ms``); the ones arriving while it is scored batch up behind it. Requests of
  many pairs and screening chunks are batches already; screening chunks
  come featurised by the runner (``ChunkRequest.graphs``), so the replica only runs the model.
- Lanes: predictions take the replica's interactive executor, profiles and explanations its
  analysis executor, screening chunks and their hits' evidence its bulk executor
  (``ScoringCore``), so a prediction never queues behind a chunk or a long profile.
- Monitoring: every scored pair is sketched for its model's Monitor grain off the request
  path (``scoring.monitor_feed``; the setting ``monitoring``); a replica shutting down flushes.
- Traces: every method takes the caller's trace context (``trace``, from ``ScorerClient``) and
  runs as a span under it; a dynamic batch is a span of its own, under its first traced
  prediction and linked to all of them.
- Resources: ``scorer_num_cpus`` per replica, ``scorer_num_gpus`` (1 where GPUs exist: its models then
  compute on the GPU Ray assigns it, ``ScoringCore``),
  replicas and autoscaling bounds from the settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from opentelemetry.trace import Span, SpanContext
from ray import serve
from ray.serve.handle import DeploymentHandle

from repurpose.contracts.scoring import (
    ChunkScores,
    EvidenceAnswer,
    EvidenceRequest,
    Explanation,
    PairScore,
    PairToScore,
    ProfileRequest,
    ProfileScores,
    ResolvedModel,
    ScorerStats,
)
from repurpose.contracts.targets import normalize_protein
from repurpose.errors import InvalidInput, RepurposeError
from repurpose.grains import GrainClient
from repurpose.runtime import tracing
from repurpose.runtime.serving import ensure_serve, run_unless_current
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.client import ScorerClient, resolve_model
from repurpose.scoring.monitor_sink import GrainMonitorSink
from repurpose.settings import Settings

if TYPE_CHECKING:  # the replica's own (torch and the model code): `up`, which only deploys it, loads neither
    from repurpose.scoring.core import LoadedModel, ScoringCore

logger = logging.getLogger(__name__)

DEPLOYMENT = "Scorer"

__all__ = [
    "DEPLOYMENT",
    "ScorerClient",
    "build_scorer",
    "deploy_scorer",
    "resolve_model",
    "start_scorer",
    "stop_scorer",
]


def build_scorer(settings: Settings) -> serve.Application:
    """The scorer application, configured by ``settings`` (decorator arguments included)."""

    @serve.deployment(
        name=DEPLOYMENT,
        max_ongoing_requests=settings.scorer_max_ongoing_requests,
        ray_actor_options={"num_cpus": settings.scorer_num_cpus, "num_gpus": settings.scorer_num_gpus},
        autoscaling_config={
            "min_replicas": settings.scorer_replicas,
            "initial_replicas": settings.scorer_replicas,
            "max_replicas": max(settings.scorer_replicas, settings.scorer_max_replicas),
            "target_ongoing_requests": max(2, settings.scorer_max_batch_size // 2),
        },
    )
    class Scorer:
        def __init__(self, settings: Settings) -> None:
            import torch

            from repurpose.scoring.core import ScoringCore

            torch.set_num_threads(max(1, int(settings.scorer_num_cpus)))
            self.core = ScoringCore(settings, GrainMonitorSink(GrainClient(settings)))
            self.tracer = tracing.tracer(settings)
            self.batches = 0
            self.largest_batch = 0
            self.batch_sizes: Counter[int] = Counter()
            self.singles_in_flight = 0  # single-pair predictions in this replica, direct or batched

        @serve.multiplexed(max_num_models_per_replica=settings.scorer_max_models)
        async def _model(self, model_id: str) -> LoadedModel:
            resolved = ResolvedModel.model_validate_json(model_id)
            return await asyncio.to_thread(self.core.load, resolved)

        async def predict(self, pairs: list[PairToScore], trace: tracing.TraceCarrier | None = None) -> list[PairScore]:
            with self._span("predict", trace, pairs=len(pairs)) as span:
                model = await self._current_model()
                if len(pairs) != 1:
                    return await self.core.predict(model.resolved, pairs)
                _validate(self.core, model, pairs[0])
                self.singles_in_flight += 1
                try:
                    item = (model.resolved, pairs[0], span.get_span_context())
                    if self.singles_in_flight == 1:  # alone: a batch of one at once, no wait for others
                        return await self._score_batch([item])
                    return [await self._predict_batched(item)]
                finally:
                    self.singles_in_flight -= 1

        @serve.batch(
            max_batch_size=settings.scorer_max_batch_size, batch_wait_timeout_s=settings.scorer_batch_wait_ms / 1000
        )
        async def _predict_batched(
            self, items: list[tuple[ResolvedModel, PairToScore, SpanContext]]
        ) -> list[PairScore]:
            return await self._score_batch(items)

        async def _score_batch(self, items: list[tuple[ResolvedModel, PairToScore, SpanContext]]) -> list[PairScore]:
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(items))
            self.batch_sizes[len(items)] += 1
            callers = [caller for _, _, caller in items]
            with tracing.span_for_batch(
                self.tracer, "scorer batch", callers, attributes={"repurpose.pairs": len(items)}
            ):
                # One batch may mix model versions: score each version's pairs together, keep the order.
                out: list[PairScore | None] = [None] * len(items)
                groups: dict[str, list[int]] = {}
                for i, (model, _, _) in enumerate(items):
                    groups.setdefault(model.artifact_path, []).append(i)
                for index in groups.values():
                    scores = await self.core.predict(items[index[0]][0], [items[i][1] for i in index])
                    for i, score in zip(index, scores, strict=True):
                        out[i] = score
                return [s for s in out if s is not None]

        async def score_chunk(self, request: ChunkRequest, trace: tracing.TraceCarrier | None = None) -> ChunkScores:
            with self._span("score_chunk", trace, pairs=len(request.smiles)):
                await self._current_model()
                return await self.core.score_chunk(request)

        async def profile(self, request: ProfileRequest, trace: tracing.TraceCarrier | None = None) -> ProfileScores:
            with self._span("profile", trace):
                await self._current_model()
                return await self.core.profile(request)

        async def evidence(self, request: EvidenceRequest, trace: tracing.TraceCarrier | None = None) -> EvidenceAnswer:
            with self._span("evidence", trace, pairs=len(request.smiles)):
                await self._current_model()
                return await self.core.evidence(request)

        async def explain(
            self, smiles: str, sequence: str, top: int, trace: tracing.TraceCarrier | None = None
        ) -> Explanation:
            with self._span("explain", trace):
                model = await self._current_model()
                return await self.core.explain(model.resolved, smiles, sequence, top)

        async def stats(self, trace: tracing.TraceCarrier | None = None) -> ScorerStats:
            with self._span("stats", trace):
                stats = self.core.stats()
                stats.predict_batches, stats.largest_predict_batch = self.batches, self.largest_batch
                stats.predict_batch_sizes = dict(self.batch_sizes)
                stats.replica = serve.get_replica_context().replica_id.unique_id
                return stats

        async def _current_model(self) -> LoadedModel:
            return await self._model(serve.get_multiplexed_model_id())

        def _span(
            self, method: str, trace: tracing.TraceCarrier | None, pairs: int | None = None
        ) -> AbstractContextManager[Span]:
            """The replica's span of a call, under the caller's (none for an untraced caller)."""
            attributes: dict[str, str | int] = {"rpc.system": "ray_serve", "rpc.method": method}
            if pairs is not None:
                attributes["repurpose.pairs"] = pairs
            return tracing.span_under(self.tracer, f"scorer {method}", trace, attributes=attributes)

        async def __del__(self) -> None:  # Serve calls it (awaited) when the replica shuts down
            await self.core.close()

    return Scorer.bind(settings)  # type: ignore[attr-defined]  # added by @serve.deployment


def _validate(core: ScoringCore, model: LoadedModel, pair: PairToScore) -> None:
    """Refuse a bad pair before it joins a batch (where it would fail its neighbours)."""
    try:
        normalize_protein(pair.sequence)
        core.compounds.get(pair.smiles)
    except RepurposeError as error:
        raise InvalidInput(error.message) from None


def deploy_scorer(settings: Settings) -> DeploymentHandle:
    """Run (or update) the scorer application (no HTTP route: the gateway is its own Serve
    application and calls it by handle). Starts Serve first if needed (``ensure_serve``)."""
    ensure_serve(settings)
    return serve.run(build_scorer(settings), name=settings.scorer_app, route_prefix=None, blocking=False)


def start_scorer(client: GrainClient) -> list[str]:
    """A step of ``up`` (``cluster.up``): deploy (or update) the scorer application; one that runs
    already, deployed by this code with these settings, keeps its replicas (and their caches)."""
    settings = client.settings
    ran = run_unless_current(build_scorer(settings), name=settings.scorer_app, route_prefix=None, settings=settings)
    state = "" if ran else " (running, unchanged)"
    return [f"scorer        Serve application {settings.scorer_app!r}, {settings.scorer_replicas} replica(s){state}"]


def stop_scorer(settings: Settings) -> None:
    serve.delete(settings.scorer_app, _blocking=True)
