"""The CompoundLibrary grain and library registration on a real local Ray cluster (SQLite; one library in
any form on PostgreSQL too); the parser's limits without Ray."""

from __future__ import annotations

import random

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from repurpose.actors.compound_library import CompoundLibrary, compounds_path, list_libraries, resolve_library
from repurpose.contracts.screening import LibraryDetail
from repurpose.data.libraries import build_library
from repurpose.data.upload_limits import UploadLimits
from repurpose.errors import InvalidInput, InvalidTable, LibraryNotFound, TableTooLarge
from repurpose.grains import GrainClient
from repurpose.runtime.artifacts import ArtifactStore
from tests.helpers import LIBRARY_FILE, both_stores, register_library

pytestmark = pytest.mark.slow


def first_compounds(n: int = 40) -> list[tuple[str, str]]:
    """(compound id, SMILES) of the bundled library's first ``n`` rows."""
    _, *rows = LIBRARY_FILE.read_text().splitlines()
    return [(row.split(",")[0], row.split(",")[1]) for row in rows[:n]]


def as_csv(rows: list[tuple[str, str]], header: str = "compound_id,smiles") -> bytes:
    return ("\n".join([header, *(f"{i},{s}" for i, s in rows)]) + "\n").encode()


@both_stores
def test_the_same_compounds_in_any_form_are_one_library(
    client: GrainClient, engine: Engine, artifacts: ArtifactStore
) -> None:
    rows = first_compounds()
    first = register_library(client, as_csv(rows), filename="screen-set.csv")
    assert first.created and len(first.library_id) == 64
    assert (first.name, first.source, first.format, first.compounds) == ("screen-set", "screen-set.csv", "csv", 40)

    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    extra_columns = ("\n".join(["Name,Source,SMILES", *(f" {i} ,x, {s} " for i, s in shuffled)]) + "\n").encode()
    again = register_library(client, extra_columns, filename="other.csv", name="set B")
    smi = ("# a comment\nsmiles id\n" + "".join(f"{s}\t{i}\n\n" for i, s in rows)).encode()
    from_smi = register_library(client, smi, filename="set.smi", name="set C")
    tsv = ("\n".join(["ID\tsmiles", *(f"{i}\t{s}" for i, s in rows)]) + "\n").encode()
    from_tsv = register_library(client, tsv, filename="set.tsv")

    for other in (again, from_smi, from_tsv):
        assert (other.library_id, other.created) == (first.library_id, False)
        assert (other.name, other.source, other.format) == ("screen-set", "screen-set.csv", "csv")  # the first's
    assert (again.aliases, from_smi.aliases, from_tsv.aliases) == (["set B"], ["set B", "set C"], ["set B", "set C"])

    detail: LibraryDetail = client.call(CompoundLibrary, first.library_id, "show")
    by_id = sorted(rows)
    assert [(c.compound_id, c.smiles) for c in detail.sample] == by_id[:5]
    assert detail.aliases == ["set B", "set C"] and detail.extra_columns == []
    with artifacts.open_read(compounds_path(first.library_id)) as f:
        stored = pq.read_table(f)
    assert stored.column_names == ["compound_id", "smiles"]
    assert list(zip(*(stored.column(c).to_pylist() for c in stored.column_names), strict=True)) == by_id

    assert [v.library_id for v in list_libraries(engine)] == [first.library_id]
    for reference in (first.library_id, first.library_id[:6], "screen-set", "set C"):
        assert resolve_library(engine, reference) == first.library_id
    with pytest.raises(LibraryNotFound, match="no compound library matches 'nothing'"):
        resolve_library(engine, "nothing")
    with pytest.raises(InvalidInput, match="give a library id"):
        resolve_library(engine, " ")
    with pytest.raises(LibraryNotFound):
        client.call(CompoundLibrary, "0" * 64, "summary")

    extended = register_library(client, as_csv(first_compounds(41)), filename="screen-set.csv")
    assert extended.created and extended.library_id != first.library_id  # other content, another library


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"compound_id,structure\nA,CCO\n", "a.csv", "missing column(s): smiles; a library needs"),
        (b"key,smiles\nA,CCO\n", "a.csv", "missing column(s): a compound id"),
        (b"id,SMILES,smiles\nA,CCO,CCO\n", "a.csv", "ambiguous columns SMILES, smiles"),
        (b"compound_id,smiles\n\n", "a.csv", "no compounds: the file has no rows"),
        (b"", "a.csv", "the file is empty"),
        (b"id,smiles\nA,CCO\n,CCN\nC,CCC\n", "a.csv", "1 row(s) with an empty compound id: row 2"),
        (b"id,smiles\nA,CCO\nB, \n", "a.csv", "1 row(s) with an empty SMILES: row 2"),
        (b"id,smiles\nA,CCO\nB\n", "a.csv", "row 2 has 1 fields, the header has 2"),
        (
            b"id,smiles\nA,CCO\nB,CCN\nA,CCC\nC,C\nB,N\nA,O\n",
            "a.csv",
            "2 duplicate compound id(s): A (rows 1, 3, 6), B (rows 2, 5); every compound needs its own id",
        ),
        (b"CCO a\nCCN\n", "a.smi", "line 2 has no compound id"),
        (b"id,smiles\nA,CCO\n\xff\n", "a.csv", "not UTF-8 text"),
        (("id,smiles\n" + "X" * 201 + ",CCO\n").encode(), "a.csv", "a compound id over 200 characters"),
    ],
    ids=[
        "no-smiles-column",
        "no-id-column",
        "ambiguous-columns",
        "no-rows",
        "empty-file",
        "empty-id",
        "empty-smiles",
        "short-row",
        "duplicate-ids",
        "smi-without-id",
        "not-utf8",
        "long-id",
    ],
)
def test_registration_refuses_bad_files_and_stores_nothing(
    client: GrainClient, engine: Engine, artifacts: ArtifactStore, data: bytes, filename: str, message: str
) -> None:
    with pytest.raises(InvalidTable) as refused:
        register_library(client, data, filename=filename)
    assert message in refused.value.message
    assert refused.value.message.startswith(f"{filename}: ")
    assert list_libraries(engine) == [] and artifacts.list("libraries") == []


def test_limits_and_format_detection_without_ray() -> None:
    rows = as_csv(first_compounds(3))
    with pytest.raises(InvalidTable, match=r"a\.csv: [\d,]+ bytes is more than the 100 accepted"):
        build_library(rows, filename="a.csv", max_bytes=100)
    with pytest.raises(TableTooLarge, match=r"a\.csv: more than the 2 compounds accepted \(max_upload_rows"):
        build_library(rows, filename="a.csv", limits=UploadLimits(max_rows=2))
    many = build_library(as_csv(first_compounds(30)), filename="a.csv", limits=UploadLimits(max_rows=30))
    assert many.build.compounds == 30 and many.compound_ids == sorted(many.compound_ids)

    # Without a telling suffix the content decides: a header with a smiles column is a table.
    assert build_library(rows, filename="upload").build.format == "csv"
    assert build_library(rows.replace(b",", b"\t"), filename=None).build.format == "tsv"
    smi = build_library(b"CCO ethanol\nc1ccccc1 benzene ring\n", filename=None)
    assert smi.build.format == "smi" and smi.compound_ids == ["benzene ring", "ethanol"]
    assert smi.build.name == "library" and smi.build.source == "uploaded library"
    # SMILES are not parsed at registration: the screen reports the bad ones.
    assert build_library(b"id,smiles\nA,C1CC\nB,XYZ\n").build.compounds == 2


def test_row_and_column_limits_refuse_while_reading() -> None:
    # counted while read, in every format: reading stops at the first row past the limit
    rows = [(f"C{n}", "CCO") for n in range(50)]
    with pytest.raises(TableTooLarge, match=r"lib\.tsv: more than the 49 compounds accepted"):
        build_library(as_csv(rows).replace(b",", b"\t"), filename="lib.tsv", limits=UploadLimits(max_rows=49))
    smi = "".join(f"CCO {i}\n" for i, _ in rows).encode()
    with pytest.raises(TableTooLarge, match=r"lib\.smi: more than the 10 compounds accepted"):
        build_library(smi, filename="lib.smi", limits=UploadLimits(max_rows=10))
    assert build_library(smi, filename="lib.smi", limits=UploadLimits(max_rows=50)).build.compounds == 50
    wide = ",".join(["compound_id", "smiles", *(f"x{n}" for n in range(8))]) + "\n" + "A,CCO" + ",1" * 8 + "\n"
    with pytest.raises(TableTooLarge, match=r"10 columns is more than the 5 accepted \(max_upload_columns\)"):
        build_library(wide.encode(), filename="wide.csv", limits=UploadLimits(max_columns=5))


def test_blank_field_lines_and_old_mac_line_endings() -> None:
    # every line blank fields: a clear refusal, not a StopIteration turned into a 500
    with pytest.raises(InvalidTable, match=r"^x\.csv: no header: the file holds only blank lines"):
        build_library(b",,,\n,,\n", filename="x.csv")
    # a .smi file with CR-only line endings is two compounds, not one id holding a carriage return
    smi = build_library(b"CCO ethanol\rc1ccccc1 benzene\r", filename="old-mac.smi")
    assert sorted(smi.compound_ids) == ["benzene", "ethanol"]
