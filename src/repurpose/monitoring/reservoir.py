"""A bounded, mergeable uniform sample of a stream of rows (bottom-k sampling).

Every row offered gets a random integer key; the sample holds the rows whose keys are below a
threshold, at most ``capacity`` of them (the smallest keys when there are more: the first key
left out becomes the threshold). That is a uniform sample without replacement of every row
offered, and samples merge exactly: the rows of both below the smaller threshold are precisely
the rows of both streams with keys that low, so the merge is again a uniform sample, of the
combined stream. A sample built from buckets (a minute's traffic each) is then as uniform as
one kept over the whole window, only perhaps smaller: a bucket that kept few of its rows lowers
the threshold for all. Shrinking a sample (``resized``) keeps its smallest keys: still uniform.

A row is one value per column (a scored pair: its descriptors and its score), so the columns of
a sample always describe the same pairs. Keys come from a generator the caller seeds
(``numpy.random.default_rng``): the same rows offered in the same order give the same sample.
Values are kept rounded to ``DECIMALS`` places: the sample lives in JSON (a grain's state), and
four decimals are far finer than any drift statistic can tell apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field, model_validator

KEY_RANGE = 2**31
"""Keys are drawn from [0, KEY_RANGE): integers, so they stay exact in JSON."""
DECIMALS = 4


class Reservoir(BaseModel):
    """A uniform sample of at most ``capacity`` of the rows offered (``seen``), column by column."""

    capacity: int = Field(ge=0)
    seen: int = Field(default=0, ge=0, description="Rows offered so far.")
    threshold: int = Field(default=KEY_RANGE, description="Every row offered with a key below this is kept.")
    keys: list[int] = Field(default_factory=list)
    columns: dict[str, list[float]]

    @model_validator(mode="after")
    def _rows_whole(self) -> Reservoir:
        if len(self.keys) > self.capacity or any(len(v) != len(self.keys) for v in self.columns.values()):
            raise ValueError("a reservoir holds at most `capacity` rows, one key and one value per column each")
        return self

    @classmethod
    def empty(cls, columns: Sequence[str], capacity: int) -> Reservoir:
        return cls(capacity=capacity, columns={name: [] for name in columns})

    def __len__(self) -> int:
        return len(self.keys)

    def column(self, name: str) -> np.ndarray:
        return np.asarray(self.columns[name], dtype=np.float64)

    def add(self, rows: Mapping[str, np.ndarray], rng: np.random.Generator) -> None:
        """Offer rows: one array per column, all of one length (rows with a non-finite value are
        counted in ``seen`` but never kept)."""
        count = len(next(iter(rows.values())))
        if count == 0:
            return
        self.seen += count
        if self.capacity == 0:
            return
        keys = rng.integers(0, KEY_RANGE, size=count)
        admitted = keys < self.threshold
        for values in rows.values():
            admitted &= np.isfinite(values)
        self._keep(
            np.concatenate([np.asarray(self.keys, dtype=np.int64), keys[admitted]]),
            {
                name: np.concatenate([self.column(name), np.round(rows[name][admitted], DECIMALS)])
                for name in self.columns
            },
        )

    @classmethod
    def combine(cls, reservoirs: Sequence[Reservoir], capacity: int) -> Reservoir:
        """The sample of all the reservoirs' streams together, of at most ``capacity`` rows."""
        names = list(reservoirs[0].columns)
        threshold = min(r.threshold for r in reservoirs)
        merged = cls(capacity=capacity, seen=sum(r.seen for r in reservoirs), threshold=threshold, columns={})
        keys = np.asarray([k for r in reservoirs for k in r.keys], dtype=np.int64)
        below = keys < threshold
        merged._keep(
            keys[below],
            {name: np.concatenate([r.column(name) for r in reservoirs])[below] for name in names},
        )
        return merged

    def resized(self, capacity: int) -> Reservoir:
        return Reservoir.combine([self], capacity)

    def _keep(self, keys: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        if keys.size > self.capacity:
            order = np.argsort(keys, kind="stable")
            self.threshold = int(keys[order[self.capacity]])
            order = order[: self.capacity]
            keys = keys[order]
            columns = {name: values[order] for name, values in columns.items()}
        self.keys = [int(k) for k in keys]
        self.columns = {name: [float(v) for v in values] for name, values in columns.items()}
