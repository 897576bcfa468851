"""Train/validation/test splits of a dataset version's rows: seeded and reproducible.

Four kinds:

- ``random``: rows shuffled with the seed and cut at the requested fractions.
- ``cold-drug``: whole compounds (canonical SMILES) per part: no compound in two parts.
- ``cold-target``: whole proteins per part: no protein in two parts.
- ``scaffold``: whole Bemis–Murcko scaffolds per part (ring systems and linkers with their
  atom types and bond orders; stereo ignored). Acyclic compounds have the empty scaffold and
  form one group together: counting each chain as its own "scaffold" would let the holdout
  parts fill up with small chains while claiming novel scaffolds. Being large, that group
  usually lands in training (see below), where it cannot flatter holdout scores.

Group kinds assign groups in a seeded order, large groups first: groups bigger than half the
smallest holdout part's target are shuffled and placed before the shuffled rest, and each
group goes to the part with the most room left (target rows minus rows so far; ties go to
train, then val). Large groups thus fill training first instead of making a holdout part one
big group, the seed still changes the split, and the fractions come close to the request.
When the groups left are just enough to give every still-empty part one, they do.

Row indices refer to the rows as given (``DatasetBuild.rows`` are sorted by content), so a
split is a function of (dataset id, kind, seed, fractions). A requested non-zero part that
would be empty is refused with InvalidInput rather than returned empty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from rdkit.Chem.Scaffolds import MurckoScaffold

from repurpose.contracts.splits import DEFAULT_FRACTIONS, PART_NAMES, SPLIT_KINDS, SplitFractions, SplitKind
from repurpose.data.drug_graph import parse_smiles
from repurpose.errors import InvalidInput, InvalidTable

_GROUP_NOUNS: dict[str, str] = {
    "random": "rows",
    "cold-drug": "distinct compounds",
    "cold-target": "distinct proteins",
    "scaffold": "distinct scaffolds",
}


class SplitPart(BaseModel):
    indices: list[int] = Field(description="Row indices, ascending.")
    size: int
    fraction: float = Field(description="size / rows: the actual fraction.")
    groups: int = Field(description="Distinct compounds / proteins / scaffolds (rows for random).")
    positives: int


class SplitResult(BaseModel):
    kind: SplitKind
    seed: int
    requested: SplitFractions
    train: SplitPart
    val: SplitPart
    test: SplitPart

    @property
    def actual(self) -> SplitFractions:
        return SplitFractions(train=self.train.fraction, val=self.val.fraction, test=self.test.fraction)

    def parts(self) -> tuple[SplitPart, SplitPart, SplitPart]:
        return self.train, self.val, self.test


def split_rows(
    rows: pd.DataFrame,
    *,
    kind: str,
    seed: int,
    fractions: SplitFractions | Sequence[float] = DEFAULT_FRACTIONS,
) -> SplitResult:
    """Split ``rows`` (columns smiles, protein, y) into train/val/test row indices."""
    if kind not in SPLIT_KINDS:
        raise InvalidInput(f"unknown split kind {kind!r}; use one of {', '.join(SPLIT_KINDS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"a split seed is a non-negative integer, not {seed!r}")
    wanted = _check_fractions(fractions)
    missing = [c for c in ("smiles", "protein", "y") if c not in rows.columns]
    if missing:
        raise InvalidTable(f"rows to split lack the column(s) {', '.join(missing)}")
    n = len(rows)
    targets = _target_sizes(n, wanted)
    rng = np.random.default_rng(seed)

    if kind == "random":
        order = rng.permutation(n)
        part_of = np.empty(n, dtype=np.int64)
        part_of[order] = np.repeat(np.arange(3), targets)
        group_keys = [str(i) for i in range(n)]
    else:
        key_of: Callable[[str], str] = _scaffold_key() if kind == "scaffold" else str
        column = "smiles" if kind in ("cold-drug", "scaffold") else "protein"
        group_keys = [key_of(value) for value in rows[column].tolist()]
        part_of = _split_groups(group_keys, targets, wanted, rng)

    labels = rows["y"].to_numpy()
    parts: list[SplitPart] = []
    for part, name in enumerate(PART_NAMES):
        indices = np.flatnonzero(part_of == part)
        if indices.size == 0 and wanted[part] > 0:
            raise InvalidInput(
                f"a {kind} split of these {n} rows leaves {name} empty: they hold "
                f"{len(set(group_keys))} {_GROUP_NOUNS[kind]} for {sum(f > 0 for f in wanted)} non-empty parts"
            )
        parts.append(
            SplitPart(
                indices=indices.tolist(),
                size=int(indices.size),
                fraction=indices.size / n if n else 0.0,
                groups=len({group_keys[i] for i in indices}),
                positives=int(labels[indices].sum()),
            )
        )
    return SplitResult(
        kind=cast(SplitKind, kind),  # checked against SPLIT_KINDS above
        seed=seed,
        requested=SplitFractions(train=wanted[0], val=wanted[1], test=wanted[2]),
        train=parts[0],
        val=parts[1],
        test=parts[2],
    )


def murcko_scaffold(smiles: str) -> str:
    """The Bemis–Murcko scaffold as canonical SMILES, stereo ignored; '' for an acyclic compound."""
    return str(MurckoScaffold.MurckoScaffoldSmiles(mol=parse_smiles(smiles), includeChirality=False))


def _scaffold_key() -> Callable[[str], str]:
    cache: dict[str, str] = {}  # compounds repeat across targets: one scaffold computation each

    def key(smiles: str) -> str:
        if smiles not in cache:
            cache[smiles] = murcko_scaffold(smiles)
        return cache[smiles]

    return key


def _check_fractions(fractions: SplitFractions | Sequence[float]) -> tuple[float, float, float]:
    values = (
        (fractions.train, fractions.val, fractions.test) if isinstance(fractions, SplitFractions) else tuple(fractions)
    )
    if len(values) != 3 or not all(isinstance(f, int | float) and math.isfinite(f) and f >= 0 for f in values):
        raise InvalidInput(f"split fractions are three non-negative numbers (train, val, test), not {fractions!r}")
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6) or values[0] <= 0:
        raise InvalidInput(f"split fractions must sum to 1 with a non-zero train part, not {values!r}")
    return float(values[0]), float(values[1]), float(values[2])


def _target_sizes(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Rows per part: largest remainders, and at least one row for every non-zero part when
    there are enough rows (taken from the largest part)."""
    raw = [f * n for f in fractions]
    sizes = [math.floor(r) for r in raw]
    by_remainder = sorted(range(3), key=lambda p: (-(raw[p] - sizes[p]), p))
    for p in by_remainder[: n - sum(sizes)]:
        sizes[p] += 1
    active = [p for p in range(3) if fractions[p] > 0]
    if n >= len(active):
        for p in active:
            if sizes[p] == 0:
                sizes[max(range(3), key=lambda q: sizes[q])] -= 1
                sizes[p] = 1
    return sizes


def _split_groups(
    keys: list[str], targets: list[int], fractions: tuple[float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """The part (0, 1, 2) of every row, whole groups per part; see the module docstring."""
    names = sorted(set(keys))  # sorted: the order must not depend on the rows' or a set's order
    index_of = {name: i for i, name in enumerate(names)}
    group_of_row = np.fromiter((index_of[k] for k in keys), dtype=np.int64, count=len(keys))
    sizes = np.bincount(group_of_row, minlength=len(names))

    holdout_targets = [targets[p] for p in (1, 2) if fractions[p] > 0]
    threshold = min(holdout_targets) / 2 if holdout_targets else math.inf
    large = np.flatnonzero(sizes > threshold)
    small = np.flatnonzero(sizes <= threshold)
    order = np.concatenate([rng.permutation(large), rng.permutation(small)])

    active = [p for p in range(3) if fractions[p] > 0]
    filled = [0, 0, 0]
    used = [0, 0, 0]  # groups per part
    part_of_group = np.empty(len(names), dtype=np.int64)
    for position, group in enumerate(order):
        empty = [p for p in active if used[p] == 0]
        candidates = empty if len(empty) >= len(order) - position else active
        part = max(candidates, key=lambda p: targets[p] - filled[p])  # first maximum: train, then val
        part_of_group[group] = part
        filled[part] += int(sizes[group])
        used[part] += 1
    return part_of_group[group_of_row]
