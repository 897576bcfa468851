"""Factories shared by the tests: paths to the sample data, proteins, pair files, batches."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest
import torch

from repurpose.drug_graph import featurize_drug
from repurpose.pair_batch import PairBatch, collate_pairs, padded_drug_inputs
from repurpose.protein_encoding import PROTEIN_CODES, encode_protein
from repurpose.training_config import DrugBANTraining

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "data" / "bindingdb_sample"
SAMPLE_TRAIN = SAMPLE_DIR / "train.csv"
SAMPLE_VAL = SAMPLE_DIR / "val.csv"
SAMPLE_TEST = SAMPLE_DIR / "test.csv"

NAMESPACE = f"repurpose-test-{uuid.uuid4().hex[:8]}"
"""The Ray namespace of the test session's cluster (``ray_cluster``) and grain hosts."""

# A drug-like molecule from the sample data: rings, stereo, halogens, 24 heavy atoms.
DRUG_LIKE_SMILES = "NC1=N[C@@]2(c3ccc(F)cc3F)CO[C@@H](c3ncco3)C[C@H]2CS1"
PROTEIN_LETTERS = "".join(PROTEIN_CODES)


def service_missing(what: str) -> NoReturn:
    """Skip a test whose service does not answer, except under CI (``CI=true``), where it fails:
    a CI run must not pass with the tests of a required service silently dropped."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (required under CI=true)", pytrace=False)
    pytest.skip(what)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def random_protein(length: int, seed: int = 0) -> str:
    """A sequence of ``length`` letters drawn from the 25-letter alphabet."""
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list(PROTEIN_LETTERS), size=length))


def write_pairs(path: Path, rows: Sequence[Sequence[object]], header: str = "SMILES,Protein,Y") -> Path:
    """A CSV pair file with ``header`` and one line per row."""
    lines = [header, *(",".join(str(value) for value in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_training_config(**overrides: object) -> DrugBANTraining:
    """The DrugBAN settings of the tests' training runs (defaults: 1 epoch, seed 42)."""
    values: dict[str, object] = {"model_type": "drugban", "epochs": 1, "batch_size": 64, "seed": 42}
    return DrugBANTraining(**(values | overrides))


@dataclasses.dataclass(frozen=True)
class ModelInputs:
    """The same pairs in both forms: the compact batch and the padded reference tensors."""

    batch: PairBatch
    drug_features: torch.Tensor  # (B, 290, 75)
    drug_adjacency: torch.Tensor  # (B, 290, 290)
    proteins: torch.Tensor  # (B, 1200)


def model_inputs(smiles: Sequence[str], proteins: Sequence[str], dtype: torch.dtype = torch.float64) -> ModelInputs:
    """Featurised pairs for DrugBAN, floating tensors in ``dtype``."""
    drugs = [featurize_drug(s) for s in smiles]
    codes = np.stack([encode_protein(p) for p in proteins])
    batch = collate_pairs(drugs, codes)
    batch = dataclasses.replace(batch, node_features=batch.node_features.to(dtype))
    features, adjacency = padded_drug_inputs(drugs)
    return ModelInputs(batch, features.to(dtype), adjacency.to(dtype), torch.as_tensor(codes))


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Bit-identical state dicts: the same keys and torch.equal on every tensor."""
    assert list(a) == list(b)
    different = [key for key in a if not torch.equal(a[key], b[key])]
    assert not different, f"tensors differ: {different}"


def small_train_file(directory: Path, rows: int = 60) -> Path:
    """The first ``rows`` pairs of the sample training file (both classes), for quick baselines."""
    lines = SAMPLE_TRAIN.read_text().splitlines()[: rows + 1]
    path = directory / f"train-{rows}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def stop_training_workers() -> int:
    """Kill every training worker still alive on the test cluster; how many there were.

    Workers are detached (they outlive grain hosts by design), so a run a test leaves running
    would go on training after its grain pool is gone and hold CPUs the next tests need.
    """
    import ray

    named = ray.util.list_named_actors(all_namespaces=True)
    workers = [a for a in named if a["name"].startswith("training-")]
    for actor in workers:
        with contextlib.suppress(Exception):
            ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)
    return len(workers)


@contextlib.contextmanager
def free_cpus_taken() -> Iterator[float]:
    """Hold every CPU of the test cluster that is free (as a run's training workers would); yields
    how many. Ray's count of free CPUs lags a moment behind tasks ending, so hold until it reads 0
    twice in a row. Released on exit."""
    import time

    import ray

    @ray.remote
    class CpuHolder:
        def ready(self) -> bool:
            return True

    holders: list[Any] = []
    taken, zero_reads = 0.0, 0
    try:
        for _ in range(100):
            free = float(ray.available_resources().get("CPU", 0.0))
            if free < 0.01:
                zero_reads += 1
                if zero_reads == 2:
                    break
            else:
                zero_reads = 0
                holder = CpuHolder.options(num_cpus=free).remote()  # type: ignore[attr-defined]
                ray.get(holder.ready.remote(), timeout=60)
                holders.append(holder)
                taken += free
            time.sleep(0.5)
        yield taken
    finally:
        for holder in holders:
            ray.kill(holder, no_restart=True)


def sample_heldout_csv(targets: int = 2) -> bytes:
    """A small held-out retrieval set from the BindingDB sample: the training binders of the
    ``targets`` proteins with the most of them, as (target, active) pairs; each target's last active
    is marked novel. A knn model built on the sample finds them (they are its binders)."""
    import pandas as pd

    train = pd.read_csv(SAMPLE_TRAIN)
    positives = train[train["Y"] == 1]
    proteins = positives["Protein"].value_counts().index[:targets]
    lines = ["target_id,compound_id,smiles,novel,protein"]
    for t, protein in enumerate(proteins):
        smiles = list(dict.fromkeys(positives.loc[positives["Protein"] == protein, "SMILES"]))
        for i, s in enumerate(smiles):
            lines.append(f"T{t + 1},ACT-{t + 1}-{i},{s},{i == len(smiles) - 1},{protein}")
    return ("\n".join(lines) + "\n").encode()


def sample_decoys_csv(prefix: str = "SAMPLE") -> bytes:
    """A decoy library (compound_id,smiles) of every distinct compound of the BindingDB sample."""
    import pandas as pd

    smiles = pd.concat([pd.read_csv(f)["SMILES"] for f in (SAMPLE_TRAIN, SAMPLE_VAL, SAMPLE_TEST)]).unique()
    return ("\n".join(["compound_id,smiles", *(f"{prefix}-{i}," + s for i, s in enumerate(smiles))]) + "\n").encode()
