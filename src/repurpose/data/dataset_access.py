"""Reading dataset versions and their splits straight from the artifact store (no grain call).

A dataset version's artifacts live under ``datasets/<dataset id>/``:

- ``rows.parquet``: the normalised rows (``smiles``, ``protein``, ``y``), sorted; written
  before the DatasetVersion grain records the version, and checked against the id on read;
- ``report.json``: the validation report of the first registration;
- ``splits/<split id>.parquet``: one ``part`` per row (0 train, 1 validation, 2 test).

A split is a function of the rows (so of the dataset id), its kind, seed and fractions, all
named by its id (``contracts.splits``): ``cold-drug-1`` is a cold-drug split with seed 1 and the default fractions
0.8/0.1/0.1, ``random-42-0.7-0.15-0.15`` one with other fractions. So anyone holding the
artifact store can compute a split nobody asked for yet, and store it where the grain would:
``load_split_pairs(artifacts, dataset_id, "random-42")`` works on any registered version.
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from repurpose.contracts.datasets import SplitPartSummary, SplitSummary
from repurpose.contracts.splits import PART_NAMES, parse_split_id
from repurpose.data.dataset_paths import rows_path, split_path
from repurpose.data.datasets import rows_from_parquet
from repurpose.data.pairs import PairSet, pairs_digest
from repurpose.data.splits import SplitPart, split_rows
from repurpose.errors import ArtifactNotFound, DatasetNotFound, InvalidTable
from repurpose.runtime.artifacts import ArtifactStore

_PART_SCHEMA = pa.schema([pa.field("part", pa.int8(), nullable=False)])


def load_rows(artifacts: ArtifactStore, dataset_id: str) -> pd.DataFrame:
    """The stored rows of a dataset version, checked against its id; DatasetNotFound if absent."""
    path = rows_path(dataset_id)
    try:
        data = artifacts.get_bytes(path)
    except ArtifactNotFound:
        raise DatasetNotFound(
            f"no dataset version {dataset_id}: its rows are not in the artifact store ({artifacts.url_for(path)})",
            dataset_id=dataset_id,
        ) from None
    return rows_from_parquet(data, expected_id=dataset_id)


def load_dataset_pairs(artifacts: ArtifactStore, dataset_id: str) -> PairSet:
    """Every stored row of a dataset version as a PairSet (canonical SMILES, labels)."""
    return _pairs(load_rows(artifacts, dataset_id))


def compute_split(
    artifacts: ArtifactStore, dataset_id: str, split_id: str, *, rows: pd.DataFrame | None = None
) -> SplitSummary:
    """Compute a split from the stored rows and store its row-to-part table (idempotent: the
    same id always gives the same table). Heavy for scaffold splits of big tables: run it in a
    worker (a Ray task), not on an event loop."""
    spec = parse_split_id(split_id)
    rows = load_rows(artifacts, dataset_id) if rows is None else rows
    total = sum(spec.fractions)  # 1 up to the rounding of the id's fractions (1/3 is 0.333333)
    fractions = [f / total for f in spec.fractions]
    result = split_rows(rows, kind=spec.kind, seed=spec.seed, fractions=fractions)
    part_of = np.empty(len(rows), dtype=np.int8)
    for code, part in enumerate(result.parts()):
        part_of[part.indices] = code
    path = split_path(dataset_id, split_id)
    artifacts.put_bytes(path, _parts_to_parquet(part_of))
    return SplitSummary(
        split_id=split_id,
        kind=spec.kind,
        seed=spec.seed,
        requested=result.requested,
        train=_part_summary(result.train),
        val=_part_summary(result.val),
        test=_part_summary(result.test),
        path=path,
        created_at=dt.datetime.now(dt.UTC),
    )


def load_split_indices(
    artifacts: ArtifactStore, dataset_id: str, split_id: str, *, rows: pd.DataFrame | None = None
) -> dict[str, np.ndarray]:
    """Row indices (ascending, int64) of ``train``, ``val`` and ``test``; computes and stores the
    split first if nobody has made it yet."""
    path = split_path(dataset_id, split_id)
    try:
        part_of = _parts_from_parquet(artifacts.get_bytes(path), path)
    except ArtifactNotFound:
        compute_split(artifacts, dataset_id, split_id, rows=rows)
        part_of = _parts_from_parquet(artifacts.get_bytes(path), path)
    if rows is not None and len(part_of) != len(rows):
        raise InvalidTable(f"split {path} has {len(part_of)} rows, the dataset {len(rows)}: the artifact is damaged")
    return {name: np.flatnonzero(part_of == code) for code, name in enumerate(PART_NAMES)}


def load_split_pairs(artifacts: ArtifactStore, dataset_id: str, split_id: str) -> dict[str, PairSet]:
    """``{"train": …, "val": …, "test": …}`` PairSets of a split (computed and stored if new)."""
    rows = load_rows(artifacts, dataset_id)
    indices = load_split_indices(artifacts, dataset_id, split_id, rows=rows)
    return {name: _pairs(rows.iloc[index]) for name, index in indices.items()}


def _pairs(rows: pd.DataFrame) -> PairSet:
    smiles = rows["smiles"].tolist()
    proteins = rows["protein"].tolist()
    labels = rows["y"].to_numpy(dtype=np.int64)
    return PairSet(smiles=smiles, proteins=proteins, labels=labels, sha256=pairs_digest(smiles, proteins, labels))


def _part_summary(part: SplitPart) -> SplitPartSummary:
    return SplitPartSummary(size=part.size, fraction=part.fraction, groups=part.groups, positives=part.positives)


def _parts_to_parquet(part_of: np.ndarray) -> bytes:
    table = pa.Table.from_arrays([pa.array(part_of, type=pa.int8())], schema=_PART_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _parts_from_parquet(data: bytes, path: str) -> np.ndarray:
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as error:
        raise InvalidTable(f"split {path} is not readable Parquet: {error}") from None
    if table.schema.names != ["part"]:
        raise InvalidTable(f"split {path} has columns {','.join(table.schema.names)}; expected part")
    part_of = table.column("part").to_numpy().astype(np.int8)
    if part_of.size and (part_of.min() < 0 or part_of.max() > 2):
        raise InvalidTable(f"split {path} holds parts other than 0, 1 and 2")
    return part_of
