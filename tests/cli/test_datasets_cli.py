"""`repurpose datasets …` against a real local Ray cluster (in-process, through CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repurpose.cli import app
from tests.helpers import SAMPLE_VAL, error_line

pytestmark = pytest.mark.slow


def with_bad_rows(directory: Path) -> Path:
    path = directory / "with-bad-rows.csv"
    path.write_text(SAMPLE_VAL.read_text() + "C1CC,MKVLAAGIV,1\nCCO,MKV1AAGIV,0\n")
    return path


def test_datasets_register_show_split_list(runner: CliRunner, cluster_home: Path, tmp_path: Path) -> None:
    home = ["--home", str(cluster_home)]
    data = with_bad_rows(tmp_path)

    registered = runner.invoke(app, ["datasets", "register", str(data), "--name", "val-mine", *home])
    assert registered.exit_code == 0, registered.stderr
    assert "registered dataset" in registered.stdout
    assert "27 read, 25 stored, 2 rejected" in registered.stdout
    assert "row 26: invalid SMILES 'C1CC': unclosed ring" in registered.stdout
    assert "row 27: protein sequence has '1' at position 4" in registered.stdout

    again = runner.invoke(app, ["datasets", "register", str(SAMPLE_VAL), "--json", *home])
    assert again.exit_code == 0, again.stderr
    answer = json.loads(again.stdout)
    assert answer["created"] is False and answer["name"] == "val-mine" and answer["counts"]["stored"] == 25
    dataset_id = answer["dataset_id"]

    shown = runner.invoke(app, ["datasets", "show", dataset_id[:8], *home])
    assert shown.exit_code == 0, shown.stderr
    for text in (dataset_id, "val-mine", "2 rejected", "row 27", "positive", "protein length", "molecular weight"):
        assert text in shown.stdout, text

    split = runner.invoke(app, ["datasets", "split", "val-mine", "--kind", "cold-drug", "--seed", "1", *home])
    assert split.exit_code == 0, split.stderr
    assert "cold-drug-1" in split.stdout
    split_args = ["datasets", "split", dataset_id, "--kind", "cold-drug", "--seed", "1"]
    as_json = runner.invoke(app, [*split_args, "--json", *home])
    summary = json.loads(as_json.stdout)
    assert summary["split_id"] == "cold-drug-1"
    assert summary["train"]["size"] + summary["val"]["size"] + summary["test"]["size"] == 25

    listed = runner.invoke(app, ["datasets", "list", "--json", *home])
    assert listed.exit_code == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert (entry["dataset_id"], entry["splits"]) == (dataset_id, ["cold-drug-1"])
    table = runner.invoke(app, ["datasets", "list", *home])
    assert dataset_id[:12] in table.stdout and "val-mine" in table.stdout

    shown_json = json.loads(runner.invoke(app, ["datasets", "show", dataset_id, "--json", *home]).stdout)
    assert [r["row"] for r in shown_json["report"]["rejected"]] == [26, 27]
    assert shown_json["split_details"][0]["split_id"] == "cold-drug-1"


def test_datasets_bad_input_exits_2_with_one_line(runner: CliRunner, cluster_home: Path, tmp_path: Path) -> None:
    home = ["--home", str(cluster_home)]
    no_label = tmp_path / "no-label.csv"
    no_label.write_text("SMILES,Protein\nCCO,MKVLA\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    kept = runner.invoke(app, ["datasets", "register", str(SAMPLE_VAL), "--json", *home])
    dataset_id = json.loads(kept.stdout)["dataset_id"]

    cases = [
        (["datasets", "register", str(no_label)], "missing column(s) Y"),
        (["datasets", "register", str(empty)], "the file is empty"),
        (["datasets", "register", str(tmp_path / "absent.csv")], "absent.csv: no such file"),
        (["datasets", "split", dataset_id, "--kind", "sideways"], "unknown split kind 'sideways'"),
        (["datasets", "split", dataset_id, "--fractions", "0.5,0.5"], "--fractions takes three numbers"),
        (["datasets", "show", "deadbeef"], "no dataset version matches 'deadbeef'"),
        (["datasets", "show", "0" * 64], f"no dataset version {'0' * 64} is registered"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, *home])
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert message in error_line(result.stderr), args

    listed = json.loads(runner.invoke(app, ["datasets", "list", "--json", *home]).stdout)
    assert [(d["dataset_id"], d["splits"]) for d in listed] == [(dataset_id, [])]  # untouched


@pytest.mark.parametrize("command", [["datasets", "list"], ["targets", "list"]])
def test_commands_without_a_cluster_exit_2(runner: CliRunner, tmp_path: Path, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "no cluster is running under" in error_line(result.stderr)
