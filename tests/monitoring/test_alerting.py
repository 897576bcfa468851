"""Judging alert rules: firing at the threshold, resolving below it, and what is not judged."""

from __future__ import annotations

import datetime as dt

from repurpose.contracts.alerts import AlertObservation, AlertRule, AlertState
from repurpose.monitoring.alerting import judge

T0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
DRIFT = AlertRule(name="drift", metric="drift_share", threshold=0.5, window="pairs", min_pairs=100, source="config")
DAY = AlertRule(name="day-ood", metric="out_of_domain_share", threshold=0.3, window="day", source="api")
AUROC = AlertRule(name="auroc", metric="auroc_drop", threshold=0.1, min_pairs=10, model="m", source="api")
RULES = [DRIFT, DAY, AUROC]


def drift(value: float | None, pairs: int = 500, window: str = "pairs") -> AlertObservation:
    return AlertObservation(metric="drift_share", window=window, value=value, pairs=pairs)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_a_rule_fires_at_its_threshold_and_is_resolved_below_it() -> None:
    states: dict[str, AlertState] = {}
    assert judge(RULES, "m", [drift(0.25)], states, at(0)) == [] and states == {}  # never fired: no state

    (fired,) = judge(RULES, "m", [drift(0.5)], states, at(1))
    assert (fired.rule, fired.status, fired.value, fired.threshold, fired.window) == (
        "drift",
        "firing",
        0.5,
        0.5,
        "pairs",
    )
    assert states["drift"].status == "firing" and states["drift"].fired_at == at(1)

    assert judge(RULES, "m", [drift(0.75)], states, at(2)) == []  # firing still: no new event
    assert states["drift"].value == 0.75 and states["drift"].fired_at == at(1) and states["drift"].updated_at == at(2)

    (resolved,) = judge(RULES, "m", [drift(0.125)], states, at(3))
    assert resolved.status == "resolved" and resolved.at == at(3)
    assert states["drift"].status == "resolved" and states["drift"].resolved_at == at(3)
    assert states["drift"].fired_at == at(1)

    (again,) = judge(RULES, "m", [drift(0.9)], states, at(4))
    assert again.status == "firing" and states["drift"].fired_at == at(4) and states["drift"].resolved_at is None


def test_too_few_pairs_no_value_or_another_window_judge_nothing() -> None:
    states: dict[str, AlertState] = {}
    assert judge(RULES, "m", [drift(0.9, pairs=99)], states, at(0)) == []
    assert judge(RULES, "m", [drift(None)], states, at(0)) == []
    assert judge(RULES, "m", [drift(0.9, window="hour")], states, at(0)) == []
    assert states == {}
    judge(RULES, "m", [drift(0.9)], states, at(1))
    assert judge(RULES, "m", [drift(0.0, pairs=10)], states, at(2)) == []  # too few to resolve it either
    assert states["drift"].status == "firing"


def test_rules_judge_their_own_metric_window_and_model() -> None:
    states: dict[str, AlertState] = {}
    observations = [
        drift(0.1),
        AlertObservation(metric="out_of_domain_share", window="day", value=0.4, pairs=200),
        AlertObservation(metric="auroc_drop", window=None, value=0.15, pairs=10, version=3),
    ]
    events = judge(RULES, "m", observations, states, at(0))
    assert [(e.rule, e.status) for e in events] == [("day-ood", "firing"), ("auroc", "firing")]
    assert states["auroc"].version == 3 and states["auroc"].window is None
    other: dict[str, AlertState] = {}
    assert [e.rule for e in judge(RULES, "other-model", observations, other, at(0))] == ["day-ood"]  # auroc: m only
