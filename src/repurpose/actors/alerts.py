"""The Alerts grain (kind ``"alerts"``, key = the model name): where each rule stands for a model.

``observe`` takes figures of the model (``AlertObservation``: a window's drift or out-of-domain
share from its monitor, a version's AUROC drop from feedback), judges every rule that applies
(``monitoring.alerting``), keeps the new states (saved before anything goes out: a turn that
fails sends nothing) and then delivers each state change:

- a log line (``repurpose.actors.alerts``: WARNING when a rule fires, INFO when it is resolved);
- webhooks: the event's JSON POSTed, signed, with retries (``monitoring.webhooks``), to the
  rule's URLs and the setting ``alert_webhooks``, in a task of the host's event loop: the turn
  never waits for a receiver (a host that dies takes its undelivered events with it, logged as
  sent);
- Prometheus: ``repurpose_alerts_firing{rule,model}``, which a gateway reads from the stored
  states when it is scraped (``alert_overview``).

A rule has one state per model. An AUROC drop is judged only for the model's current version
(production, else the latest): outcomes fed back for an older version are stored and measured, but
neither fire nor resolve the model's alert.

A rule with ``retrain`` starts, when it fires, a training run of the model's type, with its
version's training settings, on the newest version of the dataset its version was trained on
(``actors.run_launch``); the run's id, or why none started (no newer dataset version: nothing new to
train on; a request refused; a grain failing), goes with the event.

Callers (the Monitor grain's alert check, the feedback service) call in, and this grain calls
only AlertRules, the model registry, dataset versions and training runs, none of which calls
back: no cycle.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import cast

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from repurpose.actors.alert_rules import RULES_KEY, AlertRules
from repurpose.actors.model_registry import ModelRegistry
from repurpose.actors.run_launch import launch_run, retraining_request
from repurpose.contracts.alerts import AlertEvent, AlertObservation, AlertRule, AlertsOverview, AlertState
from repurpose.contracts.models import ModelVersionDetail, check_model_name
from repurpose.errors import InvalidInput, RepurposeError
from repurpose.grains import Grain, grain
from repurpose.monitoring.alerting import judge
from repurpose.monitoring.webhooks import deliver_all
from repurpose.store import list_states

logger = logging.getLogger(__name__)

KIND = "alerts"
MAX_OBSERVATIONS = 20

_deliveries: set[asyncio.Task[object]] = set()  # webhook tasks in flight: held so none is collected early


class AlertsState(BaseModel):
    states: dict[str, AlertState] = Field(default_factory=dict, description="By rule name.")
    history: list[AlertEvent] = Field(default_factory=list, description="State changes, oldest first.")


@grain(KIND)
class Alerts(Grain[AlertsState]):
    """A model's alert states and their history."""

    async def observe(self, observations: list[AlertObservation]) -> list[AlertEvent]:
        """Judge every rule for this model on ``observations``; the state changes, delivered.

        The turn judges and retrains first, saves the state, and only then logs and sends the
        events: a turn that fails (a store refusal) sends nothing, so the next check judges again
        rather than repeating deliveries of changes that were never kept."""
        check_model_name(self.key)
        if not isinstance(observations, list) or len(observations) > MAX_OBSERVATIONS:
            raise InvalidInput(f"give 0 to {MAX_OBSERVATIONS} observations")
        observed = [AlertObservation.model_validate(o) for o in observations]
        rules = cast(list[AlertRule], await self.context.grains.acall(AlertRules, RULES_KEY, "rules"))
        observed = await self._current_quality(observed, rules)
        state = self.state
        known = {r.name for r in rules}
        state.states = {name: s for name, s in state.states.items() if name in known}  # removed rules go
        events = judge(rules, self.key, observed, state.states, dt.datetime.now(dt.UTC))
        by_name = {r.name: r for r in rules}
        changes: list[AlertEvent] = []
        for event in events:
            rule = by_name[event.rule]
            if event.status == "firing" and rule.retrain:
                event = await self._retrain(event)
                state.states[rule.name] = state.states[rule.name].model_copy(update={"retrain_run": event.retrain_run})
            changes.append(event)
        if not changes:
            return []
        state.history = [*state.history, *changes][-self.context.settings.alert_history :]
        await self.save()  # kept before anything goes out (the host's write after the turn: nothing new)
        for event in changes:
            _log(event)
            self._send(event, by_name[event.rule])
        return changes

    async def _current_quality(
        self, observed: list[AlertObservation], rules: list[AlertRule]
    ) -> list[AlertObservation]:
        """Only the current version's AUROC drop (production, else the latest) is judged: a rule has one
        state per model, and outcomes fed back for an older version must not fire or resolve it."""
        quality = [o for o in observed if o.metric == "auroc_drop"]
        if not quality or not any(r.metric == "auroc_drop" and r.applies_to(self.key) for r in rules):
            return observed
        current = cast(ModelVersionDetail, await self.context.grains.acall(ModelRegistry, self.key, "show"))
        return [o for o in observed if o.metric != "auroc_drop" or o.version == current.version]

    async def _retrain(self, event: AlertEvent) -> AlertEvent:
        """Start the retraining a rule asks for; whatever stops it (a model trained from files, a
        request the run contract refuses, a grain that fails) is recorded in the event, never raised:
        raising would undo the turn and the next check would fire, and retrain, again."""
        grains = self.context.grains
        try:
            detail = cast(ModelVersionDetail, await grains.acall(ModelRegistry, self.key, "show", event.version))
            request = await retraining_request(grains, self.context.engine, detail)
            run = await launch_run(grains, request)
        except Exception as error:
            reason = error.message if isinstance(error, RepurposeError) else f"{type(error).__name__}: {error}"
            logger.warning("alert %s on %s: retraining did not start: %s", event.rule, self.key, reason)
            return event.model_copy(update={"retrain_error": reason[:500]})
        if not run.created:  # the same request as a run that exists: no newer dataset version to train on
            reason = (
                f"nothing new to train on: run {run.run_id[:12]} ({run.status}) already trained "
                f"{request.model_type} on dataset {request.dataset_id[:12]}, its newest version"
            )
            logger.warning("alert %s on %s: retraining did not start: %s", event.rule, self.key, reason)
            return event.model_copy(update={"retrain_error": reason})
        logger.warning("alert %s on %s: started training run %s", event.rule, self.key, run.run_id[:12])
        return event.model_copy(update={"retrain_run": run.run_id})

    def _send(self, event: AlertEvent, rule: AlertRule) -> None:
        settings = self.context.settings
        urls = list(dict.fromkeys([*rule.webhooks, *settings.alert_webhooks]))
        if not urls:
            return
        secret = settings.alert_webhook_secret.get_secret_value() if settings.alert_webhook_secret else None
        task = asyncio.get_running_loop().create_task(
            deliver_all(
                urls,
                event.model_dump_json().encode(),
                secret=secret,
                tries=settings.alert_webhook_tries,
                timeout=settings.alert_webhook_timeout_seconds,
                allow_private=settings.alert_webhooks_allow_private,
            )
        )
        _deliveries.add(task)
        task.add_done_callback(_deliveries.discard)


def _log(event: AlertEvent) -> None:
    where = f" ({event.window})" if event.window else f" (v{event.version})" if event.version else ""
    logger.log(
        logging.WARNING if event.status == "firing" else logging.INFO,
        "alert %s %s on %s: %s%s = %.3f, threshold %.3f",
        event.rule,
        event.status,
        event.model,
        event.metric,
        where,
        event.value,
        event.threshold,
    )


# --- reading the store ---------------------------------------------------------------------------


def alert_overview(engine: Engine, rules: list[AlertRule], *, history: int = 100) -> AlertsOverview:
    """Every model's states of the rules in ``rules`` (firing first), and the latest ``history`` events."""
    names = {r.name for r in rules}
    states: list[AlertState] = []
    events: list[AlertEvent] = []
    for stored in list_states(engine, KIND):
        kept = AlertsState.model_validate(stored.state)
        states.extend(s for s in kept.states.values() if s.rule in names)
        events.extend(kept.history)
    states.sort(key=lambda s: (s.status != "firing", s.model, s.rule))
    events.sort(key=lambda e: e.at, reverse=True)
    return AlertsOverview(states=states, history=events[:history])
