"""Virtual screening throughput: the reference forward, the exact fast path, and the cluster.

One run screens the same library compounds against one target three ways, all with the
bundled DrugBAN model and featurisation included:

  (a) reference   DrugBAN's literal padded forward, batches of 64
  (b) fast path   the exact Gram-matrix path (``FastScorer``), in this process, chunks of 512
  (b') monitoring the fast path in a scorer replica's core (``ScoringCore``), in this process, as
                  the replica gets it from the screening runner (featurised pieces of 256, all
                  queued on the bulk lane), with the Monitor feed off and on: the median of five
                  rounds of each, interleaved (first off, then on first, ...); each "on" round a
                  fresh feed (cold caches: a library new to the replica) sketching for an
                  in-process sink on the human training split's bins; after each, the time its
                  worker still needed to sketch everything (drain: it works while the lanes are
                  idle). Wall time, and the CPU time of this process (the worker's excluded)
  (c) cluster     a ScreeningJob on a local Ray cluster: library and target registered, the
                  job streams the library through the Serve scorer in chunks and writes Parquet;
                  the median of three jobs, each timed from submit to the end the job records;
                  the scorer replica as `repurpose up` deploys it (``--scorer-cpus`` to change)

and prints pairs per second, the ratios b/a, on/off (b') and c/b, peak memory and the largest
|Δp| between (a) and (b). (b)'s compute bound: the FLOPs per pair of the fast path, counted
from the run's own batches (GCN, projection of the distinct atom states, their product with
the target's G, the decoder), over the machine's measured matmul FLOP/s (a 2048 × 768 × 768
product, best of several); and (b)'s share of that bound (featurisation, RDKit's, is outside it).
It then registers every target of data/library/targets.csv through the service layer (as
`repurpose targets add` does: each new target's tensors are computed by the background worker
and kept in the artifact store), waits until the worker is idle (its time is reported), and
times target profiling (one compound against all of them) through the cluster's scorer: the
first call (cold) reads every target's tensors from the store (the replica's memory cache holds
only ``scorer_target_cache_mib``) into the replica's profile slab, the second (warm) reads the
slab (a local file the page cache keeps; the replica maps a stretch of it at a time).

    .venv/bin/python benchmarks/screening.py [--compounds 2000] [--skip-cluster]

Prints a table, then one JSON line of the figures. Nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from repurpose.contracts.scoring import ResolvedModel
from repurpose.data.descriptors import descriptor_profile
from repurpose.data.drug_graph import featurize_drug
from repurpose.data.protein_encoding import encode_protein
from repurpose.model.directory import load_model_dir
from repurpose.model.fast_scoring import CompoundCache, FastScorer
from repurpose.model.pair_batch import padded_drug_inputs
from repurpose.monitoring.sketch import TrafficSketch
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.core import ScoringCore
from repurpose.screening.attempt import PIECE_SIZE
from repurpose.settings import Precision, Settings

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "drugban-human"
LIBRARY = ROOT / "data" / "library" / "compounds.csv"
TARGETS = ROOT / "data" / "library" / "targets.csv"
TRAIN = ROOT / "data" / "human" / "random" / "train.csv"  # the bundled model's training split: its bins
TARGET_GENE = "P00533"  # EGFR
REFERENCE_BATCH = 64
FAST_CHUNK = 1024
CLUSTER_RUNS = 3  # (c) is the median of this many jobs
POLL_SECONDS = 0.25  # how often (c) asks whether the job has finished (not part of its time)
MONITOR_ROUNDS = 5  # (b') is the median of this many rounds with the feed off, and as many on


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reference_scores(model: torch.nn.Module, smiles: list[str], sequence: str) -> np.ndarray:
    codes = torch.from_numpy(encode_protein(sequence))[None]
    out = []
    with torch.inference_mode():
        for start in range(0, len(smiles), REFERENCE_BATCH):
            graphs = [featurize_drug(s) for s in smiles[start : start + REFERENCE_BATCH]]
            features, adjacency = padded_drug_inputs(graphs)
            logits, _ = model.reference_forward(features, adjacency, codes.expand(len(graphs), -1))  # type: ignore[operator]
            out.append(torch.sigmoid(logits).double().numpy())
    return np.concatenate(out)


def matmul_flops_per_second(repeats: int = 20) -> float:
    """The machine's float32 matmul throughput at the fast path's shapes (best of ``repeats``)."""
    a, b = torch.randn(2048, 768), torch.randn(768, 768)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * 2048 * 768 * 768 / best


def fast_flops_per_pair(model: Any, smiles: list[str]) -> float:
    """Multiply-adds ×2 of the fast path's matrix products per compound, as chunked in (b)."""
    scorer = FastScorer(model, CompoundCache(0))
    config = model.config
    width, hidden = config.ban_pooled * config.ban_k, config.drug_embedding
    flops = 0.0
    for start in range(0, len(smiles), FAST_CHUNK):
        graphs = [featurize_drug(s) for s in smiles[start : start + FAST_CHUNK]]
        atoms = sum(g.n_atoms for g in graphs)
        edges = sum(len(g.bond_src) for g in graphs) + atoms  # bonds both ways, and the self-loops
        distinct = scorer._drug_rows(graphs).v.shape[0]
        flops += 2 * atoms * config.node_features * hidden  # input layer
        flops += len(config.drug_hidden) * (2 * 2 * atoms * hidden * hidden + 2 * edges * hidden)  # GCN layers
        flops += 2 * distinct * hidden * width + 2 * distinct * width * width  # projection, (V ⊙ H) G
        widths = (config.ban_pooled, config.decoder_hidden, config.decoder_hidden, config.decoder_out, 1)
        flops += len(graphs) * sum(2 * a * b for a, b in itertools.pairwise(widths))  # decoder
    return flops / len(smiles)


def fast_scores(model: Any, smiles: list[str], sequence: str, precision: Precision = "fp32") -> np.ndarray:
    """(b): the fast path on the model's device (gpu.py uses it too)."""
    scorer = FastScorer(model, CompoundCache(0), precision)  # no cache: featurise every compound, as (a) does
    target = scorer.target_tensors(sequence)
    out = []
    for start in range(0, len(smiles), FAST_CHUNK):
        scores, failures = scorer.score(target, smiles[start : start + FAST_CHUNK])
        assert not failures
        out.append(scores)
    return np.concatenate(out)


class SketchCollector:
    """Where (b') flushes: the Monitor grain's part, in this process. It keeps the pair counts."""

    def __init__(self, edges: dict[str, list[float]]) -> None:
        self._edges = edges
        self.pairs = 0
        self.pairs_dropped = 0

    async def edges(self, model_name: str) -> dict[str, list[float]]:
        return self._edges

    async def record(self, model_name: str, sketch: TrafficSketch, job_id: str | None, flush_id: str) -> None:
        self.pairs += sketch.n

    async def dropped(self, model_name: str, pairs: int, flush_id: str) -> None:
        self.pairs_dropped += pairs


def monitoring_figures(smiles: list[str], sequence: str) -> dict[str, float]:
    """(b'): the scorer core's bulk lane on featurised pieces, the Monitor feed off and on."""
    trained = load_model_dir(MODEL)
    model = ResolvedModel(name="drugban-human", version=1, model_type="drugban", artifact_path="bench", threshold=0.5)
    graphs = [featurize_drug(s) for s in smiles]  # the screening runner's work, not the replica's
    train = pd.read_csv(TRAIN).rename(columns={"SMILES": "smiles", "Protein": "protein"})
    profile = descriptor_profile(train)
    edges = {name: feature.histogram.edges for name, feature in profile.features.items()}
    home = Path(tempfile.mkdtemp(prefix="repurpose-bench-"))

    async def one_round(monitoring: bool) -> tuple[float, float, float, SketchCollector]:
        collector = SketchCollector(edges)
        core = ScoringCore(Settings(home=home, monitoring=monitoring), collector)
        core.hold(model, trained)
        warm = ["c1ccccc1O", "CCO"]  # not in the library: its compounds stay new to the feed
        await core.score_chunk(
            ChunkRequest(
                model=model, target_key="t", sequence=sequence, smiles=warm, graphs=[featurize_drug(s) for s in warm]
            )
        )
        if core.feed is not None:
            await core.feed.flush()  # the worker process started and taught the model before the clock
            collector.pairs = 0
        pieces = [
            ChunkRequest(
                model=model,
                target_key="t",
                sequence=sequence,
                smiles=smiles[lo : lo + PIECE_SIZE],
                graphs=graphs[lo : lo + PIECE_SIZE],
                job_id="scr-000000000000",
            )
            for lo in range(0, len(smiles), PIECE_SIZE)
        ]
        started, cpu_started = time.perf_counter(), time.process_time()
        # every piece queued at once, as the runner keeps them (2 chunks of 4 pieces in flight)
        await asyncio.gather(*(core.score_chunk(piece) for piece in pieces))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        started = time.perf_counter()
        if core.feed is not None:
            await core.feed.flush()  # what the worker had still to sketch, and the flush itself
        drain = time.perf_counter() - started
        await core.close()
        return seconds, cpu_seconds, drain, collector

    timings: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    drains: list[float] = []
    sketched = dropped = 0
    for n in range(MONITOR_ROUNDS):
        for monitoring in (False, True) if n % 2 == 0 else (True, False):  # neither always runs first
            seconds, cpu_seconds, drain, collector = asyncio.run(one_round(monitoring))
            timings[monitoring].append(seconds)
            cpu[monitoring].append(cpu_seconds)
            if monitoring:
                drains.append(drain)
                sketched, dropped = sketched + collector.pairs, dropped + collector.pairs_dropped
    off, on = float(np.median(timings[False])), float(np.median(timings[True]))
    return {
        "core_pairs_per_second": len(smiles) / off,
        "core_monitored_pairs_per_second": len(smiles) / on,
        "monitored_over_unmonitored": off / on,
        "monitoring_overhead_percent": 100 * (on / off - 1),
        "monitoring_cpu_overhead_percent": 100 * (float(np.median(cpu[True])) / float(np.median(cpu[False])) - 1),
        "monitor_drain_seconds": float(np.median(drains)),
        "monitor_pairs_sketched": float(sketched / MONITOR_ROUNDS),
        "monitor_pairs_dropped": float(dropped / MONITOR_ROUNDS),
    }


def cluster_figures(
    smiles: list[str], ids: list[str], sequence: str, targets: pd.DataFrame, *, profiling: bool, scorer_cpus: int
) -> dict[str, float]:
    """(c) and target profiling on a local one-node Ray cluster with its own store."""
    import ray

    from repurpose.actors.screening_job import ScreeningJob
    from repurpose.actors.target_protein import TargetProtein, registered_targets
    from repurpose.cluster.bundled_models import BUNDLED_MODEL, register_bundled_models
    from repurpose.contracts.scoring import CompoundProfile
    from repurpose.contracts.screening import ScreenRequest
    from repurpose.grains import GrainClient
    from repurpose.scoring.profiling import aprofile_compounds
    from repurpose.scoring.service import ScorerClient, deploy_scorer
    from repurpose.scoring.target_store import worker_handle
    from repurpose.screening.runner import start_runner
    from repurpose.services.in_process import InProcessClient
    from repurpose.store import make_engine, upgrade

    home = Path(tempfile.mkdtemp(prefix="repurpose-bench-"))
    settings = Settings(
        home=home,
        ray_namespace=f"bench-{uuid.uuid4().hex[:6]}",
        grain_hosts=1,
        scorer_num_cpus=scorer_cpus,  # also the replica's PyTorch threads
        screening_chunk_size=FAST_CHUNK,
    )
    upgrade(settings.database_url)
    ray.init(address="local", num_cpus=4, include_dashboard=False, namespace=settings.ray_namespace)
    services: InProcessClient | None = None
    try:
        client = GrainClient(settings)
        services = InProcessClient.on(client)  # the service layer, as `repurpose screen` uses it
        register_bundled_models(client, names=[BUNDLED_MODEL])
        deploy_scorer(settings)
        start_runner(settings)  # warm, as `up` leaves it
        client.call(TargetProtein, TARGET_GENE, "register", sequence, idempotent=False)
        table = "compound_id,smiles\n" + "".join(f"{i},{s}\n" for i, s in zip(ids, smiles, strict=True))
        library = services.register_library(table.encode(), "bench.csv", "bench")
        scorer = ScorerClient(settings, client)
        model = asyncio.run(scorer.resolve("drugban-human"))
        asyncio.run(scorer.stats(model))  # load the model in the replica before the clock starts

        runs = []
        for _ in range(CLUSTER_RUNS):  # separate jobs: a job lasts seconds, so one run is noisy
            submitted = time.time()
            job = services.submit_screen(ScreenRequest(library_id=library.library_id, targets=[TARGET_GENE], top=100))
            while (detail := client.call(ScreeningJob, job.job_id, "show")).status == "running":
                time.sleep(POLL_SECONDS)
            assert detail.status == "succeeded" and detail.finished_at is not None, detail
            # From submit to the moment the job recorded its end (same machine, same wall clock):
            # how often we ask does not change the figure, nor steal the cores it measures.
            runs.append(detail.finished_at.timestamp() - submitted)
        cluster_seconds = float(np.median(runs))

        figures = {
            "cluster_pairs_per_second": len(smiles) / cluster_seconds,
            "cluster_seconds": cluster_seconds,
            "cluster_first_run_seconds": runs[0],
        }
        if not profiling:
            return figures
        begun = time.perf_counter()
        for gene, protein in targets.itertuples(index=False):
            if gene != TARGET_GENE:
                services.register_target(gene, protein)
        registering = time.perf_counter() - begun
        worker = worker_handle(settings)
        while ray.get(worker.pending.remote()) > 0:  # the background worker computes every target's tensors
            time.sleep(1.0)
        precompute = time.perf_counter() - begun
        worker_counts = ray.get(worker.counts.remote())
        engine = make_engine(settings.database_url)
        compound = smiles[0]

        async def profile_once() -> list[CompoundProfile]:
            registered = await asyncio.to_thread(registered_targets, engine)  # timed, as the service reads it
            return await aprofile_compounds(scorer, registered, [compound], model, top=10)

        timings = []
        for _ in range(2):  # cold: every target's tensors read from the store; warm: from the replica's slab
            begun = time.perf_counter()
            (profile,) = asyncio.run(profile_once())
            timings.append(time.perf_counter() - begun)
        stats = asyncio.run(scorer.stats(model))
        return figures | {
            "profile_targets": float(profile.targets),
            "targets_register_seconds": registering,
            "targets_precompute_seconds": precompute,
            "targets_precomputed": float(worker_counts["computed"]),
            "profile_cold_seconds": timings[0],
            "profile_warm_seconds": timings[1],
            "profile_load_average": os.getloadavg()[0],  # a shared machine: how busy it was
            "scorer_rss_mib": stats.rss_bytes / 2**20,
            "scorer_target_cache_mib": float(settings.scorer_target_cache_mib),
            "scorer_targets_in_memory": float(stats.targets),
        }
    finally:
        if services is not None:
            services.close()
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compounds", type=int, default=2000)
    parser.add_argument("--skip-cluster", action="store_true", help="only (a) and (b)")
    parser.add_argument("--skip-reference", action="store_true", help="no (a): for quick runs, not for figures")
    parser.add_argument("--skip-profiling", action="store_true", help="no target profiling (registers 2,156 targets)")
    parser.add_argument("--skip-monitoring", action="store_true", help="no (b'): the Monitor feed's cost")
    parser.add_argument(
        "--scorer-cpus",
        type=int,
        default=None,
        help="CPUs (and PyTorch threads) of the scorer replica in (c); default: what `repurpose up` deploys",
    )
    args = parser.parse_args()

    model = load_model_dir(MODEL).drugban
    assert model is not None
    library = pd.read_csv(LIBRARY).head(args.compounds)
    smiles, ids = library.smiles.tolist(), library.compound_id.tolist()
    targets = pd.read_csv(TARGETS)
    sequence = str(targets.loc[targets.gene == TARGET_GENE, "sequence"].iloc[0])

    started = time.perf_counter()
    reference = reference_scores(model, smiles[:64] if args.skip_reference else smiles, sequence)
    reference_seconds = (time.perf_counter() - started) * (len(smiles) / 64 if args.skip_reference else 1)
    reference_rss = peak_rss_mib()
    started = time.perf_counter()
    fast = fast_scores(model, smiles, sequence)
    fast_seconds = time.perf_counter() - started
    figures: dict[str, float] = {
        "compounds": float(len(smiles)),
        "threads": float(torch.get_num_threads()),
        "reference_pairs_per_second": len(smiles) / reference_seconds,
        "fast_pairs_per_second": len(smiles) / fast_seconds,
        "max_abs_delta_p": float(np.abs(reference - fast[: len(reference)]).max()),
        "peak_rss_mib": peak_rss_mib(),
        "reference_peak_rss_mib": reference_rss,
    }
    figures["fast_over_reference"] = figures["fast_pairs_per_second"] / figures["reference_pairs_per_second"]
    figures["fast_flops_per_pair"] = fast_flops_per_pair(model, smiles)
    figures["matmul_gflops"] = matmul_flops_per_second() / 1e9
    figures["fast_bound_pairs_per_second"] = figures["matmul_gflops"] * 1e9 / figures["fast_flops_per_pair"]
    figures["fast_share_of_bound"] = figures["fast_pairs_per_second"] / figures["fast_bound_pairs_per_second"]
    if not args.skip_monitoring:
        figures |= monitoring_figures(smiles, sequence)
    if not args.skip_cluster:
        scorer_cpus = args.scorer_cpus or int(Settings().scorer_num_cpus)
        figures |= cluster_figures(
            smiles, ids, sequence, targets, profiling=not args.skip_profiling, scorer_cpus=scorer_cpus
        )
        figures["scorer_cpus"] = float(scorer_cpus)
        figures["cluster_over_fast"] = figures["cluster_pairs_per_second"] / figures["fast_pairs_per_second"]

    table = Table(title=f"{len(smiles):,} compounds against {TARGET_GENE} ({torch.get_num_threads()} threads)")
    table.add_column("path")
    table.add_column("pairs/s", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row("(a) reference forward, batch 64", f"{figures['reference_pairs_per_second']:.1f}", "1")
    table.add_row(
        "(b) exact fast path, in-process",
        f"{figures['fast_pairs_per_second']:.1f}",
        f"b/a {figures['fast_over_reference']:.1f}",
    )
    if "core_pairs_per_second" in figures:
        table.add_row("(b') fast path in a scorer core, monitoring off", f"{figures['core_pairs_per_second']:.1f}", "1")
        table.add_row(
            "(b') fast path in a scorer core, monitoring on",
            f"{figures['core_monitored_pairs_per_second']:.1f}",
            f"on/off {figures['monitored_over_unmonitored']:.3f}",
        )
    if "cluster_pairs_per_second" in figures:
        table.add_row(
            f"(c) ScreeningJob on the cluster (scorer: {figures['scorer_cpus']:.0f} CPU)",
            f"{figures['cluster_pairs_per_second']:.1f}",
            f"c/b {figures['cluster_over_fast']:.2f}",
        )
    console = Console()
    console.print(table)
    console.print(f"max |Δp| between (a) and (b): {figures['max_abs_delta_p']:.2e}")
    console.print(
        f"(b)'s compute bound: {figures['fast_flops_per_pair'] / 1e6:.1f} MFLOP per pair over "
        f"{figures['matmul_gflops']:.0f} GFLOP/s of matmul = {figures['fast_bound_pairs_per_second']:.0f} pairs/s; "
        f"(b) reaches {100 * figures['fast_share_of_bound']:.0f} % of it (featurisation included in (b))"
    )
    console.print(f"peak memory of this process: {figures['peak_rss_mib']:.0f} MiB")
    if "monitoring_overhead_percent" in figures:
        console.print(
            f"monitoring overhead on the fast path: {figures['monitoring_overhead_percent']:+.1f} %; "
            f"its worker sketched {figures['monitor_pairs_sketched']:.0f} pairs a round "
            f"({figures['monitor_pairs_dropped']:.0f} dropped), "
            f"{figures['monitor_drain_seconds']:.1f} s after the last piece"
        )
    if "profile_targets" in figures:
        console.print(
            f"target profiling, one compound against {figures['profile_targets']:.0f} targets: "
            f"{figures['profile_cold_seconds']:.1f} s cold (read from the artifact store), "
            f"{figures['profile_warm_seconds']:.2f} s warm; scorer replica {figures['scorer_rss_mib']:.0f} MiB "
            f"({figures['scorer_targets_in_memory']:.0f} targets in its {figures['scorer_target_cache_mib']:.0f} MiB "
            f"cache, every one in its profile slab: a local file, outside its resident memory); "
            f"load average {figures['profile_load_average']:.1f} (1 min, this machine's)"
        )
        console.print(
            f"registering the targets: {figures['targets_register_seconds']:.1f} s; their tensors computed in the "
            f"background by {figures['targets_precompute_seconds']:.1f} s "
            f"({figures['targets_precomputed']:.0f} computed)"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
