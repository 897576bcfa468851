"""How long one DrugBAN training epoch takes on this machine, compact path vs reference.

Both paths train the same model on the same batches of the Human random train split
(Adam, BCE, batch 64): the reference is the literal padded forward (290 drug nodes, full
attention maps), the compact path is what `repurpose train` uses. Each runs a fixed number
of batches after one warm-up batch, the two paths alternating batch by batch so that both see
the same load on a shared machine; seconds per epoch are extrapolated to the full split. Beside
wall-clock time it reports each path's CPU seconds per pair (the process's, all threads).

    .venv/bin/python benchmarks/train_epoch.py [--batches 6] [--batch-size 64] [--threads N]

Prints a table, then one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ``import repurpose`` sets it; needed before torch loads

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from repurpose.data.pairs import read_pairs
from repurpose.model.drugban import DrugBAN
from repurpose.model.pair_batch import DrugBANInputs, featurize_pairs, padded_drug_inputs

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "data" / "human" / "random" / "train.csv"


class TimedPath:
    """One path's model, optimiser and clocks: ``step`` runs forward, backward and Adam on a batch."""

    def __init__(self, loss: Callable[[DrugBAN, np.ndarray], torch.Tensor]) -> None:
        torch.manual_seed(0)
        self.model = DrugBAN().train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=5e-5)
        self.loss = loss
        self.pairs, self.seconds, self.cpu_seconds = 0, 0.0, 0.0

    def step(self, index: np.ndarray, timed: bool) -> None:
        started, cpu_started = time.perf_counter(), time.process_time()
        loss = self.loss(self.model, index)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if timed:
            self.seconds += time.perf_counter() - started
            self.cpu_seconds += time.process_time() - cpu_started
            self.pairs += len(index)

    @property
    def per_pair(self) -> float:
        return self.seconds / self.pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=6, help="timed batches per path (plus one warm-up)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    pairs = read_pairs(TRAIN)
    inputs: DrugBANInputs = featurize_pairs(pairs.smiles, pairs.proteins, pairs.labels)
    order = np.random.default_rng(0).permutation(len(inputs))
    batches = [order[i * args.batch_size : (i + 1) * args.batch_size] for i in range(args.batches + 1)]

    def compact(model: DrugBAN, index: np.ndarray) -> torch.Tensor:
        batch = inputs.batch(index)
        assert batch.labels is not None
        return F.binary_cross_entropy_with_logits(model(batch), batch.labels)

    def reference(model: DrugBAN, index: np.ndarray) -> torch.Tensor:
        features, adjacency = padded_drug_inputs([inputs.drugs[i] for i in index])
        logits, _ = model.reference_forward(features, adjacency, torch.from_numpy(inputs.proteins[index]))
        labels = torch.from_numpy(inputs.labels[index]) if inputs.labels is not None else None
        assert labels is not None
        return F.binary_cross_entropy_with_logits(logits, labels)

    paths = {"reference": TimedPath(reference), "compact": TimedPath(compact)}
    for i, index in enumerate(batches):  # batch 0 warms both paths up
        for path in paths.values():
            path.step(index, timed=i > 0)
    reference_per_pair, compact_per_pair = paths["reference"].per_pair, paths["compact"].per_pair
    reference_cpu, compact_cpu = (paths[p].cpu_seconds / paths[p].pairs for p in ("reference", "compact"))

    n = len(inputs)
    table = Table(
        title=(
            f"One training epoch on Human random train "
            f"({n} pairs, batch {args.batch_size}, {torch.get_num_threads()} threads, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')})"
        )
    )
    for column in ("path", "seconds / epoch", "pairs / s", "CPU ms / pair"):
        table.add_column(column, justify="right")
    for name, per_pair, cpu in (
        ("reference (padded)", reference_per_pair, reference_cpu),
        ("compact (exact)", compact_per_pair, compact_cpu),
    ):
        table.add_row(name, f"{per_pair * n:.0f}", f"{1 / per_pair:.1f}", f"{cpu * 1000:.1f}")
    Console().print(table)
    speedup = reference_per_pair / compact_per_pair
    print(f"compact / reference speed-up: {speedup:.2f}x (CPU time: {reference_cpu / compact_cpu:.2f}x)")
    print(
        json.dumps(
            {
                "benchmark": "train_epoch",
                "pairs_per_epoch": n,
                "batch_size": args.batch_size,
                "timed_batches": args.batches,
                "reference_seconds_per_epoch": round(reference_per_pair * n, 1),
                "reference_pairs_per_second": round(1 / reference_per_pair, 2),
                "compact_seconds_per_epoch": round(compact_per_pair * n, 1),
                "compact_pairs_per_second": round(1 / compact_per_pair, 2),
                "speedup": round(speedup, 2),
                "threads": torch.get_num_threads(),
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                "reference_cpu_ms_per_pair": round(reference_cpu * 1000, 2),
                "compact_cpu_ms_per_pair": round(compact_cpu * 1000, 2),
                "cpu_speedup": round(reference_cpu / compact_cpu, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
