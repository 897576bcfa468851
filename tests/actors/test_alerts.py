"""Alerts on a real local Ray cluster: drifted traffic fed to a monitor fires an alert, delivered signed
to a webhook receiver on 127.0.0.1 and starting a retraining run; the rules grain; states outliving
their host."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest

from repurpose.actors.alert_rules import RULES_KEY, AlertRules
from repurpose.actors.alerts import Alerts
from repurpose.actors.model_registry import register_model_dir
from repurpose.actors.monitor import Monitor
from repurpose.actors.run_launch import lineage_settings
from repurpose.contracts.alerts import AlertObservation, AlertRuleSpec
from repurpose.contracts.models import ModelLineage
from repurpose.contracts.training import (
    DrugBANTraining,
    EnsembleTraining,
    ForestTraining,
    KnnTraining,
    XGBTraining,
    used_settings,
)
from repurpose.data.descriptors import describe_compounds
from repurpose.errors import AlertRuleConflict, AlertRuleNotFound, InvalidInput
from repurpose.grains import GrainClient
from repurpose.monitoring.sketch import TrafficSketch
from repurpose.services.in_process import InProcessClient
from repurpose.settings import Settings
from tests.actors.test_monitor import registered
from tests.helpers import (
    SAMPLE_TRAIN,
    kill_host,
    register_dataset,
    stop_training_workers,
    wait_for_new_host,
    wait_until,
)
from tests.monitoring.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.slow

NAME = "knn-alerted"
SECRET = "webhook-secret"
SMALL = ["C", "CC", "CCC", "CO", "CCO", "CN", "CCN", "C=C", "C#C", "CCl", "CBr", "CS", "O=CO", "CC=O", "CCCl"]


def drifted_sketch(edges: dict[str, list[float]], pairs: int = 60) -> TrafficSketch:
    """Tiny molecules against short proteins, all out of the domain: nothing like the training data."""
    smiles = [SMALL[i % len(SMALL)] for i in range(pairs)]
    sketch = TrafficSketch.empty(edges, seed=7)
    sketch.add(describe_compounds(smiles), [40.0] * pairs, [0.9] * pairs, [0.05] * pairs, [False] * pairs)
    return sketch


def test_drifted_traffic_fires_an_alert_delivered_to_a_webhook(
    ray_cluster: None, settings: Settings, knn_model_dir: Path
) -> None:
    with webhook_receiver(statuses=[503]) as receiver:  # the first try fails: the delivery retries
        watched = settings.with_overrides(
            grain_pool=f"alerts-{uuid.uuid4().hex[:8]}",
            alert_webhooks=[receiver.url],
            alert_webhook_secret=SECRET,
            alert_webhooks_allow_private=True,  # the receiver listens on 127.0.0.1
            alert_evaluation_seconds=0.2,
            alert_rules=[
                AlertRuleSpec(name="drift", metric="drift_share", threshold=0.5, min_pairs=20, retrain=True),
                AlertRuleSpec(name="ood", metric="out_of_domain_share", threshold=0.5, min_pairs=20),
            ],
        )
        client = GrainClient(watched)
        try:
            dataset_id = registered(client, knn_model_dir, NAME)
            edges = client.call(Monitor, NAME, "edges")
            assert client.call(Monitor, NAME, "record", drifted_sketch(edges), None, "flush-1") is True

            wait_until(lambda: len(receiver.received) >= 3, 90, "two alerts delivered (one retried)")
            events = {}
            for got in receiver.received:
                expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
                assert got.headers["x-repurpose-signature"] == expected
                event = json.loads(got.body)
                events[event["rule"]] = event
            assert set(events) == {"drift", "ood"}
            assert all(e["status"] == "firing" and e["model"] == NAME for e in events.values())
            assert events["ood"]["value"] == 1.0 and events["drift"]["value"] == 1.0
            run_id = events["drift"]["retrain_run"]
            assert run_id is not None and events["ood"]["retrain_run"] is None

            with InProcessClient.on(client) as services:
                overview = services.alerts()
                firing = {(s.rule, s.model, s.status) for s in overview.states}
                assert firing == {("drift", NAME, "firing"), ("ood", NAME, "firing")}
                assert {e.rule for e in overview.history} == {"drift", "ood"}
                run = services.run(run_id)
                assert (run.model_name, run.request.model_type, run.request.dataset_id) == (NAME, "knn", dataset_id)

            killed = kill_host(client, Alerts, NAME)  # states are stored: a new host has them
            wait_for_new_host(client, Alerts, NAME, killed)
            quiet = client.call(
                Alerts, NAME, "observe", [AlertObservation(metric="drift_share", window="pairs", value=0.9, pairs=60)]
            )
            assert quiet == []  # firing already: no new event
            (resolved,) = client.call(
                Alerts, NAME, "observe", [AlertObservation(metric="drift_share", window="pairs", value=0.1, pairs=60)]
            )
            assert (resolved.rule, resolved.status) == ("drift", "resolved")
            (again,) = client.call(
                Alerts, NAME, "observe", [AlertObservation(metric="drift_share", window="pairs", value=0.9, pairs=60)]
            )  # no newer dataset version: the same request, the same run, nothing started
            assert (again.status, again.retrain_run) == ("firing", None)
            assert (again.retrain_error or "").startswith(f"nothing new to train on: run {run_id[:12]}")
        finally:
            client.stop()
            stop_training_workers()


def test_rules_from_config_and_the_api(client: GrainClient, in_process: InProcessClient, settings: Settings) -> None:
    assert [r.name for r in in_process.alert_rules()] == ["dataset-drift", "out-of-domain", "auroc-drop"]
    rule = AlertRuleSpec(name="hourly", metric="out_of_domain_share", threshold=0.4, window="hour", model="m")
    added = in_process.add_alert_rule(rule)
    assert added.source == "api" and added.created_at is not None
    assert in_process.add_alert_rule(rule) == added
    assert client.call(AlertRules, RULES_KEY, "windows", "m") == ["hour", "pairs"]
    assert client.call(AlertRules, RULES_KEY, "windows", "other") == ["pairs"]
    with pytest.raises(AlertRuleConflict, match="added already"):
        in_process.add_alert_rule(rule.model_copy(update={"threshold": 0.5}))
    with pytest.raises(AlertRuleConflict, match="set in config"):
        in_process.add_alert_rule(rule.model_copy(update={"name": "auroc-drop"}))
    with pytest.raises(AlertRuleConflict, match="set in config"):
        in_process.remove_alert_rule("dataset-drift")
    assert in_process.remove_alert_rule("hourly") == added
    with pytest.raises(AlertRuleNotFound):
        in_process.remove_alert_rule("hourly")
    assert in_process.alerts().states == []

    inside = AlertRuleSpec(name="inside", metric="drift_share", threshold=0.5, webhooks=["http://169.254.169.254/x"])
    with pytest.raises(InvalidInput, match=r"http://169\.254\.169\.254 points at a loopback, private or link-local"):
        in_process.add_alert_rule(inside)
    hooked = AlertRuleSpec(
        name="late", metric="drift_share", threshold=0.5, webhooks=["https://hooks.example.com/services/T0KEN"]
    )
    assert in_process.add_alert_rule(hooked).webhooks == ["https://hooks.example.com"]  # the URL is a secret
    assert [r.webhooks for r in in_process.alert_rules() if r.name == "late"] == [["https://hooks.example.com"]]

    # the setting names "late" too, later: config wins, the API's is left out until it is removed
    late = AlertRuleSpec(name="late", metric="auroc_drop", threshold=0.2)
    configured = settings.with_overrides(
        grain_pool=f"rules-{uuid.uuid4().hex[:8]}", alert_rules=[*settings.alert_rules, late]
    )
    other = GrainClient(configured)
    try:
        with InProcessClient.on(other) as services:
            names = [(r.name, r.source) for r in services.alert_rules()]
            assert names == [*((r.name, "config") for r in settings.alert_rules), ("late", "config")]
            assert other.call(AlertRules, RULES_KEY, "windows", "m") == ["pairs"]  # not the API's drift rule
            assert services.remove_alert_rule("late").source == "api"
            with pytest.raises(AlertRuleConflict, match="set in config"):
                services.remove_alert_rule("late")
    finally:
        other.stop()


def test_a_retraining_that_cannot_start_is_recorded_and_only_the_current_version_is_judged(
    ray_cluster: None, settings: Settings, knn_model_dir: Path
) -> None:
    watched = settings.with_overrides(
        grain_pool=f"alerts-{uuid.uuid4().hex[:8]}",
        alert_rules=[AlertRuleSpec(name="quality", metric="auroc_drop", threshold=0.1, min_pairs=10, retrain=True)],
    )
    client = GrainClient(watched)
    try:
        dataset = register_dataset(client, SAMPLE_TRAIN.read_bytes(), filename="train.csv", name="sample-train")
        lineage = ModelLineage(  # a split id the run contract refuses: RunRequest raises a ValidationError
            source="run:old",
            dataset_id=dataset.dataset_id,
            split_id="custom",
            code_version="0.1.0",
            training=KnnTraining(),
        )
        register_model_dir(client, NAME, knn_model_dir, lineage)

        def drop(version: int) -> list[AlertObservation]:
            return [AlertObservation(metric="auroc_drop", window=None, value=0.4, pairs=50, version=version)]

        assert client.call(Alerts, NAME, "observe", drop(2)) == []  # not the current version (v1): not judged
        (fired,) = client.call(Alerts, NAME, "observe", drop(1))
        assert (fired.rule, fired.status, fired.version, fired.retrain_run) == ("quality", "firing", 1, None)
        assert "'custom' is not a split id" in (fired.retrain_error or "")
        assert client.call(Alerts, NAME, "observe", drop(1)) == []  # kept: it does not fire (nor retrain) again
        with InProcessClient.on(client) as services:
            assert [(e.rule, e.status) for e in services.alerts().history] == [("quality", "firing")]
    finally:
        client.stop()


def test_lineage_settings_are_those_the_version_was_trained_with() -> None:
    drugban = DrugBANTraining(epochs=3, batch_size=16, lr=0.001, seed=5)
    assert lineage_settings(drugban, used_settings("drugban")) == {
        "epochs": 3,
        "batch_size": 16,
        "lr": 0.001,
        "seed": 5,
    }
    assert lineage_settings(XGBTraining(seed=9), used_settings("xgb")) == {"seed": 9}
    assert lineage_settings(KnnTraining(), used_settings("knn")) == {}
    stack = EnsembleTraining(members=(KnnTraining(), ForestTraining(seed=11)))
    assert lineage_settings(stack, used_settings("ensemble", ["knn", "rf"])) == {"seed": 11}
    with_drugban = EnsembleTraining(members=(drugban, KnnTraining()))
    assert lineage_settings(with_drugban, used_settings("ensemble", ["drugban", "knn"]))["epochs"] == 3
