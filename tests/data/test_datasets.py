from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from repurpose.contracts.datasets import ValidationReport
from repurpose.data.datasets import DatasetBuild, build_dataset, content_id, rows_from_parquet, rows_to_parquet
from repurpose.data.upload_limits import UploadLimits
from repurpose.errors import InvalidInput, InvalidTable, TableTooLarge
from repurpose.settings import Settings
from tests.helpers import SAMPLE_TRAIN, SAMPLE_VAL, write_pairs

ETHANOL = "CCO"
BENZENE = "c1ccccc1"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def csv_bytes(rows: list[list[object]], header: str = "SMILES,Protein,Y") -> bytes:
    return ("\n".join([header, *(",".join(str(v) for v in row) for row in rows)]) + "\n").encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    frame.to_parquet(sink, index=False)
    return sink.getvalue()


def test_build_sample_file_gives_sorted_rows_and_report() -> None:
    build = build_dataset(SAMPLE_TRAIN)

    assert list(build.rows.columns) == ["smiles", "protein", "y"]
    assert len(build.rows) == 172
    assert build.rows["y"].dtype == np.int64
    triples = list(zip(build.rows["smiles"], build.rows["protein"], build.rows["y"], strict=True))
    assert triples == sorted(triples)
    assert len(build.dataset_id) == 64 and build.dataset_id == build.report.dataset_id
    assert build.name == build.report.name == "train"
    counts = build.report.counts
    assert (counts.read, counts.valid, counts.rejected, counts.stored) == (172, 172, 0, 172)
    assert (counts.compounds, counts.proteins) == (169, 121)
    balance = build.report.class_balance
    assert balance.positives + balance.negatives == 172
    assert balance.positive_fraction == pytest.approx(pd.read_csv(SAMPLE_TRAIN)["Y"].mean())


def test_build_smiles_are_canonical_and_proteins_upper_case() -> None:
    build = build_dataset(csv_bytes([["  OCC ", " mkv ", 1], ["C1=CC=CC=C1", "AcD", 0]]))

    assert sorted(build.rows["smiles"]) == [ETHANOL, BENZENE]
    assert sorted(build.rows["protein"]) == ["ACD", "MKV"]


def test_build_same_content_gives_same_id_in_any_form() -> None:
    frame = pd.read_csv(SAMPLE_VAL)
    plain = build_dataset(csv_bytes(frame.values.tolist()))

    rng = np.random.default_rng(0)
    noisy = frame.iloc[rng.permutation(len(frame))].copy()
    noisy["SMILES"] = [
        " " + Chem.MolToRandomSmilesVect(Chem.MolFromSmiles(s), 1, randomSeed=i)[0] + "  "
        for i, s in enumerate(noisy["SMILES"])
    ]
    noisy["Protein"] = [f"\t{p.lower()} " for p in noisy["Protein"]]
    noisy["Y"] = [f" {y}.0" for y in noisy["Y"]]
    assert noisy["SMILES"].tolist() != frame["SMILES"].tolist()  # really another spelling

    again = build_dataset(csv_bytes(noisy.values.tolist()), name="another name")
    from_path = build_dataset(SAMPLE_VAL)
    from_parquet = build_dataset(parquet_bytes(frame), filename="val.parquet")

    assert again.dataset_id == plain.dataset_id == from_path.dataset_id == from_parquet.dataset_id
    assert again.rows.equals(plain.rows)
    assert from_parquet.report.format == "parquet"


def test_build_different_label_gives_different_id() -> None:
    one = build_dataset(csv_bytes([[ETHANOL, "MKV", 1], [BENZENE, "MKV", 0]]))
    other = build_dataset(csv_bytes([[ETHANOL, "MKV", 0], [BENZENE, "MKV", 0]]))

    assert one.dataset_id != other.dataset_id


def test_build_rejects_bad_rows_with_reason_and_keeps_others() -> None:
    data = csv_bytes(
        [
            [ETHANOL, "MKV", 1],
            ["C1CC", "MKV", 0],
            [BENZENE, "MK7V", 1],
            [ASPIRIN, "MKV", 2],
            [ASPIRIN, "MKV", ""],
            [ASPIRIN, "MKV", 0, "extra"],
            [ASPIRIN, "ACD", 0],
        ]
    )

    build = build_dataset(data, filename="pairs.csv")

    assert build.report.counts.read == 7
    assert build.report.counts.stored == 2
    assert sorted(build.rows["smiles"]) == sorted([ETHANOL, Chem.CanonSmiles(ASPIRIN)])
    rejected = {r.row: r for r in build.report.rejected}
    assert sorted(rejected) == [2, 3, 4, 5, 6]
    assert rejected[2].columns == ["SMILES"]
    assert rejected[2].reason == "invalid SMILES 'C1CC': unclosed ring for input: 'C1CC'"
    assert rejected[3].columns == ["Protein"]
    assert rejected[3].reason.startswith("protein sequence has '7' at position 3")
    assert rejected[4].reason == "label Y='2' is not 0 or 1"
    assert rejected[5].reason == "missing label Y: it must be 0 or 1"
    assert rejected[6].reason == "has 4 fields, the header has 3"


def test_build_row_with_several_problems_lists_each() -> None:
    build = build_dataset(csv_bytes([[ETHANOL, "MKV", 1], ["C1CC", "M1", "yes"]]))

    (rejected,) = build.report.rejected
    assert rejected.row == 2
    assert rejected.columns == ["SMILES", "Protein", "Y"]
    assert "unclosed ring" in rejected.reason
    assert "'1' at position 2" in rejected.reason
    assert "label Y='yes'" in rejected.reason


def test_build_reports_duplicates_and_keeps_one() -> None:
    build = build_dataset(csv_bytes([[ETHANOL, "MKV", 1], [BENZENE, "MKV", 0], ["OCC", "mkv", "1"]]))

    assert len(build.rows) == 2
    (duplicate,) = build.report.duplicates
    assert (duplicate.smiles, duplicate.protein, duplicate.y) == (ETHANOL, "MKV", 1)
    assert duplicate.count == 2 and duplicate.rows == [1, 3]
    assert build.report.counts.duplicates_removed == 1
    assert build.report.counts.stored == 2


def test_build_reports_conflicts_and_drops_the_pair() -> None:
    rows = [[ETHANOL, "MKV", 1], [BENZENE, "MKV", 0], ["OCC", "MKV", 0], [ETHANOL, "MKV", 1]]

    build = build_dataset(csv_bytes(rows))

    assert build.rows["smiles"].tolist() == [BENZENE]
    (conflict,) = build.report.conflicts
    assert (conflict.smiles, conflict.protein) == (ETHANOL, "MKV")
    assert conflict.positive_rows == [1, 4] and conflict.negative_rows == [3]
    assert build.report.duplicates == []  # rows of a dropped pair are counted as conflicts only
    assert build.report.counts.conflicts_dropped == 3
    assert build.report.counts.stored == 1


def test_build_lists_are_capped_but_counts_exact() -> None:
    rows: list[list[object]] = [[ETHANOL, "MKV", 1]] + [["C1CC", "MKV", 0]] * 5

    report = build_dataset(csv_bytes(rows), max_listed=2).report

    assert report.counts.rejected == 5
    assert [r.row for r in report.rejected] == [2, 3]
    assert report.lists_complete is False


def test_build_length_statistics_and_class_balance() -> None:
    long_protein = "A" * 1300
    report = build_dataset(
        csv_bytes([[ETHANOL, "MKV", 1], [BENZENE, "MKVL", 0], [ASPIRIN, long_protein, 0], [ETHANOL, "ACDE", 0]])
    ).report

    # heavy atoms per row: ethanol 3 (twice), benzene 6, aspirin 13
    assert report.compound_heavy_atoms.model_dump() == {"min": 3, "median": 4.5, "mean": 6.25, "max": 13}
    assert report.protein_length.model_dump() == {"min": 3, "median": 4.0, "mean": 327.75, "max": 1300}
    assert report.long_proteins == 1
    assert report.class_balance.model_dump() == {"positives": 1, "negatives": 3, "positive_fraction": 0.25}


def test_build_matches_columns_case_insensitively_and_reports_extra_ones() -> None:
    data = csv_bytes([["7", ETHANOL, "MKV", 1]], header="id, smiles ,protein,y")

    build = build_dataset(data)

    assert build.rows["smiles"].tolist() == [ETHANOL]
    assert build.report.extra_columns == ["id"]


def test_build_parquet_with_nulls_and_typed_labels() -> None:
    frame = pd.DataFrame({"SMILES": [ETHANOL, None, BENZENE], "Protein": ["MKV", "MKV", "MKV"], "Y": [1.0, 0.0, None]})

    build = build_dataset(parquet_bytes(frame))

    assert build.rows["smiles"].tolist() == [ETHANOL]
    reasons = {r.row: r.reason for r in build.report.rejected}
    assert reasons[2].startswith("empty SMILES")
    assert reasons[3] == "missing label Y: it must be 0 or 1"


def test_build_report_survives_json() -> None:
    report = build_dataset(csv_bytes([[ETHANOL, "MKV", 1], ["C1CC", "MKV", 0]])).report

    assert ValidationReport.model_validate_json(report.model_dump_json()) == report


def test_build_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "kinases.csv", [[ETHANOL, "MKV", 1]])

    assert build_dataset(path).name == "kinases"
    assert build_dataset(path, name=" My set ").name == "My set"
    assert build_dataset(path.read_bytes()).name == "dataset"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"the file is empty \(0 bytes\)"),
        (b"\n \n\n", "no header"),
        (b"SMILES,Protein,Y\n", "no rows: the file has a header but no pairs"),
        (b"SMILES,Protein,Y\n\n", "no rows"),
        (b"SMILES,Protein\nCCO,MKV\n", r"missing column\(s\) Y; .*\(found: SMILES,Protein\)"),
        (b"Drug,Target,Y\nCCO,MKV,1\n", r"missing column\(s\) SMILES, Protein;"),
        (
            b"SMILES,Protein,Y\nC1CC,MKV,1\nCCO,MK9,0\n",
            r"no valid row: all 2 rows were rejected; row 1: .*unclosed ring",
        ),
        (b"SMILES,Protein,Y\nCCO,MKV,1\nOCC,MKV,0\n", "no row left: every one of the 1 distinct pairs has conflicting"),
        (b"SMILES,Protein,Y\n\xff\xfeCCO,MKV,1\n", "not UTF-8 text"),
        (b"SMILES,smiles,Protein,Y\nCCO,CCO,MKV,1\n", None),  # exact name wins: accepted
        (b"Smiles,smiles,Protein,Y\nCCO,CCO,MKV,1\n", "ambiguous columns Smiles, smiles"),
    ],
)
def test_build_refuses_unusable_tables(data: bytes, message: str | None) -> None:
    if message is None:
        assert isinstance(build_dataset(data), DatasetBuild)
        return
    with pytest.raises(InvalidTable, match=message) as caught:
        build_dataset(data, filename="upload.csv")

    assert caught.value.message.startswith("upload.csv: ")


def test_build_refuses_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    with pytest.raises(InvalidTable, match=r"empty\.csv: the file is empty"):
        build_dataset(empty)
    with pytest.raises(InvalidTable, match="no such file"):
        build_dataset(tmp_path / "absent.csv")


def test_build_refuses_oversized_input_before_reading(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "big.csv", [[ETHANOL, "MKV", 1]] * 10)

    with pytest.raises(InvalidTable, match=r"bytes is more than the 100 accepted \(max_bytes\)"):
        build_dataset(path, max_bytes=100)
    assert build_dataset(path, max_bytes=path.stat().st_size).report.counts.read == 10


def test_a_tiny_parquet_of_many_identical_rows_is_refused_from_its_metadata() -> None:
    # dictionary-encoded and zstd-compressed, 200,000 identical rows fit in a few KB: the byte
    # limit lets it through, and decoded it would be 200,000 Python rows
    table = pa.table({"SMILES": [ETHANOL] * 200_000, "Protein": ["MKV" * 50] * 200_000, "Y": [1] * 200_000})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", use_dictionary=True)
    data = sink.getvalue()
    assert len(data) < 64 * 1024

    started = time.perf_counter()
    with pytest.raises(TableTooLarge) as refused:
        build_dataset(data, filename="bomb.parquet", limits=UploadLimits(max_rows=100_000))
    assert time.perf_counter() - started < 1.0  # from the footer: nothing was decoded
    assert refused.value.code == "table_too_large"
    assert refused.value.message == (
        "bomb.parquet: 200,000 rows (from the Parquet metadata) is more than the 100,000 accepted "
        "(max_upload_rows); split the table"
    )
    assert build_dataset(data, limits=UploadLimits(max_rows=200_000)).report.counts.read == 200_000


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", use_dictionary=True)
    return sink.getvalue()


def test_parquet_values_that_decode_past_the_limit_are_refused_before_they_are_expanded() -> None:
    # one long SMILES used by every row: a few KB on disk, 100,000 x 5,000 bytes decoded
    rows = 100_000
    table = pa.table({"SMILES": ["C" * 5_000] * rows, "Protein": ["MKV"] * rows, "Y": [1] * rows})
    data = _parquet(table)
    assert len(data) < 64 * 1024
    with pytest.raises(TableTooLarge, match=r"^bomb\.parquet: its values decode to 500,300,000 bytes, more than the"):
        build_dataset(data, filename="bomb.parquet", limits=UploadLimits(max_decoded_bytes=100_000_000))


def test_parquet_with_repeated_or_nested_columns_is_refused() -> None:
    base = {"SMILES": [ETHANOL, BENZENE, ASPIRIN], "Protein": ["MKV"] * 3, "Y": [1, 0, 1]}
    repeated = pa.Table.from_arrays(
        [pa.array(v) for v in base.values()] + [pa.array([1, 2, 3])] * 2, names=[*base, "x", "x"]
    )
    with pytest.raises(InvalidTable, match=r"repeated column name\(s\) x: name each column once"):
        build_dataset(_parquet(repeated), filename="dup.parquet")
    nested = pa.table({**base, "SMILES": [[ETHANOL] * 1_000] * 3})
    with pytest.raises(InvalidTable, match=r"column SMILES holds list<.*>, not one value per row"):
        build_dataset(_parquet(nested), filename="nested.parquet")
    assert build_dataset(_parquet(pa.table(base))).report.counts.read == 3


def test_csv_rows_are_counted_while_read_and_columns_are_limited() -> None:
    rows = [[ETHANOL, "MKV", 1], [BENZENE, "MKV", 0], [ASPIRIN, "MKV", 1]]
    with pytest.raises(TableTooLarge, match=r"^pairs\.csv: more than the 2 rows accepted \(max_upload_rows"):
        build_dataset(csv_bytes(rows), filename="pairs.csv", limits=UploadLimits(max_rows=2))
    blank_lines = csv_bytes(rows).replace(b"\n", b"\n\n")  # blank lines are not rows
    assert build_dataset(blank_lines, limits=UploadLimits(max_rows=3)).report.counts.read == 3

    wide = csv_bytes([[*row, *range(7)] for row in rows], header="SMILES,Protein,Y," + ",".join("abcdefg"))
    with pytest.raises(TableTooLarge, match=r"10 columns is more than the 9 accepted \(max_upload_columns\)"):
        build_dataset(wide, filename="wide.csv", limits=UploadLimits(max_columns=9))
    frame = pd.DataFrame(rows, columns=["SMILES", "Protein", "Y"]).assign(**{f"x{n}": n for n in range(7)})
    with pytest.raises(TableTooLarge, match=r"10 columns is more than the 9 accepted"):
        build_dataset(parquet_bytes(frame), filename="wide.parquet", limits=UploadLimits(max_columns=9))
    kept = build_dataset(parquet_bytes(frame), limits=UploadLimits(max_columns=10)).report
    assert kept.extra_columns == [f"x{n}" for n in range(7)] and kept.counts.stored == 3


def test_upload_limits_default_to_the_settings_defaults() -> None:
    settings = Settings()
    assert UploadLimits.from_settings(settings) == UploadLimits()
    assert UploadLimits.from_settings(Settings(max_upload_rows=5, max_upload_columns=4)).max_rows == 5


def test_build_refuses_broken_parquet_and_unknown_format() -> None:
    with pytest.raises(InvalidTable, match="cannot read it as Parquet"):
        build_dataset(b"PAR1 not really", filename="x.parquet")
    with pytest.raises(InvalidInput, match="unknown table format 'xlsx'"):
        build_dataset(b"SMILES,Protein,Y\n", file_format="xlsx")  # type: ignore[arg-type]


def test_parquet_round_trip_keeps_rows_and_id() -> None:
    build = build_dataset(SAMPLE_TRAIN)

    data = rows_to_parquet(build.rows)
    rows = rows_from_parquet(data, expected_id=build.dataset_id)

    assert rows.equals(build.rows)
    assert content_id(rows) == build.dataset_id
    assert rows_to_parquet(rows) == data  # deterministic bytes for the same rows


def test_parquet_read_refuses_wrong_id_and_foreign_files() -> None:
    build = build_dataset(csv_bytes([[ETHANOL, "MKV", 1]]))
    data = rows_to_parquet(build.rows)

    with pytest.raises(InvalidTable, match="not to their dataset id"):
        rows_from_parquet(data, expected_id="0" * 64)
    with pytest.raises(InvalidTable, match="not readable Parquet"):
        rows_from_parquet(b"nonsense")
    with pytest.raises(InvalidTable, match="have columns SMILES,Protein,Y"):
        rows_from_parquet(parquet_bytes(pd.DataFrame({"SMILES": ["C"], "Protein": ["M"], "Y": [1]})))


def test_content_id_ignores_row_order() -> None:
    rows = build_dataset(SAMPLE_VAL).rows

    assert content_id(rows.iloc[::-1].reset_index(drop=True)) == content_id(rows)
