"""How cheap is a grain? Activate thousands of TargetProtein-like grains on ONE grain host.

Stores N target states (an id and a ~400-residue sequence) in a SQLite file in a temporary
folder, starts a one-node Ray cluster with a single grain host, then:

  cold pass  one call per grain: each call activates its grain from the store
  warm pass  the same calls again, on the activations now in memory
  baseline   as many calls to a bare async Ray actor that does nothing (Ray's own call cost)

and prints a table (time, rates, the host's resident memory before and after, per activation)
followed by one JSON line with the same figures.

    .venv/bin/python benchmarks/grain_activations.py [--grains 5000] [--residues 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from pathlib import Path

import ray
from pydantic import BaseModel

from repurpose.grains import Grain, GrainClient, grain
from repurpose.settings import Settings
from repurpose.store import make_engine, save_state, upgrade

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


class TargetState(BaseModel):
    id: str = ""
    sequence: str = ""


@grain("bench.target")
class BenchTarget(Grain[TargetState]):
    def length(self) -> int:
        return len(self.state.sequence)


def populate(database_url: str, grains: int, residues: int) -> None:
    rng = random.Random(7)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        for i in range(grains):
            key = f"P{i:05d}"
            sequence = "".join(rng.choices(AMINO_ACIDS, k=residues))
            save_state(conn, "bench.target", key, {"id": key, "sequence": sequence}, expected_version=0)
    engine.dispose()


@ray.remote(num_cpus=0)
class Echo:
    async def call(self, kind: str, key: str, method: str) -> int:
        return 0


async def call_bare(echo: ray.actor.ActorHandle, keys: list[str], concurrency: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(keys), concurrency):
        await asyncio.gather(*(echo.call.remote("bench.target", key, "length") for key in keys[i : i + concurrency]))
    return time.perf_counter() - started


async def call_all(client: GrainClient, keys: list[str], concurrency: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(keys), concurrency):
        await asyncio.gather(*(client.acall(BenchTarget, key, "length") for key in keys[i : i + concurrency]))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grains", type=int, default=5000)
    parser.add_argument("--residues", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=500, help="calls in flight at once")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="repurpose-bench-") as home:
        namespace = f"repurpose-bench-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            home=Path(home), ray_namespace=namespace, grain_pool="bench", grain_hosts=1, grain_idle_seconds=3600
        )
        upgrade(settings.database_url)
        populate(settings.database_url, args.grains, args.residues)
        keys = [f"P{i:05d}" for i in range(args.grains)]

        ray.init(address="local", num_cpus=2, include_dashboard=False, namespace=namespace, log_to_driver=False)
        client = GrainClient(settings)
        try:
            (idle,) = client.start()
            asyncio.run(client.acall(BenchTarget, "warm-up", "length"))  # the host learns the kind
            cold = asyncio.run(call_all(client, keys, args.concurrency))
            (after,) = client.stats()
            warm = asyncio.run(call_all(client, keys, args.concurrency))
            echo = Echo.remote()  # type: ignore[attr-defined]
            ray.get(echo.call.remote("", "", ""))
            bare = asyncio.run(call_bare(echo, keys, args.concurrency))
        finally:
            client.stop()
            ray.shutdown()

    activations = after.activations - 1  # minus the warm-up grain
    per_activation = (after.rss_bytes - idle.rss_bytes) / activations
    figures = {
        "benchmark": "grain_activations",
        "activations": activations,
        "residues": args.residues,
        "cold_seconds": round(cold, 3),
        "activations_per_second": round(activations / cold, 1),
        "warm_seconds": round(warm, 3),
        "warm_calls_per_second": round(args.grains / warm, 1),
        "warm_vs_cold_call_rate": round(cold / warm, 2),
        "bare_ray_calls_per_second": round(args.grains / bare, 1),
        "warm_vs_bare_ray_call_rate": round(bare / warm, 2),
        "host_rss_mb_before": round(idle.rss_bytes / 2**20, 1),
        "host_rss_mb_after": round(after.rss_bytes / 2**20, 1),
        "host_bytes_per_activation": round(per_activation),
    }
    rows = [
        ("activations on one host", f"{activations:,}"),
        ("cold pass (activate from store)", f"{cold:.2f} s   {figures['activations_per_second']:,.0f} activations/s"),
        ("warm pass (same calls again)", f"{warm:.2f} s   {figures['warm_calls_per_second']:,.0f} calls/s"),
        ("warm / cold call rate", f"{figures['warm_vs_cold_call_rate']:.2f}x"),
        ("bare Ray actor calls", f"{bare:.2f} s   {figures['bare_ray_calls_per_second']:,.0f} calls/s"),
        ("warm grain / bare Ray call rate", f"{figures['warm_vs_bare_ray_call_rate']:.2f}x"),
        ("host RSS before", f"{figures['host_rss_mb_before']:.1f} MiB"),
        ("host RSS after", f"{figures['host_rss_mb_after']:.1f} MiB"),
        ("memory per activation", f"{per_activation / 1024:.1f} KiB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
