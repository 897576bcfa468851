"""How cheap is a grain? Activate thousands of TargetProtein grains on ONE grain host.

Starts a one-node Ray cluster on a SQLite store in a temporary folder, then:

  register   registers N targets through the real ``TargetProtein`` grain (as
             `repurpose targets add` does: validation, write-through, idempotency record), on a
             separate registration host that is then stopped, so nothing stays in memory
  cold pass  one read call (``summary`` by default) per target on a fresh grain host: each call
             activates its grain from the store
  warm pass  the same calls again, on the activations now in memory
  baseline   as many calls to a bare async Ray actor that does nothing (Ray's own call cost)

Sequences come from the screening library's targets (data/library/targets.csv, 2,156 human
proteins, UniProt accessions). Beyond 2,156 targets the library is reused under isoform-style
ids (``P00533-2``, ``P00533-3`` …) with the same sequences, so every grain holds a real protein.

Prints a table (times, rates, the host's resident memory before and after, per activation)
followed by one JSON line with the same figures.

    .venv/bin/python benchmarks/grain_activations.py [--grains 5000] [--method summary|show]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import ray

from repurpose.actors.target_protein import TargetProtein
from repurpose.contracts.targets import check_target_id
from repurpose.grains import GrainClient
from repurpose.settings import Settings
from repurpose.store import upgrade

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "data" / "library" / "targets.csv"
WARM_UP_ID = "WARMUP"  # a registered target outside the timed set: the read host learns the kind on it


def library_targets(path: Path, count: int) -> list[tuple[str, str]]:
    """``count`` (target id, sequence) pairs: the library's targets, then isoform-style copies."""
    with path.open(newline="") as f:
        library = [(row["gene"], row["sequence"]) for row in csv.DictReader(f)]
    targets = []
    for i in range(count):
        accession, sequence = library[i % len(library)]
        copy = i // len(library)
        target_id = accession if copy == 0 else f"{accession}-{copy + 1}"
        check_target_id(target_id)
        targets.append((target_id, sequence))
    return targets


@ray.remote(num_cpus=0)
class Echo:
    async def call(self, kind: str, key: str, method: str) -> int:
        return 0


async def in_waves(calls: list[Callable[[], Awaitable[Any]]], concurrency: int) -> float:
    """Seconds to run ``calls``, ``concurrency`` at a time."""
    started = time.perf_counter()
    for i in range(0, len(calls), concurrency):
        await asyncio.gather(*(call() for call in calls[i : i + concurrency]))
    return time.perf_counter() - started


def register_all(client: GrainClient, targets: list[tuple[str, str]], concurrency: int) -> float:
    def register(target_id: str, sequence: str) -> Callable[[], Awaitable[Any]]:
        return lambda: client.acall(
            TargetProtein, target_id, "register", sequence, organism="Homo sapiens", idempotent=False
        )

    return asyncio.run(in_waves([register(t, s) for t, s in targets], concurrency))


def read_all(client: GrainClient, ids: list[str], method: str, concurrency: int) -> float:
    def read(target_id: str) -> Callable[[], Awaitable[Any]]:
        return lambda: client.acall(TargetProtein, target_id, method)

    return asyncio.run(in_waves([read(t) for t in ids], concurrency))


def bare_all(echo: ray.actor.ActorHandle, ids: list[str], method: str, concurrency: int) -> float:
    def bare(target_id: str) -> Callable[[], Awaitable[Any]]:
        return lambda: echo.call.remote(TargetProtein.kind, target_id, method)

    return asyncio.run(in_waves([bare(t) for t in ids], concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grains", type=int, default=5000, help="TargetProtein grains to register and activate")
    parser.add_argument("--method", choices=("summary", "show"), default="summary", help="the read call per grain")
    parser.add_argument("--concurrency", type=int, default=500, help="calls in flight at once")
    parser.add_argument("--targets", type=Path, default=TARGETS, help="CSV with gene,sequence columns")
    args = parser.parse_args()
    if args.grains < 1:
        parser.error("--grains must be at least 1")

    targets = library_targets(args.targets, args.grains)
    ids = [target_id for target_id, _ in targets]
    mean_residues = sum(len(sequence) for _, sequence in targets) / len(targets)

    with tempfile.TemporaryDirectory(prefix="repurpose-bench-") as home:
        namespace = f"repurpose-bench-{uuid.uuid4().hex[:8]}"
        common: dict[str, Any] = {"home": Path(home), "ray_namespace": namespace, "grain_idle_seconds": 3600}
        writer_settings = Settings(**common, grain_pool="bench-register", grain_hosts=1)
        reader_settings = Settings(**common, grain_pool="bench", grain_hosts=1)
        upgrade(reader_settings.database_url)

        ray.init(address="local", num_cpus=2, include_dashboard=False, namespace=namespace, log_to_driver=False)
        writer, reader = GrainClient(writer_settings), GrainClient(reader_settings)
        try:
            writer.start()
            register_all(writer, [(WARM_UP_ID, targets[0][1])], 1)  # the host learns the kind
            registered = register_all(writer, targets, args.concurrency)
            writer.stop()  # its activations go; the read host starts from the store alone

            (idle,) = reader.start()
            asyncio.run(reader.acall(TargetProtein, WARM_UP_ID, args.method))
            (before,) = reader.stats()
            cold = read_all(reader, ids, args.method, args.concurrency)
            (after,) = reader.stats()
            warm = read_all(reader, ids, args.method, args.concurrency)
            echo = Echo.remote()  # type: ignore[attr-defined]
            ray.get(echo.call.remote("", "", ""))
            bare = bare_all(echo, ids, args.method, args.concurrency)
        finally:
            writer.stop()
            reader.stop()
            ray.shutdown()

    activations = after.activations - before.activations
    per_activation = (after.rss_bytes - before.rss_bytes) / activations
    figures = {
        "benchmark": "grain_activations",
        "grain_kind": TargetProtein.kind,
        "method": args.method,
        "activations": activations,
        "mean_residues": round(mean_residues, 1),
        "register_seconds": round(registered, 3),
        "registrations_per_second": round(len(targets) / registered, 1),
        "cold_seconds": round(cold, 3),
        "activations_per_second": round(activations / cold, 1),
        "warm_seconds": round(warm, 3),
        "warm_calls_per_second": round(len(ids) / warm, 1),
        "warm_vs_cold_call_rate": round(cold / warm, 2),
        "bare_ray_calls_per_second": round(len(ids) / bare, 1),
        "warm_vs_bare_ray_call_rate": round(bare / warm, 2),
        "host_rss_mb_idle": round(idle.rss_bytes / 2**20, 1),
        "host_rss_mb_before": round(before.rss_bytes / 2**20, 1),
        "host_rss_mb_after": round(after.rss_bytes / 2**20, 1),
        "host_bytes_per_activation": round(per_activation),
    }
    rows = [
        ("TargetProtein activations on one host", f"{activations:,} (mean {mean_residues:.0f} residues)"),
        ("register (validate + write-through)", f"{registered:.2f} s   {figures['registrations_per_second']:,.0f}/s"),
        (
            f"cold pass: {args.method} (activate from store)",
            f"{cold:.2f} s   {figures['activations_per_second']:,.0f} activations/s",
        ),
        (f"warm pass: {args.method} again", f"{warm:.2f} s   {figures['warm_calls_per_second']:,.0f} calls/s"),
        ("warm / cold call rate", f"{figures['warm_vs_cold_call_rate']:.2f}x"),
        ("bare Ray actor calls", f"{bare:.2f} s   {figures['bare_ray_calls_per_second']:,.0f} calls/s"),
        ("warm grain / bare Ray call rate", f"{figures['warm_vs_bare_ray_call_rate']:.2f}x"),
        ("host RSS idle", f"{figures['host_rss_mb_idle']:.1f} MiB"),
        ("host RSS before the cold pass", f"{figures['host_rss_mb_before']:.1f} MiB"),
        ("host RSS after the cold pass", f"{figures['host_rss_mb_after']:.1f} MiB"),
        ("memory per activation", f"{per_activation / 1024:.1f} KiB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
