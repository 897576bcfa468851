"""The DatasetVersion grain on a real local Ray cluster (SQLite; registration and listing on PostgreSQL too)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

from repurpose.actors.dataset_version import DatasetVersion, list_datasets, resolve_dataset
from repurpose.contracts.datasets import DatasetDetail, SplitSummary
from repurpose.contracts.splits import SPLIT_KINDS
from repurpose.data.dataset_access import load_rows, load_split_indices, load_split_pairs
from repurpose.data.dataset_paths import report_path, rows_path
from repurpose.data.splits import murcko_scaffold
from repurpose.errors import ClusterBusy, DatasetNotFound, InvalidInput, InvalidTable
from repurpose.grains import GrainClient
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.services.in_process import InProcessClient
from repurpose.settings import Settings
from repurpose.store import list_states
from tests.helpers import (
    SAMPLE_TRAIN,
    SAMPLE_VAL,
    both_stores,
    free_cpus_taken,
    kill_host,
    register_dataset,
    wait_for_new_host,
)

pytestmark = pytest.mark.slow

BROKEN_SMILES_ROW = "C1CC,MKVLAAGIVALLLAAGCSSS,1"
DIGIT_PROTEIN_ROW = "CCO,MKV1AAGIVALLLAAGCSSS,0"


def sample_bytes(path: Path = SAMPLE_VAL, *, shuffle_seed: int | None = None, extra: tuple[str, ...] = ()) -> bytes:
    header, *rows = path.read_text().splitlines()
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(rows)
    return ("\n".join([header, *rows, *extra]) + "\n").encode()


def stored_datasets(engine: Engine) -> list[tuple[str, int, dict[str, Any]]]:
    return [(s.key, s.version, s.state) for s in list_states(engine, "dataset")]


@both_stores
def test_register_same_content_twice_gives_one_version(
    client: GrainClient, in_process: InProcessClient, engine: Engine
) -> None:
    first = register_dataset(client, sample_bytes(), filename="val.csv")
    again = register_dataset(client, sample_bytes(shuffle_seed=3), filename="shuffled.csv", name="val again")

    assert first.created and not again.created
    assert again.dataset_id == first.dataset_id and len(first.dataset_id) == 64
    assert (again.name, again.aliases, again.source) == ("val", ["val again"], "val.csv")  # the first one is kept
    assert first.counts.stored == 25 and first.counts.rejected == 0
    assert again.report.source == "shuffled.csv"  # the answer describes this upload
    assert [s.dataset_id for s in list_datasets(engine)] == [first.dataset_id]
    assert [v.dataset_id for v in in_process.datasets()] == [first.dataset_id]

    detail: DatasetDetail = client.call(DatasetVersion, first.dataset_id, "show")
    assert (detail.report.source, detail.counts.stored, detail.aliases) == ("val.csv", 25, ["val again"])
    assert set(detail.profile.features) >= {"molecular_weight", "logp", "tpsa", "protein_length"}
    assert detail.profile.rows == 25
    assert resolve_dataset(engine, first.dataset_id[:8]) == first.dataset_id
    assert resolve_dataset(engine, "val again") == first.dataset_id
    assert in_process.dataset("val again") == detail  # the service shows the version a name or alias names


def test_register_rejects_bad_rows_and_reports_them(
    client: GrainClient, engine: Engine, artifacts: ArtifactStore
) -> None:
    registration = register_dataset(
        client, sample_bytes(extra=(BROKEN_SMILES_ROW, DIGIT_PROTEIN_ROW)), filename="with-bad-rows.csv"
    )

    assert registration.created
    counts = registration.counts
    assert (counts.read, counts.rejected, counts.stored) == (27, 2, 25)
    by_row = {r.row: r for r in registration.report.rejected}
    assert set(by_row) == {26, 27}
    assert by_row[26].columns == ["SMILES"] and "'C1CC'" in by_row[26].reason and "unclosed ring" in by_row[26].reason
    assert by_row[27].columns == ["Protein"] and "'1' at position 4" in by_row[27].reason
    # the same rows as the clean file: the rejected rows do not change the content id
    clean = register_dataset(client, sample_bytes(), filename="val.csv")
    assert clean.dataset_id == registration.dataset_id and not clean.created
    shown: DatasetDetail = client.call(DatasetVersion, registration.dataset_id, "show")
    assert [r.row for r in shown.report.rejected] == [26, 27]
    assert len(load_rows(artifacts, registration.dataset_id)) == 25


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SMILES,Protein\nCCO,MKVLA\n", "missing column(s) Y"),
        (b"", "the file is empty"),
        (f"SMILES,Protein,Y\n{BROKEN_SMILES_ROW}\n{DIGIT_PROTEIN_ROW}\n".encode(), "no valid row"),
    ],
    ids=["no-Y-column", "empty", "no-valid-row"],
)
def test_register_refused_file_stores_nothing(
    client: GrainClient, engine: Engine, artifacts: ArtifactStore, data: bytes, message: str
) -> None:
    kept = register_dataset(client, sample_bytes(), filename="val.csv")
    before = (artifacts.list(), stored_datasets(engine))

    with pytest.raises(InvalidTable) as refused:
        register_dataset(client, data, filename="bad.csv")

    assert message in refused.value.message and refused.value.message.startswith("bad.csv: ")
    assert (artifacts.list(), stored_datasets(engine)) == before
    assert client.call(DatasetVersion, kept.dataset_id, "summary").counts.stored == 25


def test_splits_reproducible_and_disjoint(client: GrainClient, artifacts: ArtifactStore) -> None:
    dataset_id = register_dataset(client, sample_bytes(SAMPLE_TRAIN), filename="train.csv").dataset_id
    rows = load_rows(artifacts, dataset_id)
    group_of = {
        "random": lambda i: i,
        "cold-drug": lambda i: rows["smiles"].iloc[i],
        "cold-target": lambda i: rows["protein"].iloc[i],
        "scaffold": lambda i: murcko_scaffold(rows["smiles"].iloc[i]),
    }
    for kind in SPLIT_KINDS:
        first: SplitSummary = client.call(DatasetVersion, dataset_id, "split", kind, 1, idempotent=False)
        again: SplitSummary = client.call(DatasetVersion, dataset_id, "split", kind, 1, idempotent=False)
        assert first == again and first.split_id == f"{kind}-1"
        parts = load_split_indices(artifacts, dataset_id, first.split_id)
        assert [len(parts[p]) for p in ("train", "val", "test")] == [first.train.size, first.val.size, first.test.size]
        assert all(len(index) > 0 for index in parts.values())
        assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(len(rows)))  # a partition
        groups = {name: {group_of[kind](int(i)) for i in index} for name, index in parts.items()}
        shared = groups["train"] & groups["val"] | groups["train"] & groups["test"] | groups["val"] & groups["test"]
        assert not shared, f"{kind}: groups in two parts: {sorted(map(str, shared))[:3]}"

    other: SplitSummary = client.call(DatasetVersion, dataset_id, "split", "random", 2, idempotent=False)
    seed_1 = load_split_indices(artifacts, dataset_id, "random-1")
    seed_2 = load_split_indices(artifacts, dataset_id, other.split_id)
    assert not np.array_equal(seed_1["test"], seed_2["test"])
    summary = client.call(DatasetVersion, dataset_id, "summary")
    assert summary.splits == [*(f"{k}-1" for k in SPLIT_KINDS), "random-2"]


def test_load_split_pairs_computes_a_split_nobody_asked_for(client: GrainClient, artifacts: ArtifactStore) -> None:
    dataset_id = register_dataset(client, sample_bytes(SAMPLE_TRAIN), filename="train.csv").dataset_id

    pairs = load_split_pairs(artifacts, dataset_id, "cold-target-42")  # no grain call made it

    assert artifacts.exists(f"datasets/{dataset_id}/splits/cold-target-42.parquet")
    assert sum(len(p) for p in pairs.values()) == 172
    assert not set(pairs["train"].proteins) & set(pairs["test"].proteins)
    assert all(p.labels is not None for p in pairs.values())
    # the grain's split with the same id is the same split
    summary: SplitSummary = client.call(DatasetVersion, dataset_id, "split", "cold-target", 42, idempotent=False)
    assert (summary.train.size, summary.val.size, summary.test.size) == tuple(
        len(pairs[p]) for p in ("train", "val", "test")
    )
    fractions = client.call(DatasetVersion, dataset_id, "split", "random", 7, [0.6, 0.2, 0.2], idempotent=False)
    assert fractions.split_id == "random-7-0.6-0.2-0.2" and fractions.test.size == round(0.2 * 172)


def test_state_survives_killing_the_host(client: GrainClient) -> None:
    registered = register_dataset(client, sample_bytes(), filename="val.csv", name="before the crash")
    client.call(DatasetVersion, registered.dataset_id, "split", "cold-drug", 1, idempotent=False)
    before: DatasetDetail = client.call(DatasetVersion, registered.dataset_id, "show")

    killed = kill_host(client, "dataset", registered.dataset_id)
    wait_for_new_host(client, "dataset", registered.dataset_id, killed)  # a new process: nothing held in memory

    after: DatasetDetail = client.call(DatasetVersion, registered.dataset_id, "show")
    assert after == before and after.name == "before the crash" and after.splits == ["cold-drug-1"]


def test_unknown_dataset_is_not_found_and_not_created(client: GrainClient, engine: Engine) -> None:
    unknown = "0" * 64
    with pytest.raises(DatasetNotFound, match=f"no dataset version {unknown}"):
        client.call(DatasetVersion, unknown, "show")
    with pytest.raises(DatasetNotFound):
        client.call(DatasetVersion, unknown, "split", "random", 1, idempotent=False)
    assert stored_datasets(engine) == []
    with pytest.raises(DatasetNotFound, match="no dataset version matches 'nothing-here'"):
        resolve_dataset(engine, "nothing-here")


def test_split_bad_request_refused(client: GrainClient) -> None:
    dataset_id = register_dataset(client, sample_bytes(), filename="val.csv").dataset_id
    with pytest.raises(InvalidInput, match="unknown split kind 'sideways'"):
        client.call(DatasetVersion, dataset_id, "split", "sideways", 1, idempotent=False)
    with pytest.raises(InvalidInput, match="must sum to 1"):
        client.call(DatasetVersion, dataset_id, "split", "random", 1, [0.5, 0.2, 0.2], idempotent=False)
    assert client.call(DatasetVersion, dataset_id, "summary").splits == []
    stored = ArtifactStore.from_settings(client.settings).list()
    assert not any("/splits/" in path for path in stored)
    assert {rows_path(dataset_id), report_path(dataset_id)} <= set(stored)  # the dataset itself is untouched


def test_tasks_waiting_for_a_cpu_are_refused_in_bounded_time(ray_cluster: None, settings: Settings) -> None:
    """A build or split that finds every CPU taken (training workers) answers ClusterBusy in about
    task_start_timeout_seconds, instead of waiting in Ray's queue for ever; nothing is left queued."""
    busy = settings.with_overrides(task_start_timeout_seconds=2, task_retry_after_seconds=7)
    client = GrainClient(busy)
    try:
        with pytest.raises(DatasetNotFound):  # the pool's host starts now, with the short wait
            client.call(DatasetVersion, "0" * 64, "summary")
        # the default wait here: the session's first task also waits for a worker process to start
        dataset_id = register_dataset(GrainClient(settings), sample_bytes(), filename="val.csv").dataset_id
        with free_cpus_taken():
            started = time.monotonic()
            with pytest.raises(ClusterBusy, match="building the dataset found no free CPU in 2s") as refused:
                register_dataset(client, SAMPLE_TRAIN.read_bytes(), filename="train.csv")
            assert refused.value.retry_after == 7
            with pytest.raises(ClusterBusy, match=f"splitting dataset {dataset_id[:12]} found no free CPU"):
                client.call(DatasetVersion, dataset_id, "split", "random", 1, idempotent=False)
            assert time.monotonic() - started < 60
        assert client.call(DatasetVersion, dataset_id, "summary").splits == []  # the refused split: not recorded
        # with CPUs free again (and the default wait, which covers starting a worker process) it goes through
        assert register_dataset(GrainClient(settings), SAMPLE_TRAIN.read_bytes(), filename="train.csv").created
    finally:
        client.stop()
