"""Control (Cc) and format (Cf) characters are refused wherever an id, a name or a SMILES comes in
(issue 11, item 8): the check itself, and each place that takes one."""

from __future__ import annotations

import pytest

from repurpose.actors.compound_library import build_library
from repurpose.actors.model_registry import check_model_name
from repurpose.actors.target_protein import check_target_id
from repurpose.drug_graph import parse_smiles
from repurpose.errors import InvalidInput, InvalidSmiles, InvalidTable
from repurpose.gateway.keys import _check_name as check_key_name
from repurpose.plain_text import check_plain_text, describe_character, hidden_character


def test_hidden_characters_are_named_with_their_position() -> None:
    assert hidden_character("CC(=O)Oc1ccccc1C(=O)O") is None
    assert hidden_character("Café au lait β-lactam") is None  # letters of any script are text
    assert hidden_character("\u202eCCO") == "the format character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 1"
    assert hidden_character("EGFR\r") == "the control character U+000D (CARRIAGE RETURN) at position 5"
    assert hidden_character("a\u200bb") == "the format character U+200B (ZERO WIDTH SPACE) at position 2"
    assert hidden_character("x\x1by") == "the control character U+001B (ESCAPE) at position 2"
    assert describe_character("n") == "'n'" and describe_character("\x00") == "U+0000 (NUL)"
    with pytest.raises(InvalidInput, match=r"dataset names may not hold control or format characters"):
        check_plain_text("screen\u2066", "dataset name")


@pytest.mark.parametrize("smiles", ["\u202eCCO", "CCO\x00", "\x07CCO", "CC\u200bO", "CCO\tethanol"])
def test_a_smiles_with_a_control_or_format_character_is_refused(smiles: str) -> None:
    # RDKit parses the first three as if the character were not there
    with pytest.raises(InvalidSmiles, match=r"U\+[0-9A-F]{4}.* at position \d+; a SMILES may not hold"):
        parse_smiles(smiles)
    assert parse_smiles("  CCO \n").GetNumAtoms() == 3  # surrounding whitespace is still trimmed


def test_ids_and_names_with_a_control_or_format_character_are_refused() -> None:
    with pytest.raises(InvalidInput, match="target id 'EGFR\\\\n' holds the control character U\\+000A"):
        check_target_id("EGFR\n")  # `$` of the pattern alone would let the final line feed by
    with pytest.raises(InvalidInput, match="target id"):
        check_target_id("\u202eEGFR")
    assert check_target_id("EGFR") == "gene" and check_target_id("P00533") == "uniprot"
    with pytest.raises(InvalidInput, match="model name"):
        check_model_name("drugban-human\n")
    assert check_model_name("drugban-human") == "drugban-human"
    with pytest.raises(InvalidInput, match="key name"):
        check_key_name("ci\u202e")
    assert check_key_name("  ci  ") == "ci"


def test_a_library_with_a_format_character_in_a_compound_id_is_refused() -> None:
    with pytest.raises(InvalidTable, match="control or format characters in the compound id"):
        build_library("compound_id,smiles\nA1,CCO\n\u202eB2,CCN\n".encode(), filename="lib.csv")
