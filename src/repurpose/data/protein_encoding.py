"""Protein featurisation exactly as DrugBAN does it.

A sequence over the 25-letter alphabet (A–Z without J), validated and upper-cased by
``contracts.targets.normalize_protein``, is integer-coded with DrugBAN's own table (values 1–25;
0 is padding) and cut or zero-padded to 1200 residues.
"""

from __future__ import annotations

import numpy as np

from repurpose.contracts.targets import MAX_PROTEIN_LENGTH, normalize_protein

PADDING_CODE = 0

# DrugBAN's CHARPROTSET (not alphabetical: the order is the original code's).
PROTEIN_CODES: dict[str, int] = {
    "A": 1, "C": 2, "B": 3, "E": 4, "D": 5, "G": 6, "F": 7, "I": 8, "H": 9, "K": 10,
    "M": 11, "L": 12, "O": 13, "N": 14, "Q": 15, "P": 16, "S": 17, "R": 18, "U": 19,
    "T": 20, "W": 21, "V": 22, "Y": 23, "X": 24, "Z": 25,
}  # fmt: skip
ALPHABET_SIZE = len(PROTEIN_CODES) + 1  # codes 0..25

_LOOKUP = np.zeros(128, dtype=np.int64)
for _letter, _code in PROTEIN_CODES.items():
    _LOOKUP[ord(_letter)] = _code


def encode_protein(sequence: str, max_length: int = MAX_PROTEIN_LENGTH) -> np.ndarray:
    """(max_length,) int64 codes of the validated sequence, cut or zero-padded."""
    text = normalize_protein(sequence)[:max_length]
    codes = np.zeros(max_length, dtype=np.int64)
    codes[: len(text)] = _LOOKUP[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    return codes
