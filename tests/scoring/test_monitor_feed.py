"""A scorer replica feeds its models' monitors: exact sketches, counted drops, periodic flushes with
flush ids, retries counted once by the real Monitor grain, a killed grain host that costs at most the
batch in flight (counted), and scores the feed does not change."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repurpose.actors.model_registry import register_model_dir
from repurpose.contracts.models import ModelLineage
from repurpose.contracts.monitoring import MonitorReport
from repurpose.contracts.scoring import DOMAIN_THRESHOLD, PairToScore, ProfileRequest, ResolvedModel
from repurpose.contracts.training import KnnTraining
from repurpose.data.descriptors import COMPOUND_DESCRIPTORS, bin_counts, describe_compounds, histogram_edges
from repurpose.grains import GrainClient
from repurpose.model.directory import TrainedModel, load_model_dir
from repurpose.model.similarity import packed_fingerprints
from repurpose.monitoring.sketch import UNIT_EDGES, TrafficSketch
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.core import ScoringCore
from repurpose.scoring.monitor_feed import MonitorFeed
from repurpose.scoring.monitor_sink import MONITOR, GrainMonitorSink
from repurpose.scoring.monitor_worker import ScoredPairs, TrafficAggregator
from repurpose.settings import Settings
from tests.helpers import BUNDLED_DIR, LIBRARY_FILE, SAMPLE_TRAIN, SAMPLE_VAL, kill_host, wait_for_new_host

VAL = pd.read_csv(SAMPLE_VAL)
LIBRARY = pd.read_csv(LIBRARY_FILE).smiles.head(100).tolist()  # distinct compounds
JOB = "scr-00000000feed"
MODEL = ResolvedModel(name="drugban-human", version=1, model_type="drugban", artifact_path="bundled", threshold=0.5)


class Collector:
    """A sink that keeps what the feed sends (the Monitor grain's part, in this process); its first
    ``failures`` calls to ``record`` raise, as a lost connection would."""

    def __init__(self, edges: dict[str, list[float]] | None = None, failures: int = 0) -> None:
        self._edges = edges or {}
        self.failures = failures
        self.record_calls: list[tuple[str, str | None, int, str, float]] = []  # name, job, pairs, flush id, when
        self.recorded: list[tuple[str, str | None, TrafficSketch]] = []
        self.dropped_calls: list[tuple[str, int, str]] = []

    async def edges(self, model_name: str) -> dict[str, list[float]]:
        return self._edges

    async def record(self, model_name: str, sketch: TrafficSketch, job_id: str | None, flush_id: str) -> None:
        self.record_calls.append((model_name, job_id, sketch.n, flush_id, time.monotonic()))
        if len(self.record_calls) <= self.failures:
            raise ConnectionError("the grain host went away")
        self.recorded.append((model_name, job_id, sketch))

    async def dropped(self, model_name: str, pairs: int, flush_id: str) -> None:
        self.dropped_calls.append((model_name, pairs, flush_id))

    @property
    def pairs(self) -> int:
        return sum(sketch.n for _, _, sketch in self.recorded)


async def flushed_and_closed(core: ScoringCore) -> None:
    """Flush without the time limit of ``close`` (the worker process starts slowly on a busy machine), then close."""
    if core.feed is not None:
        await core.feed.flush()
    await core.close()


@pytest.fixture(scope="module")
def bundled() -> TrainedModel:
    return load_model_dir(BUNDLED_DIR)


def test_the_aggregator_sketches_every_scored_pair_once_and_describes_each_compound_once(
    bundled: TrainedModel,
) -> None:
    evidence = bundled.evidence
    assert evidence is not None and evidence.compounds is not None
    compounds = list(dict.fromkeys(VAL.SMILES))[:12]
    smiles = [*compounds, compounds[0], compounds[1], "C1CC"]  # two compounds twice; one RDKit refuses
    protein = VAL.Protein[0]
    scores = np.linspace(0.05, 0.95, len(smiles))
    scores[5] = np.nan  # a pair that was not scored
    kept = [i for i in range(len(smiles) - 1) if i != 5]
    table = describe_compounds([smiles[i] for i in kept])
    edges = {name: histogram_edges(table[name].to_numpy(dtype=np.float64)) for name in COMPOUND_DESCRIPTORS}
    aggregator = TrafficAggregator(capacity=100)
    aggregator.learn("v1", evidence.compounds)

    added = aggregator.add(ScoredPairs("m", "v1", JOB, smiles, [protein], scores), edges)
    again = aggregator.add(ScoredPairs("m", "v1", None, compounds[:4], [protein] * 4, np.full(4, 0.5)), edges)
    taken = {job: sketch for _, job, sketch in aggregator.take()}

    assert (added, again) == (len(kept), 4)
    assert set(taken) == {JOB, None} and aggregator.take() == []
    sketch = taken[JOB]
    assert sketch.n == len(kept)
    for name in COMPOUND_DESCRIPTORS:
        assert sketch.features[name].counts == bin_counts(table[name].to_numpy(dtype=np.float64), edges[name])
    assert sketch.features["protein_length"].counts == [len(kept)]  # no reference edges: one bin
    assert sketch.features["protein_length"].total == len(kept) * len(protein)
    assert sketch.scores.total == pytest.approx(scores[kept].sum())
    similarity = evidence.max_training_similarity(packed_fingerprints([smiles[i] for i in kept]))
    assert similarity is not None
    assert sketch.max_training_tanimoto.counts == bin_counts(similarity, UNIT_EDGES)
    assert (sketch.domain_known, sketch.out_of_domain) == (len(kept), int((similarity < DOMAIN_THRESHOLD).sum()))
    # each distinct compound was described, and its domain computed, once: the second batch was all cached
    assert aggregator.compounds.misses == len(compounds) and aggregator.domain_misses == len(compounds)


def test_a_full_queue_drops_batches_and_the_flush_counts_them(tmp_path: Path, bundled: TrainedModel) -> None:
    settings = Settings(home=tmp_path, monitor_queue_pairs=100)
    sink = Collector()
    feed = MonitorFeed(settings, sink)
    compounds = LIBRARY[:60]
    protein = VAL.Protein[0]

    def offer(n: int, job: str | None) -> None:
        feed.offer(MODEL, bundled, job, compounds[:n], [protein], np.full(n, 0.5))

    async def scenario() -> None:
        offer(60, JOB)
        offer(60, JOB)  # 120 waiting > 100: dropped
        offer(40, None)  # 100 waiting: fits
        await feed.flush()
        await feed.close()

    asyncio.run(scenario())

    assert (feed.counts.offered, feed.counts.dropped, feed.counts.flushed) == (160, 60, 100)
    assert sorted((job or "", sketch.n) for _, job, sketch in sink.recorded) == [("", 40), (JOB, 60)]
    assert [(name, pairs) for name, pairs, _ in sink.dropped_calls] == [("drugban-human", 60)]


def test_it_flushes_on_its_period_and_retries_a_flush_with_its_id(tmp_path: Path, bundled: TrainedModel) -> None:
    period = 2.0
    settings = Settings(home=tmp_path, monitor_flush_seconds=period)
    sink = Collector(failures=1)
    feed = MonitorFeed(settings, sink)
    compounds = LIBRARY[:20]

    async def wait_for_records(count: int) -> None:
        deadline = time.monotonic() + 120  # the worker process starts on first use: slow on a loaded machine
        while len(sink.recorded) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def scenario() -> tuple[float, int]:
        feed.start()
        started = time.monotonic()
        feed.offer(MODEL, bundled, JOB, compounds, [VAL.Protein[0]], np.full(20, 0.25))
        await asyncio.sleep(period / 4)
        early = len(sink.record_calls)  # nothing is sent before the period has passed
        await wait_for_records(1)
        feed.offer(MODEL, bundled, JOB, compounds[:5], [VAL.Protein[1]], np.full(5, 0.75))
        await wait_for_records(2)
        await feed.close()
        return started, early

    started, early = asyncio.run(scenario())

    assert early == 0
    (_, job, n, first_id, first_at), (_, _, _, retry_id, _), (_, _, _, second_id, _) = sink.record_calls
    assert first_at - started >= period  # the first flush came when its period was up
    assert (job, n) == (JOB, 20) and retry_id == first_id  # the retry carried the same flush id
    assert second_id != first_id  # the next flush has its own
    assert [sketch.n for _, _, sketch in sink.recorded] == [20, 5]
    assert (feed.counts.flushes, feed.counts.failed_flushes, feed.counts.dropped) == (2, 0, 0)


def test_scores_with_the_feed_on_are_the_scores_without_it(tmp_path: Path, bundled: TrainedModel) -> None:
    val = VAL.head(24)
    pairs = [PairToScore(smiles=s, sequence=p) for s, p in zip(val.SMILES, val.Protein, strict=True)]
    chunk = ChunkRequest(model=MODEL, target_key="t", sequence=val.Protein[0], smiles=[*val.SMILES, "C1CC"], job_id=JOB)
    profile = ProfileRequest(
        model=MODEL, smiles=val.SMILES[0], targets=[(f"t{i}", p) for i, p in enumerate(val.Protein)]
    )
    sink = Collector()

    async def scored(core: ScoringCore) -> tuple[object, ...]:
        core.hold(MODEL, bundled)
        answers = (
            (await core.score_chunk(chunk)).scores,
            await core.predict(MODEL, pairs),
            (await core.profile(profile)).scores,
        )
        await flushed_and_closed(core)
        return answers

    without = asyncio.run(scored(ScoringCore(Settings(home=tmp_path))))
    monitored = ScoringCore(Settings(home=tmp_path), sink)
    with_feed = asyncio.run(scored(monitored))

    assert monitored.feed is not None
    assert with_feed == without
    assert sink.pairs == 3 * len(val)  # every scored pair of the three lanes; not the compound RDKit refused
    assert {job for _, job, _ in sink.recorded} == {JOB, None}
    assert ScoringCore(Settings(home=tmp_path, monitoring=False), sink).feed is None


class LostAnswers:
    """The Monitor grain through its sink, whose first answers to ``record`` and ``dropped`` are lost
    after the grain acted: the feed must send both again, and the grain count each once."""

    def __init__(self, sink: GrainMonitorSink) -> None:
        self.sink = sink
        self.lost = {"record": 1, "dropped": 1}

    async def edges(self, model_name: str) -> dict[str, list[float]]:
        return await self.sink.edges(model_name)

    async def record(self, model_name: str, sketch: TrafficSketch, job_id: str | None, flush_id: str) -> None:
        await self.sink.record(model_name, sketch, job_id, flush_id)
        self._maybe_lose("record")

    async def dropped(self, model_name: str, pairs: int, flush_id: str) -> None:
        await self.sink.dropped(model_name, pairs, flush_id)
        self._maybe_lose("dropped")

    def _maybe_lose(self, call: str) -> None:
        if self.lost[call]:
            self.lost[call] -= 1
            raise ConnectionError(f"the answer to {call} was lost")


@pytest.mark.slow
def test_the_monitor_grain_counts_a_retried_flush_once(client: GrainClient, knn_model_dir: Path) -> None:
    lineage = ModelLineage(source="bundled:files", code_version="0.1.0", training=KnnTraining())
    detail = register_model_dir(client, "knn-fed", knn_model_dir, lineage)
    model = ResolvedModel(
        name="knn-fed", version=detail.version, model_type="knn", artifact_path=detail.artifact_path, threshold=0.5
    )
    train = pd.read_csv(SAMPLE_TRAIN)
    smiles = list(dict.fromkeys(train.SMILES))[:30]
    settings = client.settings.with_overrides(monitor_queue_pairs=len(smiles))
    core = ScoringCore(settings, LostAnswers(GrainMonitorSink(client)))
    core.hold(model, load_model_dir(knn_model_dir))
    chunk = ChunkRequest(model=model, target_key="t", sequence=train.Protein[0], smiles=smiles, job_id=JOB)

    core.score_chunk_now(chunk)  # the blocking path: the feed's task has not taken anything yet
    core.score_chunk_now(chunk.model_copy(update={"smiles": smiles[:7]}))  # the queue is full: dropped
    asyncio.run(flushed_and_closed(core))

    report: MonitorReport = client.call(MONITOR, "knn-fed", "report", f"job:{JOB}")
    assert (report.pairs, report.dropped) == (len(smiles), 7)


@pytest.mark.slow
def test_a_killed_grain_host_loses_at_most_the_unflushed_batch_and_counts_it(
    client: GrainClient, knn_model_dir: Path
) -> None:
    lineage = ModelLineage(source="bundled:files", code_version="0.1.0", training=KnnTraining())
    detail = register_model_dir(client, "knn-killed", knn_model_dir, lineage)
    model = ResolvedModel(
        name="knn-killed", version=detail.version, model_type="knn", artifact_path=detail.artifact_path, threshold=0.5
    )
    train = pd.read_csv(SAMPLE_TRAIN)
    smiles = list(dict.fromkeys(train.SMILES))[:30]
    core = ScoringCore(client.settings, GrainMonitorSink(client))
    core.hold(model, load_model_dir(knn_model_dir))
    first = ChunkRequest(model=model, target_key="t", sequence=train.Protein[0], smiles=smiles[:20], job_id=JOB)
    last = first.model_copy(update={"smiles": smiles[20:]})

    async def scenario() -> None:
        assert core.feed is not None
        await asyncio.to_thread(core.score_chunk_now, first)
        await core.feed.flush()  # the first batch reaches the grain
        killed = await asyncio.to_thread(kill_host, client, MONITOR, "knn-killed")
        await asyncio.to_thread(core.score_chunk_now, last)
        await core.feed.flush()  # while the host is replaced: retried, then recorded or dropped and counted
        await asyncio.to_thread(wait_for_new_host, client, MONITOR, "knn-killed", killed)
        await flushed_and_closed(core)  # a drop count not yet acknowledged goes now

    asyncio.run(scenario())

    assert core.feed is not None
    report: MonitorReport = client.call(MONITOR, "knn-killed", "report", "pairs")
    assert (report.pairs, report.dropped) in {(30, 0), (20, 10)}  # nothing lost but the batch in flight
    assert report.dropped == core.feed.counts.dropped
