"""A screen of several targets in a scorer core: kept GCN states against none, on one thread.

The library's first compounds, featurised beforehand in pieces of 256 (as the screening runner
sends them), are scored chunk by chunk against each of the first targets of
data/library/targets.csv in turn, with ``ChunkRequest.reuse_states`` off (the GCN runs for every
target) and on (once per compound); the two alternate, each in a fresh core whose target tensors
are computed before the clock starts. One thread: a scorer replica as `up` deploys it (1 CPU).

    .venv/bin/python benchmarks/multi_target.py [--compounds 2048] [--targets 5] [--rounds 2]

Prints a table, then one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from repurpose.contracts.scoring import ResolvedModel
from repurpose.model.directory import load_model_dir
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.core import ScoringCore
from repurpose.screening.attempt import PIECE_SIZE, featurise_chunk
from repurpose.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "data" / "library" / "compounds.csv"
TARGETS = ROOT / "data" / "library" / "targets.csv"
MODEL = ROOT / "models" / "drugban-human"


def pairs_per_second(smiles: list[str], pieces: list[list[object]], sequences: list[str], reuse: bool) -> float:
    core = ScoringCore(Settings(home=Path(tempfile.mkdtemp(prefix="repurpose-multi-"))))
    model = ResolvedModel(name="drugban-human", version=1, model_type="drugban", artifact_path="m", threshold=0.5)
    core.hold(model, load_model_dir(MODEL))
    for t, sequence in enumerate(sequences):  # each target's tensors before the clock
        core.score_chunk_now(ChunkRequest(model=model, target_key=f"t{t}", sequence=sequence, smiles=[], graphs=[]))
    started = time.perf_counter()
    for k, graphs in enumerate(pieces):
        piece = smiles[k * PIECE_SIZE : (k + 1) * PIECE_SIZE]
        for t, sequence in enumerate(sequences):
            request = ChunkRequest(
                model=model, target_key=f"t{t}", sequence=sequence, smiles=piece, graphs=graphs, reuse_states=reuse
            )
            core.score_chunk_now(request)
    return len(smiles) * len(sequences) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compounds", type=int, default=2048)
    parser.add_argument("--targets", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    args = parser.parse_args()
    torch.set_num_threads(1)

    smiles = pd.read_csv(LIBRARY).smiles.iloc[: args.compounds].tolist()
    sequences = pd.read_csv(TARGETS).sequence.iloc[: args.targets].tolist()
    pieces: list[list[object]] = [
        list(featurise_chunk(smiles[a : a + PIECE_SIZE])[0]) for a in range(0, len(smiles), PIECE_SIZE)
    ]
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for reuse in (False, True):
            runs[reuse].append(pairs_per_second(smiles, pieces, sequences, reuse))

    table = Table(title=f"{len(smiles):,} compounds × {len(sequences)} targets, scorer core, 1 thread")
    for column in ("GCN states", "pairs/s per run", "median pairs/s"):
        table.add_column(column, justify="right")
    for reuse, label in ((False, "computed per target"), (True, "kept between targets")):
        table.add_row(label, ", ".join(f"{p:,.0f}" for p in runs[reuse]), f"{statistics.median(runs[reuse]):,.0f}")
    Console().print(table)
    kept, computed = statistics.median(runs[True]), statistics.median(runs[False])
    print(f"kept / computed: {kept / computed:.2f}")
    print(
        json.dumps(
            {
                "compounds": float(len(smiles)),
                "targets": float(len(sequences)),
                "computed_pairs_per_second": computed,
                "kept_pairs_per_second": kept,
                "kept_over_computed": kept / computed,
            }
        )
    )


if __name__ == "__main__":
    main()
