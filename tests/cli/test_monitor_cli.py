"""`repurpose monitor show|reset` against a real local Ray cluster (in-process, through CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repurpose.actors.monitor import Monitor
from repurpose.cli import app
from repurpose.grains import GrainClient
from repurpose.settings import Settings
from tests.actors.test_monitor import registered, sketch_of
from tests.helpers import SAMPLE_TEST, error_line

pytestmark = pytest.mark.slow

NAME = "knn-watched"


def test_monitor_show_and_reset(runner: CliRunner, cluster_home: Path, settings: Settings, knn_model_dir: Path) -> None:
    client = GrainClient(settings)
    dataset_id = registered(client, knn_model_dir, NAME)
    home = ["--home", str(cluster_home)]

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, *home])
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result.stdout

    empty = run("monitor", "show", NAME)
    assert f"{NAME}, window pairs: 0 pairs (dropped by the scorer: 0)" in empty
    assert (
        f"reference: dataset sample-train ({dataset_id[:12]}), 172 rows, a sample of 172; the training data of v1"
        in empty
    )
    assert "score drift: not tested" in empty

    edges = client.call(Monitor, NAME, "edges")
    client.call(Monitor, NAME, "record", sketch_of(SAMPLE_TEST, edges, seed=1), "scr-00000000000a", "flush-1")
    shown = run("monitor", "show", NAME, "--window", "job:scr-00000000000a")
    assert "window job:scr-00000000000a: 49 pairs" in shown
    for text in (
        "molecular_weight",
        "protein_length",
        "KS p",
        "dataset drift:",
        "out of the model's domain: 34.7% of 49 pairs",
    ):
        assert text in shown, text
    report = json.loads(run("monitor", "show", NAME, "--json"))
    assert report["pairs"] == 49 and report["features_tested"] == 8 and len(report["features"]) == 8

    reset = run("monitor", "reset", NAME)
    assert f"reset the monitor of {NAME}" in reset and "sample-train" in reset
    assert json.loads(run("monitor", "show", NAME, "--json"))["pairs"] == 0


def test_monitor_bad_input_exits_2_with_one_line(runner: CliRunner, cluster_home: Path) -> None:
    home = ["--home", str(cluster_home)]
    bad_window = runner.invoke(app, ["monitor", "show", "knn-watched", "--window", "week", *home])
    assert bad_window.exit_code == 2
    assert error_line(bad_window.stderr).startswith("error: 'week' is not a monitor window")
    unknown = runner.invoke(app, ["monitor", "show", "no-such-model", *home])
    assert (
        unknown.exit_code == 2 and error_line(unknown.stderr) == "error: no model named 'no-such-model' is registered"
    )
