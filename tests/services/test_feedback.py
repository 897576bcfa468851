"""Feedback's errors from a chunk of the scoring service: named by the pair's place in the whole batch."""

from __future__ import annotations

from repurpose.errors import InvalidInput
from repurpose.services.feedback import _in_batch


def chunk_error(message: str, field: str | None) -> InvalidInput:
    error = InvalidInput(message)
    error.field = field  # type: ignore[attr-defined]
    return error


def test_a_chunks_error_names_the_pair_in_the_whole_batch() -> None:
    scorer = _in_batch(chunk_error("pair 3: invalid SMILES 'C1CC': unclosed ring", "pairs"), 1000, "pairs")
    assert (scorer.field, scorer.message) == ("pairs[1003]", "pairs[1003]: invalid SMILES 'C1CC': unclosed ring")  # type: ignore[attr-defined]
    assert str(scorer) == scorer.message
    named = _in_batch(chunk_error("pairs[3]: give the compound's `smiles`", "pairs[3].smiles"), 2000, "pairs")
    assert (named.field, named.message) == ("pairs[2003].smiles", "pairs[2003]: give the compound's `smiles`")  # type: ignore[attr-defined]


def test_a_files_error_names_the_pair_by_its_count_and_blames_the_file() -> None:
    error = _in_batch(chunk_error("pair 3: protein too long", "pairs"), 1000, "file")
    assert (error.field, error.message) == ("file", "pair 1,004 of the file: protein too long")  # type: ignore[attr-defined]


def test_an_error_of_no_pair_is_left_as_it_is() -> None:
    error = _in_batch(chunk_error("the scorer is busy", "pairs"), 1000, "pairs")
    assert (error.field, error.message) == ("pairs", "the scorer is busy")  # type: ignore[attr-defined]
