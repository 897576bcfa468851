"""Feedback, live quality and alert rules over real HTTP (the gateway client, raw HTTP and the CLI with
``--url``): outcomes scored and kept once, the figures, bad input refused with nothing stored, roles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner, Result

from repurpose.cli import app
from repurpose.client import GatewayClient
from repurpose.contracts.alerts import AlertRuleSpec
from repurpose.contracts.feedback import MAX_FEEDBACK_PAIRS
from repurpose.contracts.scoring import MAX_PREDICT_PAIRS
from repurpose.errors import GatewayError
from repurpose.services.in_process import InProcessClient
from tests.actors.test_monitor import registered
from tests.gateway.conftest import Gateway
from tests.helpers import SAMPLE_TEST, SAMPLE_VAL, error_line

pytestmark = pytest.mark.slow

NAME = "knn-feedback"


def outcomes_csv(path: Path, rows: int) -> bytes:
    return ("\n".join(path.read_text().splitlines()[: rows + 1]) + "\n").encode()


def quality_outcomes(client: GatewayClient) -> int:
    versions = client.model_quality(NAME).versions
    return versions[0].outcomes if versions else 0


def scorer_pairs_scored(gateway: Gateway) -> float:
    """What the scorer says it has scored, as a scrape of /metrics reads it (one replica in these tests)."""
    with gateway.client(None) as anonymous:
        text = anonymous.get("/metrics").text
    counts = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("repurpose_scorer_pairs_scored")
    ]
    assert counts, "the scorer's figures are missing from /metrics"
    return sum(counts)


def test_feedback_is_scored_kept_once_and_measured(gateway: Gateway, knn_model_dir: Path) -> None:
    registered(gateway.grains, knn_model_dir, NAME)
    test_rows = outcomes_csv(SAMPLE_TEST, 49)
    with GatewayClient(gateway.url, gateway.keys["scientist"]) as scientist:
        receipt = scientist.send_feedback(test_rows, "assay.csv", NAME)
        assert (receipt.model, receipt.version, receipt.outcomes, receipt.recorded) == (NAME, 1, 49, True)
        scored = scorer_pairs_scored(gateway)
        again = scientist.send_feedback(test_rows, "assay-copy.csv", NAME, "1")  # the same batch: its content's id
        assert (again.recorded, again.batch_id, again.quality.outcomes) == (False, receipt.batch_id, 49)
        assert scorer_pairs_scored(gateway) == scored  # answered from the store: not scored (nor monitored) again

        # the live figures are those of the scorer's own scores against the labels sent
        frame = pd.read_csv(SAMPLE_TEST)
        pairs = [{"smiles": s, "sequence": p} for s, p in zip(frame["SMILES"], frame["Protein"], strict=True)]
        scores = np.array([s.probability for s in scientist.predict(pairs, f"{NAME}@1").scores])
        labels = frame["Y"].to_numpy()
        quality = receipt.quality
        assert quality.auroc == pytest.approx(roc_auc_score(labels, scores))
        assert quality.brier == pytest.approx(float(np.mean((scores - labels) ** 2)))
        assert sum(b.count for b in quality.bins) == 49 and quality.positives == int(labels.sum())
        assert quality.reference_auroc is not None
        assert quality.auroc_drop == pytest.approx(quality.reference_auroc - quality.auroc)

    with gateway.client("scientist") as http:
        body = {
            "model": NAME,
            "batch_id": "assay-2026-12-07",
            "pairs": [{"smiles": "CCO", "sequence": frame["Protein"][0], "label": 0}],
        }
        scored = scorer_pairs_scored(gateway)  # the predictions above scored the 49 pairs once more
        created = http.post("/v1/feedback", json=body)
        assert created.status_code == 201 and created.json()["quality"]["outcomes"] == 50
        assert scorer_pairs_scored(gateway) == scored + 1
        assert http.post("/v1/feedback", json=body).status_code == 200  # the same batch id: counted once
        assert scorer_pairs_scored(gateway) == scored + 1
        body["pairs"][0]["label"] = 1
        clash = http.post("/v1/feedback", json=body)
        assert clash.status_code == 409 and clash.json()["code"] == "feedback_conflict"

    with GatewayClient(gateway.url, gateway.keys["reader"]) as reader, InProcessClient.on(gateway.grains) as local:
        shown = reader.model_quality(NAME)
        assert [v.outcomes for v in shown.versions] == [50]
        assert local.model_quality(NAME) == shown  # the in-process client: the same services, the same answer
        assert local.send_feedback(test_rows, "assay.csv", NAME).recorded is False
        with pytest.raises(GatewayError) as refused:
            reader.send_feedback(test_rows, "assay.csv", NAME)
        assert refused.value.status == 403
    with gateway.client(None) as anonymous:
        metrics = anonymous.get("/metrics").text
    assert f'repurpose_monitor_live_auroc{{model="{NAME}",version="1"}}' in metrics
    assert f'repurpose_monitor_feedback_outcomes{{model="{NAME}",version="1"}} 50.0' in metrics


def test_bad_feedback_is_refused_and_nothing_is_stored(gateway: Gateway, knn_model_dir: Path) -> None:
    registered(gateway.grains, knn_model_dir, NAME)
    header, first, *_ = SAMPLE_VAL.read_text().splitlines()
    smiles, protein, _ = first.split(",")
    with gateway.client("scientist") as http, GatewayClient(gateway.url, gateway.keys["reader"]) as reader:
        before = quality_outcomes(reader)

        def upload(text: str, **form: str) -> dict[str, object]:
            answer = http.post("/v1/feedback/upload", files={"file": ("bad.csv", text.encode())}, data=form or None)
            assert answer.status_code >= 400, answer.text
            return {"status": answer.status_code, **answer.json()}

        broken = upload(f"{header}\n{first}\nC1CC,{protein},1\n", model=NAME)
        assert (broken["status"], broken["code"], broken["field"]) == (422, "invalid_table", "file")
        assert str(broken["message"]).startswith("bad.csv: row 2: invalid SMILES 'C1CC'")
        label = upload(f"{header}\n{smiles},{protein},2\n", model=NAME)
        assert label["status"] == 422 and "bad.csv: row 1: label Y='2' is not 0 or 1" in str(label["message"])
        missing = upload(f"SMILES,Y\n{smiles},1\n", model=NAME)
        assert "missing column(s) Protein or Target" in str(missing["message"])
        unknown = upload(f"{header}\n{first}\n", model="no-such-model")
        assert (unknown["status"], unknown["code"]) == (404, "model_not_found")
        version = upload(f"{header}\n{first}\n", model=NAME, version="7")
        assert (version["status"], version["code"]) == (404, "model_not_found")
        target = upload(f"SMILES,Target,Y\n{smiles},NOSUCH9,1\n", model=NAME)
        assert (target["status"], target["code"]) == (404, "target_not_found")
        rows = "CCO,EGFR,1\n" * (MAX_FEEDBACK_PAIRS + 1)  # short rows: the row count, not the bytes, is too large
        large = upload(f"SMILES,Target,Y\n{rows}", model=NAME)
        assert (large["status"], large["code"]) == (413, "table_too_large")

        json_smiles = http.post(
            "/v1/feedback", json={"model": NAME, "pairs": [{"smiles": "C1CC", "sequence": protein, "label": 1}]}
        )
        assert json_smiles.status_code == 422 and json_smiles.json()["field"] == "pairs[0].smiles"
        json_label = http.post(
            "/v1/feedback", json={"model": NAME, "pairs": [{"smiles": smiles, "sequence": protein, "label": 2}]}
        )
        assert json_label.status_code == 422

        # every target is looked up before any pair is scored; the error names the pair in the whole batch
        assert http.put("/v1/targets/FEEDBACK1", json={"sequence": protein}).status_code in (200, 201)
        known = [{"smiles": smiles, "target": "FEEDBACK1", "label": 0}] * MAX_PREDICT_PAIRS
        scored = scorer_pairs_scored(gateway)
        late = http.post(
            "/v1/feedback", json={"model": NAME, "pairs": [*known, {"smiles": smiles, "target": "NOSUCH9", "label": 1}]}
        )
        assert (late.status_code, late.json()["code"]) == (404, "target_not_found")
        assert late.json()["field"] == f"pairs[{MAX_PREDICT_PAIRS}].target"
        assert scorer_pairs_scored(gateway) == scored  # not one pair scored
        assert quality_outcomes(reader) == before


def test_feedback_and_quality_from_the_cli(gateway: Gateway, knn_model_dir: Path, tmp_path: Path) -> None:
    registered(gateway.grains, knn_model_dir, NAME)
    runner = CliRunner()

    def remote(*args: str, role: str = "scientist") -> Result:
        return runner.invoke(app, [*args, "--url", gateway.url, "--key", gateway.keys[role]])

    with GatewayClient(gateway.url, gateway.keys["reader"]) as reader:
        before = quality_outcomes(reader)
    assays = tmp_path / "assays.csv"
    assays.write_bytes(outcomes_csv(SAMPLE_VAL, 25))
    sent = remote("feedback", str(assays), "--model", NAME, "--batch-id", "cli-val")
    assert sent.exit_code == 0, sent.stderr
    assert "recorded: 25 outcomes" in sent.stdout and f"for {NAME} v1, batch cli-val" in sent.stdout
    assert "live AUROC" in sent.stdout and "score bin" in sent.stdout
    shown = remote("monitor", "quality", NAME, "--json", role="reader")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["versions"][0]["outcomes"] == before + 25
    bad = tmp_path / "bad.csv"
    bad.write_text("SMILES,Protein,Y\nC1CC,MKT,1\n")
    refused = remote("feedback", str(bad), "--model", NAME)
    assert refused.exit_code == 2 and error_line(refused.stderr).startswith("error: bad.csv: row 1: invalid SMILES")


def test_alert_rules_over_http(gateway: Gateway) -> None:
    with GatewayClient(gateway.url, gateway.keys["reader"]) as reader:
        config = reader.alert_rules()
        assert [(r.name, r.source) for r in config][:3] == [
            ("dataset-drift", "config"),
            ("out-of-domain", "config"),
            ("auroc-drop", "config"),
        ]
        overview = reader.alerts()
        assert isinstance(overview.states, list) and isinstance(overview.history, list)
    rule = AlertRuleSpec(name="http-drift", metric="drift_share", threshold=0.3, window="hour", model=NAME)
    with GatewayClient(gateway.url, gateway.keys["scientist"]) as scientist:
        with pytest.raises(GatewayError) as refused:
            scientist.add_alert_rule(rule)
        assert refused.value.status == 403
    with GatewayClient(gateway.url, gateway.keys["admin"]) as admin:
        added = admin.add_alert_rule(rule)
        assert (added.name, added.source, added.window) == ("http-drift", "api", "hour")
        assert admin.add_alert_rule(rule) == added  # the same rule again: the one kept
        with pytest.raises(GatewayError) as clash:
            admin.add_alert_rule(rule.model_copy(update={"threshold": 0.4}))
        assert (clash.value.status, clash.value.code) == (409, "alert_rule_conflict")
        with pytest.raises(GatewayError) as config_rule:
            admin.remove_alert_rule("dataset-drift")
        assert config_rule.value.status == 409 and "set in config" in config_rule.value.message
        assert "http-drift" in {r.name for r in admin.alert_rules()}
        assert admin.remove_alert_rule("http-drift").name == "http-drift"
        with pytest.raises(GatewayError) as gone:
            admin.remove_alert_rule("http-drift")
        assert (gone.value.status, gone.value.code) == (404, "alert_rule_not_found")
    with gateway.client("admin") as http:
        bad = http.post("/v1/alerts/rules", json={"name": "x", "metric": "drift_share", "threshold": "0.5"})
        assert bad.status_code == 422
        hooks = http.post(
            "/v1/alerts/rules", json={"name": "y", "metric": "drift_share", "threshold": 0.5, "webhooks": ["ftp://x"]}
        )
        assert hooks.status_code == 422 and "not a webhook URL" in hooks.text
        secret = "https://hooks.example.com/services/T0KEN"
        hooked = {"name": "hooked", "metric": "drift_share", "threshold": 0.5, "model": NAME, "webhooks": [secret]}
        added_hooked = http.post("/v1/alerts/rules", json=hooked)
        assert added_hooked.status_code == 201 and added_hooked.json()["webhooks"] == ["https://hooks.example.com"]
    try:
        for role in ("reader", "admin"):  # a webhook URL is a secret: shown to nobody in full
            with gateway.client(role) as http:
                listed = http.get("/v1/alerts/rules")
            assert listed.status_code == 200 and "T0KEN" not in listed.text
            (shown,) = [r for r in listed.json()["items"] if r["name"] == "hooked"]
            assert shown["webhooks"] == ["https://hooks.example.com"]
        cli = CliRunner().invoke(
            app, ["alerts", "rules", "list", "--json", "--url", gateway.url, "--key", gateway.keys["reader"]]
        )
        assert cli.exit_code == 0 and "T0KEN" not in cli.stdout and "https://hooks.example.com" in cli.stdout
    finally:
        with GatewayClient(gateway.url, gateway.keys["admin"]) as admin:
            admin.remove_alert_rule("hooked")
