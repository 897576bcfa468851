"""Feedback tables: read like dataset uploads, refused whole at the first bad row, keyed for the store."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from repurpose.contracts.feedback import Outcome
from repurpose.data.feedback import feedback_from_outcomes, read_feedback_table
from repurpose.data.upload_limits import UploadLimits
from repurpose.errors import InvalidInput, InvalidSmiles, InvalidTable, TableTooLarge

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQ"


def read(text: str, **kwargs: object) -> object:
    return read_feedback_table(text.encode(), filename="outcomes.csv", max_bytes=10_000, **kwargs)  # type: ignore[arg-type]


def test_a_table_by_sequence_or_by_target_id() -> None:
    by_sequence = read_feedback_table(
        f"SMILES,Protein,Y\nOCC,{SEQUENCE.lower()},1\nC(C)O,{SEQUENCE},0\n".encode(), filename="a.csv", max_bytes=10_000
    )
    assert by_sequence.smiles == ["CCO", "CCO"] and by_sequence.sequences == [SEQUENCE, SEQUENCE]
    assert by_sequence.targets == [None, None] and by_sequence.labels.tolist() == [1, 0]
    assert by_sequence.compound_keys()[0] == by_sequence.compound_keys()[1]  # canonical SMILES: one compound
    assert by_sequence.target_keys()[0].startswith("sha256:")
    by_target = read_feedback_table(b"smiles,target,y\nCCO,EGFR,1\n", filename="b.csv", max_bytes=10_000)
    assert by_target.targets == ["EGFR"] and by_target.target_keys() == ["EGFR"]
    assert by_target.pairs() == [{"smiles": "CCO", "target": "EGFR"}]
    assert by_sequence.batch_id("m", 1) != by_sequence.batch_id("m", 2) == by_sequence.batch_id("m", 2)

    frame = pd.DataFrame({"SMILES": ["CCO"], "Target": ["P00533"], "Y": [0]})
    sink = io.BytesIO()
    frame.to_parquet(sink)
    parquet = read_feedback_table(sink.getvalue(), filename="c.parquet", max_bytes=100_000)
    assert parquet.targets == ["P00533"] and parquet.labels.tolist() == [0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SMILES,Y\nCCO,1\n", "outcomes.csv: missing column(s) Protein or Target; a pair table needs the columns"),
        (f"SMILES,Protein,Y\nCCO,{SEQUENCE},2\n", "outcomes.csv: row 1: label Y='2' is not 0 or 1"),
        (f"SMILES,Protein,Y\nCCO,{SEQUENCE},1\nC1CC,{SEQUENCE},0\n", "outcomes.csv: row 2: "),
        ("SMILES,Target,Y\nCCO,not a target!,1\n", "outcomes.csv: row 1: 'not a target!' is not a target id"),
        (f"SMILES,Protein,Y\nCCO,{SEQUENCE},\n", "outcomes.csv: row 1: missing label Y"),
    ],
)
def test_a_bad_row_refuses_the_whole_table(text: str, message: str) -> None:
    with pytest.raises(InvalidTable) as refused:
        read(text)
    assert refused.value.message.startswith(message)


def test_too_large_a_table_is_refused_before_its_rows_are_checked() -> None:
    rows = "".join(f"CCO,{SEQUENCE},1\n" for _ in range(6))
    with pytest.raises(TableTooLarge, match="more than the 5 rows accepted"):
        read(f"SMILES,Protein,Y\n{rows}", limits=UploadLimits(max_rows=5))
    with pytest.raises(InvalidTable, match="more than the 100 accepted"):
        read_feedback_table(f"SMILES,Protein,Y\n{rows}".encode(), filename="big.csv", max_bytes=100)


def test_json_outcomes_name_the_field_at_fault() -> None:
    good = feedback_from_outcomes([Outcome(smiles="CCO", target="EGFR", label=1)])
    assert good.targets == ["EGFR"] and good.labels.tolist() == [1]
    with pytest.raises(InvalidSmiles) as broken:
        feedback_from_outcomes(
            [Outcome(smiles="CCO", target="EGFR", label=1), Outcome(smiles="C1CC", sequence=SEQUENCE, label=0)]
        )
    assert getattr(broken.value, "field", None) == "pairs[1].smiles"
    with pytest.raises(InvalidInput, match="one of them") as both:
        feedback_from_outcomes([Outcome(smiles="CCO", target="EGFR", sequence=SEQUENCE, label=1)])
    assert getattr(both.value, "field", None) == "pairs[0]"
    with pytest.raises(InvalidInput, match="at least one outcome"):
        feedback_from_outcomes([])
