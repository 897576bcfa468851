"""The bundled datasets: registered on ``repurpose up``, with their standard splits.

``data/union/pairs.parquet`` (the union of BioSNAP, BindingDB, DAVIS and Human pairs the
bundled union models learn from; ``scripts/build_union_data.py`` made it) becomes the dataset
version named ``union``, content-addressed like any registered table, with the splits
``random-42``, ``cold-target-42``, ``cold-drug-42`` and ``scaffold-42`` (seed 42: the split
``train`` and ``models evaluate`` use by default). A split the version has already is not made
again; a missing file prints a line and ``up`` goes on without it.

Building the union's 38,406 rows (RDKit canonicalisation, the descriptor profile) is most of
what this costs ``up``. A second ``up`` must not pay it again just to learn the id it already
has, so a small record, ``bundled-datasets/<name>.json`` in the artifact store, keeps the
sha256 of the file's bytes and the dataset id: the same bytes, registered, are not rebuilt.
The record also tells ``cluster.bundled_models`` which version a bundled model's lineage names.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from pydantic import BaseModel, ValidationError

from repurpose.actors.dataset_version import DatasetVersion
from repurpose.bundled_paths import bundled_data_dir
from repurpose.contracts.datasets import DatasetSummary
from repurpose.contracts.splits import DEFAULT_SPLIT_SEED, split_id_for
from repurpose.data.dataset_access import load_rows, load_split_indices
from repurpose.data.pairs import pairs_digest
from repurpose.errors import ArtifactNotFound, DatasetNotFound, RepurposeError
from repurpose.grains import GrainClient
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.services.in_process import InProcessClient

UNION: Final = "union"
BUNDLED_DATASETS: Final[dict[str, Path]] = {UNION: Path("union") / "pairs.parquet"}
"""Name → file under the bundled data folder."""
SPLIT_KINDS: Final = ("random", "cold-target", "cold-drug", "scaffold")
SPLIT_SEED: Final = DEFAULT_SPLIT_SEED
RECORDS_PREFIX: Final = "bundled-datasets"


@dataclass(frozen=True)
class BundledSplit:
    """One split of a registered bundled dataset."""

    name: str  # the dataset's
    dataset_id: str
    split_id: str


class BundledRecord(BaseModel):
    """Which dataset version a bundled file was registered as (``bundled-datasets/<name>.json``)."""

    name: str
    file_sha256: str
    dataset_id: str


def bundled_split_ids() -> list[str]:
    """``random-42``, ``cold-target-42``, ``cold-drug-42``, ``scaffold-42``."""
    return [split_id_for(kind, SPLIT_SEED) for kind in SPLIT_KINDS]


def register_bundled_datasets(client: GrainClient) -> list[str]:
    """Register every bundled dataset that is not registered yet and make its missing splits.

    Returns the lines to print: none when everything was there already."""
    lines: list[str] = []
    for name, relative in BUNDLED_DATASETS.items():
        lines.extend(register_bundled_dataset(client, name, bundled_data_dir(client.settings) / relative))
    return lines


def register_bundled_dataset(client: GrainClient, name: str, path: Path) -> list[str]:
    """Register the table at ``path`` as the dataset version ``name`` (once per content) with the
    bundled splits; the lines to print."""
    if not path.is_file():
        return [f"no bundled dataset at {path}: the cluster starts without the {name} dataset"]
    started = time.perf_counter()
    data = path.read_bytes()
    file_sha256 = hashlib.sha256(data).hexdigest()
    artifacts = ArtifactStore.from_settings(client.settings)
    try:
        summary = _registered(client, artifacts, name, file_sha256)
        built = summary is None
        made: list[str] = []
        with InProcessClient.on(client) as services:  # the same use cases as `datasets register` and `split`
            if summary is None:
                summary = services.register_dataset(data, path.name, name)
                record = BundledRecord(name=name, file_sha256=file_sha256, dataset_id=summary.dataset_id)
                artifacts.put_bytes(_record_path(name), record.model_dump_json().encode())
            for kind, split_id in zip(SPLIT_KINDS, bundled_split_ids(), strict=True):
                if split_id not in summary.splits:  # the grain answers a split it has anyway; this skips the call
                    services.split_dataset(summary.dataset_id, kind, SPLIT_SEED, None)
                    made.append(split_id)
    except RepurposeError as error:
        return [f"the bundled dataset {name} is not registered with its splits: {error.message}"]
    if not built and not made:
        return []
    took = f"in {time.perf_counter() - started:.0f} s"
    splits = f"its splits {', '.join(made)}" if made else "no new split"
    if built:
        return [
            f"registered the bundled dataset {name} ({summary.counts.stored:,} pairs, {summary.dataset_id[:12]}) "
            f"with {splits} {took}"
        ]
    return [f"made {splits} of the bundled dataset {name} ({summary.dataset_id[:12]}) {took}"]


def bundled_datasets(client: GrainClient) -> dict[str, DatasetSummary]:
    """The bundled datasets registered on this cluster, by name (whether or not their files are
    still there): what ``up`` registered them as."""
    artifacts = ArtifactStore.from_settings(client.settings)
    found: dict[str, DatasetSummary] = {}
    for name in BUNDLED_DATASETS:
        record = _read_record(artifacts, name)
        if record is None:
            continue
        try:
            found[name] = client.call(DatasetVersion, record.dataset_id, "summary")
        except DatasetNotFound:  # recorded in another store sharing these artifacts
            continue
    return found


def bundled_train_parts(client: GrainClient) -> dict[str, BundledSplit]:
    """The bundled splits by the sha256 of their train part, computed as a model directory's
    manifest records its training pairs (``PairSet.sha256``): which split a model learned from."""
    artifacts = ArtifactStore.from_settings(client.settings)
    parts: dict[str, BundledSplit] = {}
    for name, summary in bundled_datasets(client).items():
        rows = load_rows(artifacts, summary.dataset_id)
        for split_id in bundled_split_ids():
            if split_id not in summary.splits:
                continue
            train = rows.iloc[load_split_indices(artifacts, summary.dataset_id, split_id, rows=rows)["train"]]
            labels = train["y"].to_numpy(dtype=np.int64)
            sha256 = pairs_digest(train["smiles"].tolist(), train["protein"].tolist(), labels)
            parts[sha256] = BundledSplit(name=name, dataset_id=summary.dataset_id, split_id=split_id)
    return parts


def _registered(client: GrainClient, artifacts: ArtifactStore, name: str, file_sha256: str) -> DatasetSummary | None:
    """The version these bytes were registered as, if its record says so and it is registered here."""
    record = _read_record(artifacts, name)
    if record is None or record.file_sha256 != file_sha256:
        return None
    try:
        summary: DatasetSummary = client.call(DatasetVersion, record.dataset_id, "summary")
    except DatasetNotFound:
        return None
    return summary


def _read_record(artifacts: ArtifactStore, name: str) -> BundledRecord | None:
    try:
        return BundledRecord.model_validate_json(artifacts.get_bytes(_record_path(name)))
    except ArtifactNotFound:
        return None
    except ValidationError:  # damaged: registering the file again rewrites it
        return None


def _record_path(name: str) -> str:
    return f"{RECORDS_PREFIX}/{name}.json"
