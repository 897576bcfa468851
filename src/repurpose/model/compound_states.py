"""Compounds' GCN atom states, kept between requests: the costly half of the fast path's drug side.

A cached prediction (a compound scored before, against any target) spent a third of its time in
the GCN, which depends on the compound and the model only. An entry holds each distinct final
atom state of a compound once, as its bytes (which are also the key by which a batch multiplies
a state shared by several compounds once), and how many of its atoms have it: about 15 KB for a
drug-like compound. The projection to the attention rows (six times the bytes) is recomputed:
it costs less than a fifth of the GCN. Least recently used entries are dropped beyond the budget.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STATE_BYTES_PER_COMPOUND = 16_000
"""About what an entry of a drug-like compound takes (its ``nbytes``): for sizing a budget."""
_ENTRY_OVERHEAD = 300  # bytes per entry beside its states and name (objects, the dictionary's slot)
_STATE_OVERHEAD = 41  # a bytes object's header and its slot in the tuple


@dataclass(frozen=True)
class CompoundStates:
    """One compound's distinct final GCN atom states (``states[s]``: the row's bytes, in the
    model's dtype) and how many of its atoms end in each (``counts[s]``)."""

    states: tuple[bytes, ...]
    counts: np.ndarray  # (s,) int64

    @property
    def n_atoms(self) -> int:
        return int(self.counts.sum())

    @property
    def nbytes(self) -> int:
        return _ENTRY_OVERHEAD + sum(len(s) + _STATE_OVERHEAD for s in self.states) + self.counts.nbytes


class CompoundStateCache:
    """``CompoundStates`` by compound (its graph's SMILES), bounded by ``budget_bytes``; thread-safe."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[str, tuple[CompoundStates, int]] = OrderedDict()  # and its size
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()  # every lane of a replica reads and fills it

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, names: Sequence[str]) -> list[CompoundStates | None]:
        with self._lock:
            found = [kept[0] if (kept := self._entries.get(name)) is not None else None for name in names]
            for name, entry in zip(names, found, strict=True):
                if entry is not None:
                    self._entries.move_to_end(name)
            hits = sum(entry is not None for entry in found)
            self.hits += hits
            self.misses += len(found) - hits
            return found

    def put(self, name: str, entry: CompoundStates) -> None:
        size = entry.nbytes + len(name)
        if size > self.budget_bytes:
            return
        with self._lock:
            old = self._entries.pop(name, None)
            if old is not None:
                self.bytes -= old[1]
            self._entries[name] = (entry, size)
            self.bytes += size
            while self.bytes > self.budget_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.bytes -= dropped
