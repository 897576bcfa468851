"""Reading dataset versions and their splits straight from the artifact store (no grain call).

A dataset version's artifacts live under ``datasets/<dataset id>/``:

- ``rows.parquet``: the normalised rows (``smiles``, ``protein``, ``y``), sorted; written
  before the DatasetVersion grain records the version, and checked against the id on read;
- ``report.json``: the validation report of the first registration;
- ``splits/<split id>.parquet``: one ``part`` per row (0 train, 1 validation, 2 test).

A split is a function of the rows (so of the dataset id), its kind, seed and fractions, all
named by its id: ``cold-drug-1`` is a cold-drug split with seed 1 and the default fractions
0.8/0.1/0.1, ``random-42-0.7-0.15-0.15`` one with other fractions. So anyone holding the
artifact store can compute a split nobody asked for yet, and store it where the grain would:
``load_split_pairs(artifacts, dataset_id, "random-42")`` works on any registered version.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence
from typing import NamedTuple, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from repurpose.artifacts import ArtifactStore
from repurpose.contracts.datasets import SplitPartSummary, SplitSummary
from repurpose.dataset_splits import (
    DEFAULT_FRACTIONS,
    PART_NAMES,
    SPLIT_KINDS,
    SplitFractions,
    SplitKind,
    SplitPart,
    split_rows,
)
from repurpose.datasets import rows_from_parquet
from repurpose.errors import ArtifactNotFound, DatasetNotFound, InvalidInput, InvalidTable
from repurpose.pairs import PairSet, pairs_digest

DATASETS_PREFIX = "datasets"
DATASET_ID_PATTERN = re.compile(r"^[0-9a-f]{64}$")
FRACTION_DECIMALS = 6

_NUMBER = r"\d+(?:\.\d+)?"
_SPLIT_ID = re.compile(
    rf"^(?P<kind>{'|'.join(re.escape(k) for k in SPLIT_KINDS)})-(?P<seed>\d+)"
    rf"(?:-(?P<train>{_NUMBER})-(?P<val>{_NUMBER})-(?P<test>{_NUMBER}))?$"
)
_PART_SCHEMA = pa.schema([pa.field("part", pa.int8(), nullable=False)])


class SplitSpec(NamedTuple):
    kind: SplitKind
    seed: int
    fractions: tuple[float, float, float]


def check_dataset_id(dataset_id: str) -> str:
    """``dataset_id`` if it is a dataset id (64 lower-case hex digits), else InvalidInput."""
    if not isinstance(dataset_id, str) or not DATASET_ID_PATTERN.match(dataset_id):
        raise InvalidInput(f"{dataset_id!r:.80} is not a dataset id: those are 64 hex digits (a sha256)")
    return dataset_id


def dataset_prefix(dataset_id: str) -> str:
    return f"{DATASETS_PREFIX}/{check_dataset_id(dataset_id)}"


def rows_path(dataset_id: str) -> str:
    return f"{dataset_prefix(dataset_id)}/rows.parquet"


def report_path(dataset_id: str) -> str:
    return f"{dataset_prefix(dataset_id)}/report.json"


def split_path(dataset_id: str, split_id: str) -> str:
    parse_split_id(split_id)
    return f"{dataset_prefix(dataset_id)}/splits/{split_id}.parquet"


def split_id_for(kind: str, seed: int, fractions: SplitFractions | Sequence[float] | None = None) -> str:
    """The id of a split: ``<kind>-<seed>``, plus ``-<train>-<val>-<test>`` unless the fractions
    are the default 0.8/0.1/0.1. Fractions are rounded to 6 decimals, so the id names them exactly."""
    if kind not in SPLIT_KINDS:
        raise InvalidInput(f"unknown split kind {kind!r}; use one of {', '.join(SPLIT_KINDS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"a split seed is a non-negative integer, not {seed!r}")
    values = _canonical_fractions(fractions)
    if values == DEFAULT_FRACTIONS:
        return f"{kind}-{seed}"
    return f"{kind}-{seed}-" + "-".join(_fraction_text(v) for v in values)


def parse_split_id(split_id: str) -> SplitSpec:
    """The kind, seed and fractions a split id names; InvalidInput for anything else."""
    match = _SPLIT_ID.match(split_id) if isinstance(split_id, str) else None
    if match is None:
        raise InvalidInput(
            f"{split_id!r:.80} is not a split id: use <kind>-<seed> (e.g. cold-drug-1, random-42) or "
            f"<kind>-<seed>-<train>-<val>-<test> (e.g. random-42-0.7-0.15-0.15); kinds: {', '.join(SPLIT_KINDS)}"
        )
    kind = cast(SplitKind, match["kind"])
    seed = int(match["seed"])
    fractions = (
        DEFAULT_FRACTIONS
        if match["train"] is None
        else _canonical_fractions([float(match["train"]), float(match["val"]), float(match["test"])])
    )
    canonical = split_id_for(kind, seed, fractions)
    if canonical != split_id:
        raise InvalidInput(f"split id {split_id!r} is not written canonically: use {canonical!r}")
    return SplitSpec(kind, seed, fractions)


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


def _canonical_fractions(fractions: SplitFractions | Sequence[float] | None) -> tuple[float, float, float]:
    if fractions is None:
        return DEFAULT_FRACTIONS
    values = (
        (fractions.train, fractions.val, fractions.test) if isinstance(fractions, SplitFractions) else tuple(fractions)
    )
    if len(values) != 3 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and v >= 0 for v in values
    ):
        raise InvalidInput(f"split fractions are three non-negative numbers (train, val, test), not {fractions!r}")
    rounded = tuple(round(float(v), FRACTION_DECIMALS) for v in values)
    if abs(sum(rounded) - 1.0) > 3 * 0.5 * 10**-FRACTION_DECIMALS or rounded[0] <= 0:  # rounding's error allowed
        raise InvalidInput(f"split fractions must sum to 1 with a non-zero train part, not {values!r}")
    return cast(tuple[float, float, float], rounded)


def _fraction_text(value: float) -> str:
    text = f"{value:.{FRACTION_DECIMALS}f}".rstrip("0").rstrip(".")
    return text or "0"


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
