"""`repurpose train --dataset …` and `repurpose runs …` against a real local Ray cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repurpose.cli import app
from tests.helpers import SAMPLE_TRAIN, error_line

pytestmark = pytest.mark.slow


def test_train_on_the_cluster_then_list_show_and_dedup(runner: CliRunner, cluster_home: Path) -> None:
    home = ["--home", str(cluster_home)]
    registered = runner.invoke(app, ["datasets", "register", str(SAMPLE_TRAIN), "--name", "sample", *home])
    assert registered.exit_code == 0, registered.stderr

    trained = runner.invoke(app, ["train", "--dataset", "sample", "--model-type", "rf", "--seed", "3", *home])
    assert trained.exit_code == 0, trained.stderr
    assert "started: rf -> model rf-sample" in trained.stdout
    assert "succeeded: model rf-sample v1, val AUROC" in trained.stdout

    again = runner.invoke(app, ["train", "--dataset", "sample", "--model-type", "rf", "--seed", "3", "--json", *home])
    detail = json.loads(again.stdout)
    assert (detail["created"], detail["status"], detail["attempts"]) == (False, "succeeded", 1)
    run_id = detail["run_id"]

    listed = runner.invoke(app, ["runs", "list", *home])
    assert run_id[:12] in listed.stdout and "rf-sample v1" in listed.stdout
    assert [r["run_id"] for r in json.loads(runner.invoke(app, ["runs", "list", "--json", *home]).stdout)] == [run_id]
    shown = runner.invoke(app, ["runs", "show", run_id[:8], *home])
    assert shown.exit_code == 0, shown.stderr
    assert f"run       {run_id}" in shown.stdout and "status    succeeded (attempts 1)" in shown.stdout
    settings = next(line for line in shown.stdout.splitlines() if line.startswith("settings"))
    assert "500 trees" in settings and "seed 3" in settings and "epochs" not in settings  # its own parameters

    cancelled = runner.invoke(app, ["runs", "cancel", run_id[:8], *home])
    assert cancelled.exit_code == 2
    assert error_line(cancelled.stderr) == f"error: run {run_id[:12]} has succeeded already; nothing to cancel"


def test_train_bad_input_exits_2_with_one_line(runner: CliRunner, cluster_home: Path) -> None:
    home = ["--home", str(cluster_home)]
    assert runner.invoke(app, ["datasets", "register", str(SAMPLE_TRAIN), "--name", "sample", *home]).exit_code == 0
    cases = [
        (["train", "--dataset", "sample", "--split", "sideways-1"], "'sideways-1' is not a split id"),
        (["train", "--dataset", "nothing-like-it"], "no dataset version matches 'nothing-like-it'"),
        (["train", "--dataset", "sample", "--name", "Bad Name!"], "'Bad Name!' is not a model name"),
        (["train", "--dataset", "sample", "--gpus", "2"], "the run asks for 2 GPU(s); the cluster has 0"),
        (["train", "--dataset", "sample", "--cpus", "64"], "the run asks for 64 CPU(s); the cluster has 4"),
        (["train", "--dataset", "sample", "--split", "../../../etc/passwd"], "--split: '../../../etc/passwd' is not"),
        (["train", "--dataset", "sample", "--split", "random-42-1-0-0"], "split random-42-1-0-0 of dataset"),
        (["train", "--dataset", "sample", "--seed", str(2**70)], "--seed: Input should be less than or equal to"),
        (["train", "--dataset", "sample", "--model-type", "rf", "--epochs", "5"], "--epochs: rf models do not use"),
        (["train", "--dataset", "sample", "--model-type", "xgb", "--gpus", "1"], "--gpus: xgb models do not use"),
        (["train", "--dataset", "sample", "--model-type", "knn", "--seed", "3"], "--seed: knn models do not use seed"),
        (["train", "--dataset", "sample", "--members", "knn,xgb"], "--members: drugban models have no members"),
        (["train", "--dataset", "sample", "--model-type", "ensemble", "--members", "knn"], "--members: an ensemble"),
        (["train", "--dataset", "sample", "--model-type", "ensemble", "--lr", "0.1"], "--lr: ensemble models without"),
        (["train", "--dataset", "sample", "--out", "x"], "--dataset trains on the cluster"),
        (["train", "--epochs", "2"], "give --dataset ID (train on the cluster), or --train FILE"),
        (["runs", "show", "abc"], "'abc' is not a run id"),
        (["runs", "show", "abcdef"], "no training run abcdef"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, *home])
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert message in error_line(result.stderr), (args, result.stderr)
    assert json.loads(runner.invoke(app, ["runs", "list", "--json", *home]).stdout) == []  # refused: no run exists
