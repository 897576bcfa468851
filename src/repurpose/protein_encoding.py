"""Protein featurisation exactly as DrugBAN does it.

A sequence over the 25-letter alphabet (A–Z without J) is integer-coded with DrugBAN's own
table (values 1–25; 0 is padding) and cut or zero-padded to 1200 residues. Lower case is
accepted and upper-cased; any other character is refused with its position.
"""

from __future__ import annotations

import numpy as np

from repurpose.errors import InvalidProtein

MAX_PROTEIN_LENGTH = 1200
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


def normalize_protein(sequence: str) -> str:
    """The upper-cased, stripped sequence, or InvalidProtein naming the first bad character."""
    if not isinstance(sequence, str) or not sequence.strip():
        raise InvalidProtein("empty protein sequence: a target needs its amino-acid sequence")
    text = sequence.strip()
    for position, character in enumerate(text, start=1):
        # checked before upper-casing: str.upper maps e.g. 'ß' to 'SS' and 'ı' to 'I'
        if not character.isascii() or character.upper() not in PROTEIN_CODES:
            raise InvalidProtein(
                f"protein sequence has {character!r} at position {position}; "
                "only the letters A-Z except J are amino-acid codes",
                position=position,
                character=character,
            )
    return text.upper()


def encode_protein(sequence: str, max_length: int = MAX_PROTEIN_LENGTH) -> np.ndarray:
    """(max_length,) int64 codes of the validated sequence, cut or zero-padded."""
    text = normalize_protein(sequence)[:max_length]
    codes = np.zeros(max_length, dtype=np.int64)
    codes[: len(text)] = _LOOKUP[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    return codes
