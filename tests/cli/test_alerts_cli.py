"""`repurpose alerts list` and `repurpose alerts rules list|add|remove` against a real local Ray cluster
(in-process, through CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repurpose.actors.alerts import Alerts
from repurpose.cli import app
from repurpose.contracts.alerts import AlertObservation
from repurpose.grains import GrainClient
from repurpose.settings import Settings
from tests.helpers import error_line

pytestmark = pytest.mark.slow


def test_alert_rules_and_states(runner: CliRunner, cluster_home: Path, settings: Settings) -> None:
    home = ["--home", str(cluster_home)]

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, *home])
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result.stdout

    listed = run("alerts", "rules", "list")
    for text in ("dataset-drift", "out-of-domain", "auroc-drop", "config"):
        assert text in listed, text
    added = run(
        "alerts", "rules", "add", "ood-hour", "--metric", "out_of_domain_share", "--threshold", "0.3",
        "--window", "hour", "--model", "knn-cli", "--min-pairs", "10",
        "--webhook", "https://hooks.example.com/services/T0KEN",
    )  # fmt: skip
    assert "alert rule ood-hour: out_of_domain_share >= 0.3 on knn-cli" in added
    listed_json = run("alerts", "rules", "list", "--json")
    rules = json.loads(listed_json)  # a webhook URL is a secret: its origin only
    assert rules[-1] == {**rules[-1], "name": "ood-hour", "source": "api", "webhooks": ["https://hooks.example.com"]}
    assert "T0KEN" not in listed_json
    inside = runner.invoke(
        app,
        ["alerts", "rules", "add", "inside", "--metric", "drift_share", "--threshold", "0.5",
         "--webhook", "http://127.0.0.1:9/hook", *home],
    )  # fmt: skip
    assert inside.exit_code == 2 and "points at a loopback, private or link-local address" in error_line(inside.stderr)

    assert "no alert has fired" in run("alerts", "list")
    observed = AlertObservation(metric="drift_share", window="pairs", value=0.75, pairs=500)
    GrainClient(settings).call(Alerts, "knn-cli", "observe", [observed])  # as the monitor's check hands it over
    shown = run("alerts", "list")
    assert "dataset-drift" in shown and "firing" in shown
    assert "dataset-drift firing on knn-cli: drift_share pairs 0.750 (threshold 0.500)" in shown
    overview = json.loads(run("alerts", "list", "--json"))
    assert [(s["rule"], s["status"]) for s in overview["states"]] == [("dataset-drift", "firing")]

    assert "removed alert rule ood-hour" in run("alerts", "rules", "remove", "ood-hour")
    gone = runner.invoke(app, ["alerts", "rules", "remove", "ood-hour", *home])
    assert gone.exit_code == 2 and error_line(gone.stderr) == "error: no alert rule named 'ood-hour'"
    config = runner.invoke(app, ["alerts", "rules", "remove", "dataset-drift", *home])
    assert config.exit_code == 2 and "is set in config (alert_rules)" in error_line(config.stderr)
    bad = runner.invoke(app, ["alerts", "rules", "add", "x", "--metric", "speed", "--threshold", "0.5", *home])
    assert bad.exit_code == 2 and error_line(bad.stderr).startswith("error: metric:")
