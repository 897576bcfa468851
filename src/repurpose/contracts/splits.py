"""Splits of a dataset version at the boundaries: their kinds, fractions and ids.

A split is named by its id, ``<kind>-<seed>`` plus ``-<train>-<val>-<test>`` unless the fractions
are the default 0.8/0.1/0.1: ``cold-drug-1``, ``random-42-0.7-0.15-0.15``. The id names the split
exactly (fractions rounded to 6 decimals), so anyone holding a dataset version can compute it
(``data.dataset_access``, ``data.splits``).

The one default split (``DEFAULT_SPLIT_ID``) is what `datasets split`, `train` and `models
evaluate` mean when no split is named, in the CLI, the gateway and the grains alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final, Literal, NamedTuple, cast, get_args

from repurpose.contracts.base import Contract
from repurpose.errors import InvalidInput

SplitKind = Literal["random", "cold-drug", "cold-target", "scaffold"]
SPLIT_KINDS: tuple[str, ...] = get_args(SplitKind)
PART_NAMES = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
FRACTION_DECIMALS = 6

DEFAULT_SPLIT_KIND: Final = "random"
DEFAULT_SPLIT_SEED: Final = 42
DEFAULT_SPLIT_ID: Final = f"{DEFAULT_SPLIT_KIND}-{DEFAULT_SPLIT_SEED}"

_NUMBER = r"\d+(?:\.\d+)?"
_SPLIT_ID = re.compile(
    rf"^(?P<kind>{'|'.join(re.escape(k) for k in SPLIT_KINDS)})-(?P<seed>\d+)"
    rf"(?:-(?P<train>{_NUMBER})-(?P<val>{_NUMBER})-(?P<test>{_NUMBER}))?$"
)


class SplitFractions(Contract):
    train: float
    val: float
    test: float


class SplitSpec(NamedTuple):
    kind: SplitKind
    seed: int
    fractions: tuple[float, float, float]


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


def _canonical_fractions(fractions: SplitFractions | Sequence[float] | None) -> tuple[float, float, float]:
    if fractions is None:
        return DEFAULT_FRACTIONS
    values = (
        (fractions.train, fractions.val, fractions.test) if isinstance(fractions, SplitFractions) else tuple(fractions)
    )
    if len(values) != 3 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in values
    ):
        raise InvalidInput(f"split fractions are three non-negative numbers (train, val, test), not {fractions!r}")
    rounded = tuple(round(float(v), FRACTION_DECIMALS) for v in values)
    if abs(sum(rounded) - 1.0) > 3 * 0.5 * 10**-FRACTION_DECIMALS or rounded[0] <= 0:  # rounding's error allowed
        raise InvalidInput(f"split fractions must sum to 1 with a non-zero train part, not {values!r}")
    return cast(tuple[float, float, float], rounded)


def _fraction_text(value: float) -> str:
    text = f"{value:.{FRACTION_DECIMALS}f}".rstrip("0").rstrip(".")
    return text or "0"
