from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repurpose.data.pairs import pairs_from_columns, read_pairs
from repurpose.errors import InvalidTable
from tests.helpers import SAMPLE_TRAIN, write_pairs


def test_read_sample_file_gives_validated_pairs() -> None:
    pairs = read_pairs(SAMPLE_TRAIN)

    assert len(pairs) == 172
    assert pairs.labels is not None
    assert pairs.labels.dtype == np.int64
    assert set(pairs.labels.tolist()) == {0, 1}
    assert len(pairs.sha256) == 64


def test_read_normalises_proteins_and_strips_smiles(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.csv", [[" CCO ", "mkv", 1], ["c1ccccc1", "ACD", 0]])

    pairs = read_pairs(path)

    assert pairs.smiles == ["CCO", "c1ccccc1"]
    assert pairs.proteins == ["MKV", "ACD"]
    assert pairs.labels is not None and pairs.labels.tolist() == [1, 0]


def test_read_same_content_hashes_same(tmp_path: Path) -> None:
    a = write_pairs(tmp_path / "a.csv", [["CCO", "MKV", 1]])
    b = write_pairs(tmp_path / "b.csv", [[" CCO", "mkv", "1.0"]])
    c = write_pairs(tmp_path / "c.csv", [["CCO", "MKV", 0]])

    assert read_pairs(a).sha256 == read_pairs(b).sha256 != read_pairs(c).sha256


def test_read_without_labels_when_not_required(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.csv", [["CCO", "MKV"]], header="SMILES,Protein")

    assert read_pairs(path, require_labels=False).labels is None


def test_read_missing_label_column_refused(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.csv", [["CCO", "MKV"]], header="SMILES,Protein")

    with pytest.raises(InvalidTable, match=r"missing column\(s\) Y") as caught:
        read_pairs(path)

    assert "found: SMILES,Protein" in caught.value.message


def test_read_missing_smiles_column_refused(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.csv", [["CCO", "MKV", 1]], header="Drug,Protein,Y")

    with pytest.raises(InvalidTable, match=r"missing column\(s\) SMILES;"):
        read_pairs(path)


def test_read_empty_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    with pytest.raises(InvalidTable, match="the file is empty"):
        read_pairs(path)


def test_read_header_only_file_refused(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "header.csv", [])

    with pytest.raises(InvalidTable, match="no rows"):
        read_pairs(path)


def test_read_missing_file_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidTable, match="no such file"):
        read_pairs(tmp_path / "absent.csv")


def test_read_broken_smiles_names_row_and_smiles(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.csv", [["CCO", "MKV", 1], ["CCN", "MKV", 0], ["C1CC", "MKV", 0]])

    with pytest.raises(InvalidTable) as caught:
        read_pairs(path)

    assert caught.value.row == 3
    assert "row 3:" in caught.value.message
    assert "'C1CC'" in caught.value.message
    assert "unclosed ring" in caught.value.message


def test_read_protein_with_digit_names_row_character_and_position(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.csv", [["CCO", "MKV", 1], ["CCN", "MKVA7", 0]])

    with pytest.raises(InvalidTable) as caught:
        read_pairs(path)

    assert caught.value.row == 2
    assert "row 2:" in caught.value.message
    assert "'7' at position 5" in caught.value.message


@pytest.mark.parametrize(("label", "shown"), [("2", "Y=2 "), ("0.5", "Y=0.5 "), ("yes", "Y='yes' "), ("", "Y='' ")])
def test_read_bad_label_names_row_and_value(tmp_path: Path, label: str, shown: str) -> None:
    path = write_pairs(tmp_path / "pairs.csv", [["CCO", "MKV", 1], ["CCN", "MKV", label]])

    with pytest.raises(InvalidTable) as caught:
        read_pairs(path)

    assert caught.value.row == 2
    assert f"row 2: label {shown}is not 0 or 1" in caught.value.message


def test_pairs_from_columns_empty_protein_names_row() -> None:
    with pytest.raises(InvalidTable, match="input: row 2: empty protein sequence"):
        pairs_from_columns(["CCO", "CCN"], ["MKV", None])


def test_subset_keeps_rows_in_order() -> None:
    pairs = pairs_from_columns(["CCO", "CCN", "CCC"], ["MKV", "ACD", "EFG"], np.array([1, 0, 1]))

    part = pairs.subset(np.array([2, 0]))

    assert part.smiles == ["CCC", "CCO"]
    assert part.proteins == ["EFG", "MKV"]
    assert part.labels is not None and part.labels.tolist() == [1, 1]
