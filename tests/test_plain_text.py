"""Control (Cc) and format (Cf) characters are refused wherever an id, a name or a SMILES comes in
(issue 11, item 8): the check itself, and each place that takes one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from repurpose.actors.api_key import _check_name as check_key_name
from repurpose.actors.target_protein import TargetState, list_targets
from repurpose.contracts.models import check_model_name
from repurpose.contracts.targets import check_target_id
from repurpose.data.drug_graph import parse_smiles
from repurpose.data.libraries import build_library
from repurpose.errors import InvalidInput, InvalidSmiles, InvalidTable
from repurpose.plain_text import check_plain_text, describe_character, hidden_character
from repurpose.store import make_engine, save_state, upgrade


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


def test_lone_surrogates_private_use_and_separators_are_refused() -> None:
    # a lone surrogate is stored fine but no answer that lists it can be encoded as UTF-8
    with pytest.raises(InvalidInput, match=r"holds the surrogate character U\+D800 at position 1"):
        check_key_name("\ud800x")
    assert hidden_character("a\ue000") == "the private-use character U+E000 at position 2"
    assert hidden_character("a\u2028b") == "the separator character U+2028 (LINE SEPARATOR) at position 2"
    assert hidden_character("Ångström ß") is None


def test_a_stored_target_id_older_rules_let_in_does_not_break_listing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    state = TargetState(sequence="MKV", registered_at=dt.datetime.now(dt.UTC))
    save_state(engine, "target", "EGFR\n", state.model_dump(mode="json"), expected_version=0)
    save_state(engine, "target", "ABL1", state.model_dump(mode="json"), expected_version=0)
    assert [t.target_id for t in list_targets(engine)] == ["ABL1", "EGFR\n"]
    engine.dispose()


def test_a_spinner_prints_a_file_name_as_given() -> None:
    from repurpose.cli.datasets import _spinner

    with _spinner("registering lib[/x].csv", True):  # a str spinner would raise MarkupError here
        pass
