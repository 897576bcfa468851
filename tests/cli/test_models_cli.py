"""`repurpose models …` against a real local Ray cluster (in-process, through CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repurpose.actors.model_registry import register_model_dir
from repurpose.cli import app
from repurpose.grains import GrainClient
from repurpose.settings import Settings
from tests.helpers import (
    BUNDLED_DIR,
    SAMPLE_VAL,
    error_line,
    lineage,
    model_variant,
    sample_decoys_csv,
    sample_heldout_csv,
)

pytestmark = pytest.mark.slow

NAME = "dti-cli"


def registered(settings: Settings, tmp_path: Path, *aurocs: float) -> None:
    client = GrainClient(settings)
    for i, auroc in enumerate(aurocs):
        register_model_dir(client, NAME, model_variant(tmp_path, auroc, str(i)), lineage())


def test_models_list_show_promote_rollback(
    runner: CliRunner, cluster_home: Path, settings: Settings, tmp_path: Path
) -> None:
    home = ["--home", str(cluster_home)]
    empty = runner.invoke(app, ["models", "list", *home])
    assert empty.exit_code == 0, empty.stderr
    assert "no models registered yet" in empty.stdout
    registered(settings, tmp_path, 0.95, 0.96)

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, *home])
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result.stdout

    assert "dti-cli v1: candidate → staging" in run("models", "promote", NAME, "1", "--stage", "staging")
    promoted = run("models", "promote", NAME, "staging", "--stage", "production", "--reason", "first release")
    assert "dti-cli v1: staging → production  (first release)" in promoted
    assert "already in production; nothing changed" in run("models", "promote", NAME, "1", "--stage", "production")
    run("models", "promote", NAME, "2", "--stage", "staging")
    second = run("models", "promote", NAME, "latest", "--stage", "production")
    assert "dti-cli v2: staging → production" in second and "dti-cli v1: production → archived" in second

    listed = run("models", "list")
    assert NAME in listed and "v2" in listed
    assert json.loads(run("models", "list", "--json")) == [{"name": NAME, "versions": 2, "production": 2, "latest": 2}]

    overview = run("models", "show", NAME)  # the production version, then every version
    for text in ("dti-cli v2 (production)", "source      run:run-1 (code 0.1.0)", "stage history", "validation"):
        assert text in overview, text
    assert "model dti-cli: 2 versions, v2 in production" in overview
    assert "archived" in overview and "0.9500" in overview and "0.9600" in overview
    assert json.loads(run("models", "show", NAME, "--json"))["version"] == 2

    detail = json.loads(run("models", "show", NAME, "--version", "1", "--json"))
    assert [c["stage"] for c in detail["stage_history"]] == ["candidate", "staging", "production", "archived"]
    assert detail["stage_history"][2]["reason"] == "first release"
    assert detail["manifest"]["model_type"] == "drugban" and detail["lineage"]["source"] == "run:run-1"
    assert "dti-cli v1 (archived)" in run("models", "show", NAME, "--version", "archived")

    rolled = run("models", "rollback", NAME, "--reason", "v2 misbehaves")
    assert "dti-cli: rolled back to v1 (production); v2 archived" in rolled
    assert json.loads(run("models", "list", "--json"))[0]["production"] == 1


def test_models_evaluate(runner: CliRunner, cluster_home: Path, settings: Settings) -> None:
    home = ["--home", str(cluster_home)]
    register_model_dir(GrainClient(settings), NAME, BUNDLED_DIR, lineage())
    dataset = runner.invoke(app, ["datasets", "register", str(SAMPLE_VAL), "--name", "val-set", "--json", *home])
    dataset_id = json.loads(dataset.stdout)["dataset_id"]

    text = runner.invoke(app, ["models", "evaluate", NAME, "1", "--dataset", "val-set", *home])
    assert text.exit_code == 0, text.stderr
    assert f"dti-cli v1 on dataset {dataset_id[:12]} (every row)" in text.stdout
    assert "auroc" in text.stdout and "specificity" in text.stdout

    split = runner.invoke(
        app, ["models", "evaluate", NAME, "latest", "--dataset", dataset_id[:8], "--split", "random-1", "--json", *home]
    )
    assert split.exit_code == 0, split.stderr
    evaluation = json.loads(split.stdout)
    assert (evaluation["dataset_id"], evaluation["split_id"], evaluation["part"]) == (dataset_id, "random-1", "test")
    assert 0 < evaluation["metrics"]["n"] < 25

    shown = json.loads(runner.invoke(app, ["models", "show", NAME, "--version", "1", "--json", *home]).stdout)
    assert [(e["split_id"], e["part"]) for e in shown["evaluations"]] == [(None, "all"), ("random-1", "test")]


def test_models_evaluate_retrieval_show_and_card(
    runner: CliRunner, cluster_home: Path, settings: Settings, knn_model_dir: Path, tmp_path: Path
) -> None:
    home = ["--home", str(cluster_home)]
    register_model_dir(GrainClient(settings), NAME, knn_model_dir, lineage())
    heldout = tmp_path / "heldout-small.csv"
    heldout.write_bytes(sample_heldout_csv())
    decoys = tmp_path / "sample-decoys.csv"
    decoys.write_bytes(sample_decoys_csv())
    retrieval = ["models", "evaluate", NAME, "1", "--retrieval", str(heldout)]

    text = runner.invoke(app, [*retrieval, "--decoys", str(decoys), *home])

    assert text.exit_code == 0, text.stderr
    out = text.stdout
    assert "registered library" in out  # the decoy file, as `screen --library FILE` does
    assert "dti-cli v1 on heldout-small.csv: 7 held-out actives of 2 targets ranked among 241 decoys" in out
    for label in ("target", "EF 1 %", "EF 5 %", "BEDROC", "T1", "T2", "mean", "novel chemotypes, mean"):
        assert label in out, label
    as_json = runner.invoke(app, [*retrieval, "--decoys", "sample-decoys", "--json", *home])  # the library's name
    assert as_json.exit_code == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert (result["heldout"], result["actives"], result["novel_actives"]) == ("heldout-small.csv", 7, 2)
    assert [t["target"] for t in result["summary"]["targets"]] == ["T1", "T2"]
    mean_line = next(line for line in out.splitlines() if "│ mean " in line)
    assert (
        f"{result['summary']['mean_bedroc']:.3f}" in mean_line and f"{result['summary']['mean_auroc']:.3f}" in mean_line
    )

    shown = runner.invoke(app, ["models", "show", NAME, *home])
    assert shown.exit_code == 0, shown.stderr
    assert "retrieval (means over targets)" in shown.stdout and "heldout-small.csv" in shown.stdout
    assert f"{result['summary']['mean_bedroc']:.3f}" in shown.stdout
    detail = json.loads(runner.invoke(app, ["models", "show", NAME, "--json", *home]).stdout)
    assert detail["retrieval"] == [result]

    card = runner.invoke(app, ["models", "card", NAME, *home])
    assert card.exit_code == 0, card.stderr
    assert card.stdout.startswith("# Model card: knn-sample")
    assert "## Retrieval" in card.stdout and "### heldout-small.csv among 241 decoys" in card.stdout
    assert json.loads(runner.invoke(app, ["models", "card", NAME, "--json", *home]).stdout)["card"] == card.stdout

    bad = tmp_path / "pairs.csv"
    bad.write_text("SMILES,Protein,Y\nCCO,MKV,1\n")
    cases = [
        ([*retrieval[:4], "--retrieval", str(tmp_path / "none.csv")], "none.csv: no such file"),
        ([*retrieval[:4], "--retrieval", str(bad)], "pairs.csv: missing column(s) target_id, protein, compound_id"),
        ([*retrieval, "--dataset", "x"], "give --dataset (pair metrics) or --retrieval FILE"),
        (retrieval[:4], "give --dataset (pair metrics) or --retrieval FILE"),
        ([*retrieval, "--split", "random-42"], "--split, --part and --allow-overlap go with --dataset"),
        ([*retrieval, "--decoys", "no-such-library"], "no compound library matches 'no-such-library'"),
        ([*retrieval[:4], "--dataset", "x", "--decoys", str(decoys)], "--decoys goes with --retrieval FILE"),
    ]
    for args, message in cases:
        result_ = runner.invoke(app, [*args, *home])
        assert result_.exit_code == 2, (args, result_.stdout, result_.stderr)
        assert message in error_line(result_.stderr), args


def test_models_bad_input_exits_2_with_one_line(
    runner: CliRunner, cluster_home: Path, settings: Settings, tmp_path: Path
) -> None:
    home = ["--home", str(cluster_home)]
    registered(settings, tmp_path, 0.95, 0.6)
    assert runner.invoke(app, ["models", "promote", NAME, "2", "--stage", "staging", *home]).exit_code == 0
    dataset = runner.invoke(app, ["datasets", "register", str(SAMPLE_VAL), "--json", *home])
    dataset_id = json.loads(dataset.stdout)["dataset_id"]

    cases = [
        (["models", "show", "Bad Name"], "'Bad Name' is not a model name"),
        (["models", "show", "nothing-here"], "no model named 'nothing-here' is registered"),
        (["models", "show", NAME, "--version", "9"], "model dti-cli has no version 9 (it has versions 1 to 2)"),
        (["models", "show", NAME, "--version", "newest"], "'newest' is not a model version"),
        (["models", "show", NAME, "--version", "production"], "model dti-cli has no version in production"),
        (["models", "promote", NAME, "1", "--stage", "live"], "--stage takes one of candidate, staging, production"),
        (["models", "promote", NAME, "1", "--stage", "production"], "is a candidate: promote it to staging first"),
        (["models", "promote", NAME, "2", "--stage", "production"], "validation AUROC 0.6000 is below the minimum"),
        (["models", "rollback", NAME], "dti-cli has no version in production to roll back"),
        (["models", "evaluate", NAME, "1", "--dataset", "deadbeef"], "no dataset version matches 'deadbeef'"),
        (["models", "evaluate", NAME, "1", "--dataset", dataset_id, "--part", "test"], "--part test is a part of a"),
        (["models", "evaluate", NAME, "1", "--dataset", dataset_id, "--split", "sideways-1"], "is not a split id"),
        (["models", "evaluate", NAME, "1", "--dataset", dataset_id, "--part", "middle"], "--part takes one of all"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, *home])
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert message in error_line(result.stderr), args

    forced = runner.invoke(app, ["models", "promote", NAME, "2", "--stage", "production", "--force", "--json", *home])
    assert forced.exit_code == 0, forced.stderr
    assert "forced past the metric gates" in json.loads(forced.stdout)["stage_history"][-1]["reason"]


def test_models_without_a_cluster_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "list", "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "no cluster is running under" in error_line(result.stderr)
