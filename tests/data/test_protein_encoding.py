from __future__ import annotations

import numpy as np
import pytest

from repurpose.contracts.targets import AMINO_ACIDS, MAX_PROTEIN_LENGTH, normalize_protein
from repurpose.data.protein_encoding import ALPHABET_SIZE, encode_protein
from repurpose.errors import InvalidInput, InvalidProtein
from tests.helpers import random_protein

# DrugBAN's CHARPROTSET, written out by hand (its order is not alphabetical; no J).
DRUGBAN_CODES = {
    "A": 1, "C": 2, "B": 3, "E": 4, "D": 5, "G": 6, "F": 7, "I": 8, "H": 9, "K": 10,
    "M": 11, "L": 12, "O": 13, "N": 14, "Q": 15, "P": 16, "S": 17, "R": 18, "U": 19,
    "T": 20, "W": 21, "V": 22, "Y": 23, "X": 24, "Z": 25,
}  # fmt: skip


def test_encode_uses_drugban_code_table() -> None:
    letters = "".join(DRUGBAN_CODES)

    codes = encode_protein(letters)

    assert codes[:25].tolist() == list(DRUGBAN_CODES.values())
    assert ALPHABET_SIZE == 26
    assert MAX_PROTEIN_LENGTH == 1200


def test_encode_pads_with_zero_to_1200() -> None:
    codes = encode_protein("MKV")

    assert codes.shape == (1200,)
    assert codes.dtype == np.int64
    assert codes[:3].tolist() == [11, 10, 22]
    assert not codes[3:].any()


def test_encode_cuts_at_1200() -> None:
    sequence = random_protein(1500, seed=1)

    codes = encode_protein(sequence)

    assert codes.shape == (1200,)
    assert codes.tolist() == [DRUGBAN_CODES[c] for c in sequence[:1200]]


def test_encode_exactly_1200_has_no_padding() -> None:
    assert encode_protein("A" * 1200).min() == 1


def test_encode_lower_case_same_as_upper_case() -> None:
    np.testing.assert_array_equal(encode_protein("mkvacz"), encode_protein("MKVACZ"))
    assert normalize_protein(" mkv\n") == "MKV"


@pytest.mark.parametrize(
    ("sequence", "character", "position"),
    [("MK1V", "1", 3), ("MKJV", "J", 3), ("MKVj", "j", 4), ("*MKV", "*", 1), ("MK V", " ", 3), ("MKß", "ß", 3)],
)
def test_normalize_bad_character_named_with_position(sequence: str, character: str, position: int) -> None:
    with pytest.raises(InvalidProtein) as caught:
        encode_protein(sequence)

    assert caught.value.character == character
    assert caught.value.position == position
    assert f"{character!r} at position {position}" in caught.value.message
    assert isinstance(caught.value, InvalidInput)


def test_normalize_non_ascii_letter_not_upper_cased_into_a_code() -> None:
    # str.upper turns 'ı' (dotless i) into 'I' and 'ß' into 'SS': neither is an amino-acid code
    with pytest.raises(InvalidProtein, match="position 2"):
        normalize_protein("Aı")


@pytest.mark.parametrize("sequence", ["", "   ", "\n"])
def test_normalize_empty_sequence_refused(sequence: str) -> None:
    with pytest.raises(InvalidProtein, match="empty protein sequence"):
        encode_protein(sequence)


def test_normalize_accepts_exactly_the_alphabet_in_either_case() -> None:
    # the whole-string check and the per-letter one that names a bad character agree on every character
    for character in map(chr, range(0x3000)):
        accepted = character.isascii() and character.upper() in AMINO_ACIDS
        try:
            assert normalize_protein(f"M{character}K") == f"M{character.upper()}K"
            assert accepted, repr(character)
        except InvalidProtein:
            assert not accepted or character.isspace(), repr(character)
