"""Judging alert rules: observations of a model's figures in, state changes out (pure, no I/O).

A rule judges the observation of its metric (and window, for the drift metrics) when it has at
least ``min_pairs`` pairs behind it and a value: at or above the threshold it fires (unless it
fires already), below it a firing rule is resolved. Without a judgeable observation a rule keeps
its state: too few pairs say nothing either way. A firing state keeps the last value judged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from repurpose.contracts.alerts import DRIFT_METRICS, AlertEvent, AlertObservation, AlertRule, AlertState, AlertStatus


def observation_for(rule: AlertRule, observations: Sequence[AlertObservation]) -> AlertObservation | None:
    """The observation ``rule`` judges, if it can: its metric (and window), enough pairs, a value."""
    for observation in observations:
        if observation.metric != rule.metric:
            continue
        if rule.metric in DRIFT_METRICS and observation.window != rule.window:
            continue
        if observation.value is None or observation.pairs < rule.min_pairs:
            return None
        return observation
    return None


def judge(
    rules: Sequence[AlertRule],
    model: str,
    observations: Sequence[AlertObservation],
    states: dict[str, AlertState],
    now: dt.datetime,
) -> list[AlertEvent]:
    """Update ``states`` (by rule name) for ``model`` in place; the changes, as events."""
    events: list[AlertEvent] = []
    for rule in rules:
        if not rule.applies_to(model):
            continue
        observation = observation_for(rule, observations)
        if observation is None:
            continue
        value = float(observation.value)  # type: ignore[arg-type]  # observation_for: not None
        firing = value >= rule.threshold
        state = states.get(rule.name)
        if state is not None and (state.status == "firing") == firing:
            states[rule.name] = state.model_copy(
                update={"value": value, "threshold": rule.threshold, "version": observation.version, "updated_at": now}
            )
            continue
        if state is None and not firing:
            continue  # never fired: nothing to resolve
        status: AlertStatus = "firing" if firing else "resolved"
        states[rule.name] = AlertState(
            rule=rule.name,
            model=model,
            metric=rule.metric,
            status=status,
            value=value,
            threshold=rule.threshold,
            window=observation.window,
            version=observation.version,
            fired_at=now if firing or state is None else state.fired_at,
            resolved_at=None if firing else now,
            updated_at=now,
        )
        events.append(
            AlertEvent(
                rule=rule.name,
                model=model,
                metric=rule.metric,
                status=status,
                value=value,
                threshold=rule.threshold,
                window=observation.window,
                version=observation.version,
                at=now,
            )
        )
    return events
