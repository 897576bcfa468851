"""`repurpose targets …` against a real local Ray cluster (in-process, through CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repurpose.cli import app
from tests.helpers import error_line, random_protein

pytestmark = pytest.mark.slow

EGFR = random_protein(120, seed=7)


def test_targets_add_show_list(runner: CliRunner, cluster_home: Path) -> None:
    home = ["--home", str(cluster_home)]

    added = runner.invoke(app, ["targets", "add", "EGFR", "--sequence", EGFR.lower(), "--name", "EGF receptor", *home])
    assert added.exit_code == 0, added.stderr
    assert "registered target EGFR (EGF receptor), 120 residues" in added.stdout
    again = runner.invoke(app, ["targets", "add", "EGFR", "--sequence", EGFR, *home])
    assert again.exit_code == 0 and "already registered" in again.stdout

    shown = runner.invoke(app, ["targets", "show", "EGFR", *home])
    assert shown.exit_code == 0, shown.stderr
    assert "EGF receptor" in shown.stdout and EGFR[:60] in shown.stdout and "screened  never" in shown.stdout
    detail = json.loads(runner.invoke(app, ["targets", "show", "EGFR", "--json", *home]).stdout)
    assert (detail["sequence"], detail["id_kind"], detail["history"]) == (EGFR, "gene", [])

    listed = runner.invoke(app, ["targets", "list", *home])
    assert "EGFR" in listed.stdout and "120" in listed.stdout
    assert [t["target_id"] for t in json.loads(runner.invoke(app, ["targets", "list", "--json", *home]).stdout)] == [
        "EGFR"
    ]


def test_targets_bad_input_exits_2_with_one_line(runner: CliRunner, cluster_home: Path) -> None:
    home = ["--home", str(cluster_home)]
    assert runner.invoke(app, ["targets", "add", "EGFR", "--sequence", EGFR, *home]).exit_code == 0

    cases = [
        (["targets", "add", "EGFR", "--sequence", random_protein(120, seed=8)], "already registered with another"),
        (["targets", "add", "ABL1", "--sequence", "MKV1LA"], "protein sequence has '1' at position 4"),
        (["targets", "add", "bad id!", "--sequence", EGFR], "'bad id!' is not a target id"),
        (["targets", "show", "ABL1"], "no target 'ABL1' is registered"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, *home])
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert message in error_line(result.stderr), args

    (target,) = json.loads(runner.invoke(app, ["targets", "list", "--json", *home]).stdout)
    assert (target["target_id"], target["length"]) == ("EGFR", 120)


def test_targets_add_same_sequence_under_another_id_makes_an_alias(runner: CliRunner, cluster_home: Path) -> None:
    home = ["--home", str(cluster_home)]
    long_protein = random_protein(1300, seed=9)
    added = runner.invoke(app, ["targets", "add", "P00533", "--sequence", long_protein, "--name", "EGFR", *home])
    assert added.exit_code == 0, added.stderr
    # longer than the model reads: said on stderr as a warning, and the target is registered
    assert added.stderr.strip().splitlines() == [
        "warning: P00533's sequence has 1,300 residues; the model reads the first 1,200 (DrugBAN's input length), "
        "so residues past that do not change its scores"
    ]

    alias = runner.invoke(app, ["targets", "add", "EGFR", "--sequence", long_protein, *home])
    assert alias.exit_code == 0, alias.stderr
    assert "EGFR is now an alias of target P00533 (EGFR)" in " ".join(alias.stdout.split())

    shown = runner.invoke(app, ["targets", "show", "EGFR", *home])  # the alias names the target
    assert shown.exit_code == 0, shown.stderr
    assert "target    P00533 (uniprot)" in shown.stdout and "aliases   EGFR" in shown.stdout
    listed = json.loads(runner.invoke(app, ["targets", "list", "--json", *home]).stdout)
    assert [(t["target_id"], t["aliases"]) for t in listed] == [("P00533", ["EGFR"])]


def test_targets_print_names_as_given_never_as_markup(runner: CliRunner, cluster_home: Path) -> None:
    home = ["--home", str(cluster_home)]
    name = "pep:x:1 [bold]B[/bold]"  # an emoji code and Rich markup, as a user may type them
    added = runner.invoke(app, ["targets", "add", "PEP1", "--sequence", EGFR, "--name", name, *home])
    assert added.exit_code == 0, added.stderr
    assert f"registered target PEP1 ({name})" in added.stdout

    shown = runner.invoke(app, ["targets", "show", "PEP1", *home])
    assert f"name      {name}" in shown.stdout
    listed = runner.invoke(app, ["targets", "list", *home])
    rows = [line.split("│") for line in listed.stdout.splitlines() if line.startswith("│")]
    name_cell = "".join(row[3].strip() for row in rows).rstrip("…")  # however the table wrapped or cut it
    assert "[bold]" in name_cell and name.replace(" ", "").startswith(name_cell.replace(" ", ""))
    assert "\N{CROSS MARK}" not in added.stdout + shown.stdout + listed.stdout
