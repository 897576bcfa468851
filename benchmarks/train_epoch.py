"""How long one DrugBAN training epoch takes on this machine, compact path vs reference.

Both paths train the same model on the same batches of the Human random train split
(Adam, BCE, batch 64): the reference is the literal padded forward (290 drug nodes, full
attention maps), the compact path is what `repurpose train` uses. Each runs a fixed number
of batches after one warm-up batch; seconds per epoch are extrapolated to the full split.

    .venv/bin/python benchmarks/train_epoch.py [--batches 6] [--batch-size 64]

Prints a table, then one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

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


def time_path(step: Callable[[np.ndarray], torch.Tensor], batches: list[np.ndarray], model: DrugBAN) -> float:
    """Seconds per pair over ``batches`` (after one warm-up batch) of forward, backward, step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-5)
    model.train()
    pairs, seconds = 0, 0.0
    for i, index in enumerate(batches):
        started = time.perf_counter()
        loss = step(index)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i > 0:
            seconds += time.perf_counter() - started
            pairs += len(index)
    return seconds / pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=6, help="timed batches per path (plus one warm-up)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    pairs = read_pairs(TRAIN)
    inputs: DrugBANInputs = featurize_pairs(pairs.smiles, pairs.proteins, pairs.labels)
    order = np.random.default_rng(0).permutation(len(inputs))
    batches = [order[i * args.batch_size : (i + 1) * args.batch_size] for i in range(args.batches + 1)]

    def compact(index: np.ndarray) -> torch.Tensor:
        batch = inputs.batch(index)
        assert batch.labels is not None
        return F.binary_cross_entropy_with_logits(model(batch), batch.labels)

    def reference(index: np.ndarray) -> torch.Tensor:
        features, adjacency = padded_drug_inputs([inputs.drugs[i] for i in index])
        logits, _ = model.reference_forward(features, adjacency, torch.from_numpy(inputs.proteins[index]))
        labels = torch.from_numpy(inputs.labels[index]) if inputs.labels is not None else None
        assert labels is not None
        return F.binary_cross_entropy_with_logits(logits, labels)

    torch.manual_seed(0)
    model = DrugBAN()
    reference_per_pair = time_path(reference, batches, model)
    torch.manual_seed(0)
    model = DrugBAN()
    compact_per_pair = time_path(compact, batches, model)

    n = len(inputs)
    table = Table(
        title=(
            f"One training epoch on Human random train "
            f"({n} pairs, batch {args.batch_size}, {torch.get_num_threads()} threads)"
        )
    )
    for column in ("path", "seconds / epoch", "pairs / s"):
        table.add_column(column, justify="right")
    table.add_row("reference (padded)", f"{reference_per_pair * n:.0f}", f"{1 / reference_per_pair:.1f}")
    table.add_row("compact (exact)", f"{compact_per_pair * n:.0f}", f"{1 / compact_per_pair:.1f}")
    Console().print(table)
    speedup = reference_per_pair / compact_per_pair
    print(f"compact / reference speed-up: {speedup:.2f}x")
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
            }
        )
    )


if __name__ == "__main__":
    main()
