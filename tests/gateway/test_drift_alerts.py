"""Issue 14's check, end to end over HTTP: the bundled Human-trained DrugBAN scores pairs through the
gateway's scorer, which feeds its monitor. Against the Human training data as reference, Human
validation pairs do not drift; BioSNAP pairs do, with a much larger out-of-domain share, and the
drift rule fires an alert delivered to a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from repurpose.client import GatewayClient
from repurpose.contracts.alerts import AlertRuleSpec
from repurpose.contracts.monitoring import MonitorReport
from tests.gateway.conftest import Gateway
from tests.helpers import REPO_ROOT, poll
from tests.monitoring.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.slow

MODEL = "drugban-human"
HUMAN = REPO_ROOT / "data" / "human" / "random"
UNION = REPO_ROOT / "data" / "union" / "pairs.parquet"
WAIT_SECONDS = 240


def scored(client: GatewayClient, pairs: pd.DataFrame) -> None:
    """The pairs through POST /v1/predict (1,000 a request at most), as live traffic."""
    rows = [{"smiles": s, "sequence": p} for s, p in zip(pairs.SMILES, pairs.Protein, strict=True)]
    for start in range(0, len(rows), 500):
        client.predict(rows[start : start + 500], model=MODEL)


def reset(client: GatewayClient, reference: str, pair: pd.Series) -> None:
    """Reset the monitor to ``reference``, then score one pair and wait until the monitor counts it:
    a scorer that fed the monitor before the reset bins on the old reference's edges until a
    sketch of it is refused (that pair is dropped and counted), then takes the new edges."""
    client.reset_monitor(MODEL, reference=reference)
    client.predict([{"smiles": pair.SMILES, "sequence": pair.Protein}], model=MODEL)
    poll(lambda: client.monitor(MODEL), lambda r: r.pairs + r.dropped >= 1, WAIT_SECONDS, "one pair counted", 1.0)


def settled(client: GatewayClient, pairs: int) -> MonitorReport:
    """The monitor once the scorer's flushes have brought it ``pairs`` pairs (or more: other tests'
    predictions of the same model may still be in flight)."""
    return poll(lambda: client.monitor(MODEL), lambda r: r.pairs >= pairs, WAIT_SECONDS, f"{pairs} pairs", 1.0)


def test_human_pairs_do_not_drift_biosnap_pairs_do_and_the_alert_reaches_a_webhook(gateway: Gateway) -> None:
    # as many BioSNAP pairs as Human validation pairs (600): past the rule's min_pairs, and every one
    # of their ~400 proteins new to the scorer (its tensors computed for the pair: the costly part)
    biosnap = pd.read_parquet(UNION).query("source == 'biosnap'").sample(600, random_state=0)
    with (
        webhook_receiver() as receiver,
        GatewayClient(gateway.url, gateway.keys["admin"], timeout=600) as admin,
    ):
        reference = admin.register_dataset((HUMAN / "train.csv").read_bytes(), "train.csv", name="human-train")
        rule = AlertRuleSpec(
            name="human-drift", metric="drift_share", threshold=0.5, model=MODEL, min_pairs=500, webhooks=[receiver.url]
        )
        admin.add_alert_rule(rule)
        try:
            val = pd.read_csv(HUMAN / "val.csv")
            reset(admin, reference.dataset_id, val.iloc[0])
            scored(admin, val)
            human = settled(admin, len(val))
            assert human.reference is not None and human.reference.dataset_name == "human-train"
            assert human.features_tested == 8 and not human.dataset_drift
            assert human.out_of_domain_share is not None

            reset(admin, reference.dataset_id, biosnap.iloc[0])
            scored(admin, biosnap)
            drifted = settled(admin, len(biosnap))
            assert drifted.dataset_drift and drifted.drift_share is not None and drifted.drift_share >= 0.5
            assert drifted.out_of_domain_share is not None
            assert drifted.out_of_domain_share > 3 * human.out_of_domain_share  # 0.23 against 0.06 offline

            def firing(events: list[dict[str, object]]) -> bool:
                return any(e["rule"] == "human-drift" and e["status"] == "firing" for e in events)

            def events() -> list[dict[str, object]]:
                return [json.loads(r.body) for r in receiver.received]

            delivered = poll(events, firing, WAIT_SECONDS, "the drift alert at the webhook", 0.5)
            event = next(e for e in delivered if e["rule"] == "human-drift")
            assert event["model"] == MODEL and event["metric"] == "drift_share"
            assert isinstance(event["value"], float) and event["value"] >= 0.5
            state = next(s for s in admin.alerts().states if s.rule == "human-drift" and s.model == MODEL)
            assert state.status == "firing"
        finally:
            admin.remove_alert_rule("human-drift")
            admin.reset_monitor(MODEL)
