"""Tables of drug–target pairs (``SMILES,Protein[,Y]``): reading, validating, hashing.

A pair file is refused as a whole, with the row and the reason, if any row is bad: a model
trained or evaluated on silently dropped rows would report numbers about another file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from repurpose.contracts.targets import normalize_protein
from repurpose.data.drug_graph import parse_smiles
from repurpose.errors import InvalidInput, InvalidTable

REQUIRED_COLUMNS = ("SMILES", "Protein")
LABEL_COLUMN = "Y"


@dataclass(frozen=True)
class PairSet:
    """Validated pairs: SMILES as given (stripped), upper-cased proteins, labels if present."""

    smiles: list[str]
    proteins: list[str]
    labels: np.ndarray | None  # (n,) int64 in {0, 1}
    sha256: str  # of the normalised rows, so the same content hashes the same

    def __len__(self) -> int:
        return len(self.smiles)

    def subset(self, index: np.ndarray) -> PairSet:
        return PairSet(
            smiles=[self.smiles[i] for i in index],
            proteins=[self.proteins[i] for i in index],
            labels=None if self.labels is None else self.labels[index],
            sha256=self.sha256,
        )


def read_pairs(path: str | Path, *, require_labels: bool = True) -> PairSet:
    """Read and validate a CSV or Parquet pair file; InvalidTable names the bad row and why."""
    frame = _read_frame(Path(path))
    needed = (*REQUIRED_COLUMNS, LABEL_COLUMN) if require_labels else REQUIRED_COLUMNS
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InvalidTable(
            f"{path}: missing column(s) {', '.join(missing)}; a pair file needs the columns "
            f"{','.join(needed)} (found: {','.join(map(str, frame.columns)) or 'none'})"
        )
    if frame.empty:
        raise InvalidTable(f"{path}: no rows: the file has a header but no pairs")
    labels = _labels(frame, path) if LABEL_COLUMN in frame.columns and require_labels else None
    return pairs_from_columns(frame["SMILES"].tolist(), frame["Protein"].tolist(), labels, source=str(path))


def pairs_from_columns(
    smiles: Sequence[object], proteins: Sequence[object], labels: np.ndarray | None = None, *, source: str = "input"
) -> PairSet:
    """Validate in-memory pairs; row numbers in errors count data rows from 1."""
    clean_smiles: list[str] = []
    clean_proteins: list[str] = []
    checked: dict[str, None] = {}  # SMILES already parsed: libraries repeat compounds
    for row, (s, p) in enumerate(zip(smiles, proteins, strict=True), start=1):
        text = s.strip() if isinstance(s, str) else ""
        try:
            if text not in checked:
                parse_smiles(text)
                checked[text] = None
            protein = normalize_protein(p if isinstance(p, str) else "")
        except InvalidInput as error:
            raise InvalidTable(f"{source}: row {row}: {error.message}", row=row) from error
        clean_smiles.append(text)
        clean_proteins.append(protein)
    return PairSet(
        smiles=clean_smiles,
        proteins=clean_proteins,
        labels=labels,
        sha256=pairs_digest(clean_smiles, clean_proteins, labels),
    )


def pairs_digest(smiles: list[str], proteins: list[str], labels: np.ndarray | None) -> str:
    """The ``PairSet.sha256`` of pairs already normalised (e.g. a stored dataset version's rows)."""
    digest = hashlib.sha256()
    for i, (s, p) in enumerate(zip(smiles, proteins, strict=True)):
        label = "" if labels is None else str(int(labels[i]))
        digest.update(f"{s},{p},{label}\n".encode())
    return digest.hexdigest()


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InvalidTable(f"{path}: no such file")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"SMILES": str, "Protein": str}, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InvalidTable(f"{path}: the file is empty; a pair file needs a header SMILES,Protein,Y") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as error:
        raise InvalidTable(f"{path}: cannot read it as a table: {error}") from None


def _labels(frame: pd.DataFrame, path: object) -> np.ndarray:
    values = pd.to_numeric(frame[LABEL_COLUMN], errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        value = frame[LABEL_COLUMN].iloc[row - 1]
        shown = value.item() if isinstance(value, np.generic) else value  # 2, not np.int64(2)
        raise InvalidTable(f"{path}: row {row}: label Y={shown!r} is not 0 or 1", row=row)
    return values.to_numpy(dtype=np.int64)
