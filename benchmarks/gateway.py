"""The HTTP gateway under load: single predictions and 1,000-pair requests, end to end over HTTP.

The script starts a one-node Ray cluster with its own store in a temporary folder, registers the
bundled DrugBAN model (in production) and one target (EGFR, P00533 of data/library/targets.csv),
deploys the scorer and the gateway (Serve's HTTP proxy on a free port) and makes an admin key
(the rate limit set out of the way). Then, through Serve's proxy and the gateway:

  single     POST /v1/predict with one pair (a library compound against the registered target,
             whose tensors the scorer has cached), from 1 and from 16 concurrent clients:
             requests per second, p50 and p99 latency, errors (any answer but 200)
  batch      POST /v1/predict with 1,000 pairs against the same target, one client: pairs per
             second, first with new compounds in every request (their featurisation included),
             then the same requests again (compounds cached by the gateway and the scorer); the
             p99 column of these rows is the slowest of the handful of requests

The load comes from this process (httpx, asyncio) on the same machine, so the client competes
with the proxy, the gateway, the scorer and the grain hosts for the cores.

    .venv/bin/python benchmarks/gateway.py [--seconds 20] [--batches 5] [--scorer-cpus 1]

Prints a table, then one JSON line of the figures. Nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "data" / "library" / "compounds.csv"
TARGETS = ROOT / "data" / "library" / "targets.csv"
TARGET_ID, TARGET_ACCESSION = "EGFR", "P00533"
BATCH_PAIRS = 1_000
SINGLE_COMPOUNDS = 256


@dataclass
class LoadResult:
    clients: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def single_pair_load(url: str, key: str, smiles: list[str], clients: int, seconds: float) -> LoadResult:
    """``clients`` loops sending one-pair predictions for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as http:
        deadline = time.perf_counter() + seconds

        async def client(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < deadline:
                body = {"pairs": [{"smiles": smiles[i % len(smiles)], "target": TARGET_ID}]}
                i += clients
                started = time.perf_counter()
                try:
                    response = await http.post("/v1/predict", json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        elapsed = time.perf_counter() - started
    return LoadResult(clients, len(latencies), errors, elapsed, latencies)


def batch_load(url: str, key: str, chunks: list[list[str]]) -> tuple[float, list[float], int]:
    """Pairs per second of one 1,000-pair request per chunk of compounds, their times, errors."""
    times, errors = [], 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as http:
        for chunk in chunks:
            body = {"pairs": [{"smiles": s, "target": TARGET_ID} for s in chunk]}
            started = time.perf_counter()
            response = http.post("/v1/predict", json=body)
            times.append(time.perf_counter() - started)
            errors += response.status_code != 200
    return sum(len(c) for c in chunks) / sum(times), times, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each single-pair run")
    parser.add_argument("--batches", type=int, default=5, help="1,000-pair requests")
    parser.add_argument("--scorer-cpus", type=float, default=1.0)
    args = parser.parse_args()

    import ray

    from repurpose.actors.target_protein import TargetProtein
    from repurpose.cluster.bundled_models import BUNDLED_MODEL, register_bundled_models
    from repurpose.gateway import deploy_gateway
    from repurpose.grains import GrainClient
    from repurpose.scoring.service import deploy_scorer
    from repurpose.services.in_process import InProcessClient
    from repurpose.settings import Settings
    from repurpose.store import upgrade

    library = pd.read_csv(LIBRARY)
    targets = pd.read_csv(TARGETS)
    sequence = str(targets.loc[targets.gene == TARGET_ACCESSION, "sequence"].iloc[0])
    needed = SINGLE_COMPOUNDS + BATCH_PAIRS * args.batches
    if len(library) < needed:
        raise SystemExit(f"the library has {len(library)} compounds; {needed} are needed")
    single_smiles = library.smiles.iloc[:SINGLE_COMPOUNDS].tolist()
    batch_smiles = library.smiles.iloc[SINGLE_COMPOUNDS:needed].tolist()

    home = Path(tempfile.mkdtemp(prefix="repurpose-gateway-bench-"))
    settings = Settings(
        home=home,
        ray_namespace=f"bench-{uuid.uuid4().hex[:6]}",
        grain_hosts=1,
        scorer_num_cpus=args.scorer_cpus,
        gateway_port=free_port(),
        gateway_rate_per_second=1e6,
        gateway_rate_burst=1_000_000,
    )
    upgrade(settings.database_url)
    ray.init(
        address="local",
        num_cpus=4,
        include_dashboard=False,
        namespace=settings.ray_namespace,
        log_to_driver=False,  # the replicas' access logs stay in their files, not on this terminal
        logging_level=logging.ERROR,
    )
    try:
        grains = GrainClient(settings)
        register_bundled_models(grains, names=[BUNDLED_MODEL])
        grains.call(TargetProtein, TARGET_ID, "register", sequence, idempotent=False)
        deploy_scorer(settings)
        deploy_gateway(settings)
        with InProcessClient.on(grains) as services:
            key = services.create_key("reader", name="benchmark").key
        url = f"http://{settings.gateway_host}:{settings.gateway_port}"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
            for _ in range(100):  # the route becomes known to the proxy shortly after the deployment
                if http.get("/healthz").status_code == 200:
                    break
                time.sleep(0.2)
            for s in single_smiles:  # warm: model loaded, target tensors and these compounds cached
                http.post("/v1/predict", json={"pairs": [{"smiles": s, "target": TARGET_ID}]}).raise_for_status()

        runs = [asyncio.run(single_pair_load(url, key, single_smiles, c, args.seconds)) for c in (1, 16)]
        chunks = [batch_smiles[b * BATCH_PAIRS : (b + 1) * BATCH_PAIRS] for b in range(args.batches)]
        pairs_per_second, batch_times, batch_errors = batch_load(url, key, chunks)  # new compounds
        warm_per_second, warm_times, warm_errors = batch_load(url, key, chunks)  # the same again: cached
    finally:
        ray.shutdown()

    figures: dict[str, float] = {"cpus": float(os.cpu_count() or 0), "scorer_cpus": args.scorer_cpus}
    for run in runs:
        prefix = f"single_c{run.clients}"
        figures |= {
            f"{prefix}_requests": float(run.requests),
            f"{prefix}_requests_per_second": run.requests_per_second,
            f"{prefix}_p50_ms": run.percentile(50),
            f"{prefix}_p99_ms": run.percentile(99),
            f"{prefix}_mean_ms": statistics.fmean(run.latencies_ms) if run.latencies_ms else float("nan"),
            f"{prefix}_errors": float(run.errors),
        }
    figures |= {
        "batch_requests": float(args.batches),
        "batch_pairs_per_second": pairs_per_second,
        "batch_seconds_median": float(np.median(batch_times)),
        "batch_errors": float(batch_errors),
        "batch_cached_pairs_per_second": warm_per_second,
        "batch_cached_seconds_median": float(np.median(warm_times)),
        "batch_cached_errors": float(warm_errors),
    }

    table = Table(
        title=f"POST /v1/predict through the gateway ({figures['cpus']:.0f} cores, client on the same machine)"
    )
    for column in ("load", "requests", "req/s", "p50 ms", "p99 ms", "errors", "pairs/s"):
        table.add_column(column, justify="left" if column == "load" else "right")
    for run in runs:
        table.add_row(
            f"1 pair, {run.clients} client{'s' if run.clients > 1 else ''}",
            f"{run.requests:,}",
            f"{run.requests_per_second:.1f}",
            f"{run.percentile(50):.1f}",
            f"{run.percentile(99):.1f}",
            str(run.errors),
            f"{run.requests_per_second:.1f}",
        )
    for label, times, errors, rate in (
        ("new compounds", batch_times, batch_errors, pairs_per_second),
        ("compounds cached", warm_times, warm_errors, warm_per_second),
    ):
        table.add_row(
            f"{BATCH_PAIRS:,} pairs, {label}",
            str(len(times)),
            f"{len(times) / sum(times):.2f}",
            f"{np.median(times) * 1000:.0f}",
            f"{max(times) * 1000:.0f}",  # of a handful of requests: the slowest
            str(errors),
            f"{rate:.0f}",
        )
    Console().print(table)
    print(json.dumps({k: round(v, 4) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
