"""Packed ECFP4 fingerprints of compounds by SMILES, least recently used dropped first.

A scorer replica keeps them for the knn model: a library screened against many targets is
parsed by RDKit once, and every later chunk is dictionary look-ups and one Tanimoto product.
A SMILES RDKit refuses is remembered with its reason, so it is not parsed again either.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from repurpose.data.drug_graph import parse_smiles
from repurpose.errors import RepurposeError
from repurpose.model.similarity import WORDS, packed_fingerprint


@dataclass(frozen=True)
class FingerprintFailure:
    index: int  # position in the input
    smiles: str
    reason: str


class FingerprintCache:
    """(32,) uint64 fingerprints (or RDKit's refusal) of at most ``capacity`` SMILES."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, np.ndarray | str] = OrderedDict()
        self._lock = threading.Lock()  # the bulk and interactive lanes share it
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, smiles: Sequence[str]) -> tuple[np.ndarray, list[int], list[FingerprintFailure]]:
        """The fingerprints of the compounds RDKit reads, (kept, 32); their positions; the others."""
        found: list[np.ndarray | str | None] = []
        with self._lock:
            for text in smiles:
                entry = self._entries.get(text)
                if entry is not None:
                    self._entries.move_to_end(text)
                found.append(entry)
        fresh: dict[str, np.ndarray | str] = {}
        for i, text in enumerate(smiles):
            if found[i] is None:
                if text not in fresh:
                    fresh[text] = _fingerprint_or_reason(text)
                found[i] = fresh[text]
        with self._lock:
            self.hits += len(smiles) - len(fresh)
            self.misses += len(fresh)
            if self.capacity > 0:
                for text, entry in fresh.items():
                    self._entries[text] = entry
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
        kept: list[int] = []
        arrays: list[np.ndarray] = []
        failures: list[FingerprintFailure] = []
        for i, entry in enumerate(found):
            if isinstance(entry, np.ndarray):
                kept.append(i)
                arrays.append(entry)
            else:
                failures.append(FingerprintFailure(i, smiles[i], str(entry)))
        rows = np.stack(arrays) if arrays else np.zeros((0, WORDS), dtype=np.uint64)
        return rows, kept, failures


def _fingerprint_or_reason(smiles: str) -> np.ndarray | str:
    try:
        return packed_fingerprint(parse_smiles(smiles))
    except RepurposeError as error:
        return error.message or "RDKit could not read it"
