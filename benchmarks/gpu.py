"""DrugBAN on a GPU: training, reference and fast-path scoring throughput, and |Δp| against the CPU.

On the device given (default ``cuda``, i.e. cuda:0), with the bundled model:

  training     pairs/s of the compact training path (what `repurpose train` runs): a fresh
               DrugBAN, Adam + BCE, ``--train-batches`` batches of the Human random train split
               after one warm-up batch, in float32 and in bf16 autocast
  reference    pairs/s of DrugBAN's literal padded forward (batches of 64), ``--reference-compounds``
               library compounds against EGFR, as benchmarks/screening.py's (a), featurisation included
  fast path    pairs/s of the exact fast path (``FastScorer``), ``--compounds`` library compounds
               against EGFR in chunks of 1,024, as benchmarks/screening.py's (b), featurisation
               included, in float32 and in bf16
  |Δp|         the largest difference in probability between the device and the CPU in float32:
               the fast path over the screened compounds, the compact forward over ``--val-pairs``
               Human val pairs; and of the device's bf16 against the CPU's float32

Timings on CUDA synchronise the device before reading the clock. Without CUDA the script says so,
prints a JSON line with ``"cuda": false`` and exits with status 3; ``--device cpu`` runs the same
measurements on the CPU (a smoke test of the script and of bf16 on the CPU; smaller sizes for a
quick run).

    .venv/bin/python benchmarks/gpu.py [--device cuda] [--compounds 2000] [--train-batches 6]

Prints a table, then one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ``import repurpose`` sets it; needed before torch loads

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from repurpose.data.drug_graph import featurize_drug
from repurpose.data.pairs import read_pairs
from repurpose.data.protein_encoding import encode_protein
from repurpose.errors import InvalidInput
from repurpose.model.devices import Compute, resolve_device
from repurpose.model.directory import load_model_dir
from repurpose.model.drugban import DrugBAN, predict_probabilities
from repurpose.model.pair_batch import featurize_pairs, padded_drug_inputs
from repurpose.training.loop import train_step
from screening import fast_scores  # (b) of benchmarks/screening.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "drugban-human"
LIBRARY = ROOT / "data" / "library" / "compounds.csv"
TARGETS = ROOT / "data" / "library" / "targets.csv"
TRAIN = ROOT / "data" / "human" / "random" / "train.csv"
VAL = ROOT / "data" / "human" / "random" / "val.csv"
TARGET_GENE = "P00533"  # EGFR, as benchmarks/screening.py
REFERENCE_BATCH = 64
NO_CUDA_STATUS = 3


def timed(device: torch.device, work: Callable[[], object]) -> tuple[object, float]:
    """``work()`` and its wall seconds, the device synchronised before each clock reading."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    result = work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - started


def training_pairs_per_second(compute: Compute, batches: int, batch_size: int) -> float:
    """The compact training step (forward under the compute's autocast, BCE, backward, Adam)."""
    train = read_pairs(TRAIN)
    inputs = featurize_pairs(train.smiles, train.proteins, train.labels)
    torch.manual_seed(0)
    model = DrugBAN().to(compute.device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-5)
    order = np.random.default_rng(0).permutation(len(inputs))

    def step(index: np.ndarray) -> None:
        train_step(model, optimizer, inputs.batch(index), compute)

    step(order[:batch_size])  # warm-up: allocator, kernels, autotuning
    pairs, seconds = 0, 0.0
    for i in range(1, batches + 1):
        index = order[i * batch_size : (i + 1) * batch_size]
        _, took = timed(compute.device, lambda index=index: step(index))  # type: ignore[misc]
        pairs, seconds = pairs + len(index), seconds + took
    return pairs / seconds


def reference_scores(model: DrugBAN, smiles: list[str], sequence: str) -> np.ndarray:
    """DrugBAN's padded forward on the model's device, featurisation included (screening.py's (a))."""
    device = next(model.parameters()).device
    codes = torch.from_numpy(encode_protein(sequence))[None].to(device)
    out = []
    with torch.inference_mode():
        for start in range(0, len(smiles), REFERENCE_BATCH):
            graphs = [featurize_drug(s) for s in smiles[start : start + REFERENCE_BATCH]]
            features, adjacency = padded_drug_inputs(graphs)
            logits, _ = model.reference_forward(
                features.to(device), adjacency.to(device), codes.expand(len(graphs), -1)
            )
            out.append(torch.sigmoid(logits).double().cpu().numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (a smoke test on the CPU)")
    parser.add_argument("--compounds", type=int, default=2000, help="library compounds for the fast path")
    parser.add_argument("--reference-compounds", type=int, default=2000, help="library compounds for the reference")
    parser.add_argument("--train-batches", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--val-pairs", type=int, default=256, help="Human val pairs for the compact forward's |Δp|")
    args = parser.parse_args()
    console = Console()

    try:
        device = resolve_device(args.device)
    except InvalidInput as error:
        console.print(
            f"[bold red]No CUDA device[/]: {error.message}. Nothing was measured; "
            "run with --device cpu for a smoke test on the CPU."
        )
        print(json.dumps({"cuda": False, "device": args.device, "torch": torch.__version__}))
        sys.exit(NO_CUDA_STATUS)

    cpu_model, device_model = load_model_dir(MODEL).drugban, load_model_dir(MODEL, device=device).drugban
    assert cpu_model is not None and device_model is not None
    library = pd.read_csv(LIBRARY)
    smiles = library.smiles.tolist()[: args.compounds]
    reference_smiles = library.smiles.tolist()[: args.reference_compounds]
    targets = pd.read_csv(TARGETS)
    sequence = str(targets.loc[targets.gene == TARGET_GENE, "sequence"].iloc[0])
    val = read_pairs(VAL)
    val_inputs = featurize_pairs(val.smiles[: args.val_pairs], val.proteins[: args.val_pairs], None)

    train_fp32 = training_pairs_per_second(Compute(device, "fp32"), args.train_batches, args.batch_size)
    train_bf16 = training_pairs_per_second(Compute(device, "bf16"), args.train_batches, args.batch_size)
    fast_scores(device_model, smiles[:64], sequence)  # warm-up: kernels, the sparse format
    _, reference_seconds = timed(device, lambda: reference_scores(device_model, reference_smiles, sequence))
    fast_device, fast_seconds = timed(device, lambda: fast_scores(device_model, smiles, sequence))
    fast_bf16, fast_bf16_seconds = timed(device, lambda: fast_scores(device_model, smiles, sequence, "bf16"))
    fast_cpu = fast_scores(cpu_model, smiles, sequence)
    compact_cpu = predict_probabilities(cpu_model, val_inputs)
    compact_device = predict_probabilities(device_model, val_inputs)
    compact_bf16 = predict_probabilities(device_model, val_inputs, precision="bf16")

    def largest(a: object, b: np.ndarray) -> float:
        return float(np.abs(np.asarray(a) - b).max())

    figures: dict[str, object] = {
        "cuda": device.type == "cuda",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "train_pairs_per_second_fp32": train_fp32,
        "train_pairs_per_second_bf16": train_bf16,
        "reference_pairs_per_second": len(reference_smiles) / reference_seconds,
        "fast_pairs_per_second_fp32": len(smiles) / fast_seconds,
        "fast_pairs_per_second_bf16": len(smiles) / fast_bf16_seconds,
        "fast_over_reference": (len(smiles) / fast_seconds) / (len(reference_smiles) / reference_seconds),
        "max_dp_fast_fp32_vs_cpu": largest(fast_device, fast_cpu),
        "max_dp_fast_bf16_vs_cpu_fp32": largest(fast_bf16, fast_cpu),
        "max_dp_compact_fp32_vs_cpu": largest(compact_device, compact_cpu),
        "max_dp_compact_bf16_vs_cpu_fp32": largest(compact_bf16, compact_cpu),
        "compounds": len(smiles),
        "reference_compounds": len(reference_smiles),
        "val_pairs": len(val_inputs),
    }

    table = Table(title=f"DrugBAN on {figures['device']} ({device}), torch {torch.__version__}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        (
            f"training, compact path, fp32 ({args.train_batches} batches of {args.batch_size})",
            f"{train_fp32:,.1f} pairs/s",
        ),
        ("training, compact path, bf16 autocast", f"{train_bf16:,.1f} pairs/s"),
        (
            f"reference forward ({len(reference_smiles):,} compounds × EGFR)",
            f"{figures['reference_pairs_per_second']:,.1f} pairs/s",
        ),
        (
            f"fast path, fp32 ({len(smiles):,} compounds × EGFR)",
            f"{figures['fast_pairs_per_second_fp32']:,.1f} pairs/s",
        ),
        ("fast path, bf16", f"{figures['fast_pairs_per_second_bf16']:,.1f} pairs/s"),
        ("fast path / reference", f"{figures['fast_over_reference']:,.1f}×"),
        ("max |Δp| fast path, device fp32 vs CPU fp32", f"{figures['max_dp_fast_fp32_vs_cpu']:.2e}"),
        ("max |Δp| fast path, device bf16 vs CPU fp32", f"{figures['max_dp_fast_bf16_vs_cpu_fp32']:.2e}"),
        (
            f"max |Δp| compact forward, device fp32 vs CPU ({len(val_inputs)} Human val pairs)",
            f"{figures['max_dp_compact_fp32_vs_cpu']:.2e}",
        ),
        ("max |Δp| compact forward, device bf16 vs CPU fp32", f"{figures['max_dp_compact_bf16_vs_cpu_fp32']:.2e}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
