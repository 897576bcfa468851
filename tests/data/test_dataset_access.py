"""Reading dataset versions and splits from the artifact store, without the cluster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repurpose.contracts.splits import parse_split_id, split_id_for
from repurpose.data.dataset_access import (
    compute_split,
    load_dataset_pairs,
    load_rows,
    load_split_indices,
    load_split_pairs,
)
from repurpose.data.dataset_paths import check_dataset_id, rows_path
from repurpose.data.datasets import build_dataset, rows_to_parquet
from repurpose.data.pairs import read_pairs
from repurpose.errors import DatasetNotFound, InvalidInput, InvalidTable
from repurpose.runtime.artifacts import ArtifactStore
from tests.helpers import SAMPLE_TRAIN, SAMPLE_VAL


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def stored(store: ArtifactStore, path: Path = SAMPLE_TRAIN) -> str:
    build = build_dataset(path)
    store.put_bytes(rows_path(build.dataset_id), rows_to_parquet(build.rows))
    return build.dataset_id


@pytest.mark.parametrize(
    ("kind", "seed", "fractions", "split_id"),
    [
        ("random", 42, None, "random-42"),
        ("cold-drug", 1, (0.8, 0.1, 0.1), "cold-drug-1"),
        ("cold-target", 0, [0.7, 0.15, 0.15], "cold-target-0-0.7-0.15-0.15"),
        ("scaffold", 3, (0.9, 0.1, 0.0), "scaffold-3-0.9-0.1-0"),
        ("random", 5, (1 / 3, 1 / 3, 1 / 3), "random-5-0.333333-0.333333-0.333333"),
    ],
)
def test_split_id_names_kind_seed_and_fractions(
    kind: str, seed: int, fractions: tuple[float, ...] | None, split_id: str
) -> None:
    assert split_id_for(kind, seed, fractions) == split_id
    spec = parse_split_id(split_id)
    assert (spec.kind, spec.seed) == (kind, seed)
    assert split_id_for(spec.kind, spec.seed, spec.fractions) == split_id


@pytest.mark.parametrize(
    ("split_id", "message"),
    [
        ("sideways-1", "is not a split id"),
        ("random", "is not a split id"),
        ("random-x", "is not a split id"),
        ("random-01", "use 'random-1'"),
        ("random-1-0.8-0.1-0.1", "use 'random-1'"),
        ("random-1-0.5-0.2-0.2", "must sum to 1"),
        ("../random-1", "is not a split id"),
    ],
)
def test_parse_split_id_refuses(split_id: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        parse_split_id(split_id)


def test_dataset_id_must_be_a_sha256() -> None:
    with pytest.raises(InvalidInput, match="64 hex digits"):
        check_dataset_id("../../etc")
    with pytest.raises(InvalidInput):
        rows_path("ABC")


def test_load_dataset_pairs_are_the_stored_rows(store: ArtifactStore) -> None:
    dataset_id = stored(store, SAMPLE_VAL)
    pairs = load_dataset_pairs(store, dataset_id)
    original = read_pairs(SAMPLE_VAL)
    assert len(pairs) == len(original) == 25
    assert pairs.labels is not None and original.labels is not None
    assert sorted(zip(pairs.proteins, pairs.labels.tolist(), strict=True)) == sorted(
        zip(original.proteins, original.labels.tolist(), strict=True)
    )


def test_load_unknown_or_damaged_dataset(store: ArtifactStore) -> None:
    with pytest.raises(DatasetNotFound, match="no dataset version 0000"):
        load_rows(store, "0" * 64)
    dataset_id = stored(store, SAMPLE_VAL)
    other = build_dataset(SAMPLE_TRAIN)
    store.put_bytes(rows_path(dataset_id), rows_to_parquet(other.rows))  # rows of another version
    with pytest.raises(InvalidTable, match="not to their dataset id"):
        load_rows(store, dataset_id)


def test_load_split_pairs_computes_stores_and_reuses(store: ArtifactStore) -> None:
    dataset_id = stored(store)
    first = load_split_pairs(store, dataset_id, "cold-drug-1")
    path = f"datasets/{dataset_id}/splits/cold-drug-1.parquet"
    assert store.exists(path)
    written = store.get_bytes(path)

    again = load_split_pairs(store, dataset_id, "cold-drug-1")
    summary = compute_split(store, dataset_id, "cold-drug-1")  # what the grain runs

    assert store.get_bytes(path) == written
    for part in ("train", "val", "test"):
        assert again[part].smiles == first[part].smiles and again[part].sha256 == first[part].sha256
        assert len(first[part]) == getattr(summary, part).size
    assert not set(first["train"].smiles) & (set(first["val"].smiles) | set(first["test"].smiles))
    assert sum(len(p) for p in first.values()) == 172


def test_split_indices_are_a_seeded_partition(store: ArtifactStore) -> None:
    dataset_id = stored(store)
    one = load_split_indices(store, dataset_id, "random-1")
    two = load_split_indices(store, dataset_id, "random-2")
    assert np.array_equal(np.sort(np.concatenate(list(one.values()))), np.arange(172))
    assert [len(one[p]) for p in ("train", "val", "test")] == [138, 17, 17]
    assert not np.array_equal(one["test"], two["test"])
