"""The AlertRules grain (kind ``"alert-rules"``, one key: ``"rules"``): the rules alerts are judged by.

The rules of the setting ``alert_rules`` (source ``config``) come first and cannot be changed or
removed through the API: they change with the setting. Rules added through the API (source
``api``) are kept in this grain's state. A name is one rule: adding a rule under a name taken by
another rule is refused; adding the very same rule again answers the one kept. A rule added
through the API whose name the setting took later is left out (config wins, logged at WARNING)
until it is removed. A webhook to a loopback, private or link-local address is refused unless the
setting ``alert_webhooks_allow_private`` allows it (``monitoring.webhooks.check_webhook_target``).

The grain calls no other grain, so any grain may call it (the Alerts grain, the Monitor grain).
"""

from __future__ import annotations

import datetime as dt
import logging

from pydantic import BaseModel, Field, ValidationError

from repurpose.contracts.alerts import DRIFT_METRICS, AlertRule, AlertRuleSpec, check_rule_name
from repurpose.contracts.models import check_model_name
from repurpose.errors import AlertRuleConflict, AlertRuleNotFound, InvalidInput
from repurpose.grains import Grain, grain
from repurpose.monitoring.webhooks import check_webhook_target

logger = logging.getLogger(__name__)

KIND = "alert-rules"
RULES_KEY = "rules"
MAX_RULES = 200


class AlertRulesState(BaseModel):
    rules: list[AlertRule] = Field(default_factory=list, description="The rules added through the API, oldest first.")


@grain(KIND)
class AlertRules(Grain[AlertRulesState]):
    """Every alert rule: config's, then the API's."""

    _shadowed: set[str] = set()  # noqa: RUF012  # API rules left out and logged; replaced, never mutated

    def rules(self) -> list[AlertRule]:
        config = self._config_rules()
        taken = {r.name for r in config}
        shadowed = [r.name for r in self.state.rules if r.name in taken]
        if shadowed and set(shadowed) != self._shadowed:  # once per activation and change, not per read
            self._shadowed = set(shadowed)  # the setting took these names after the API added them
            logger.warning(
                "alert rule(s) %s added through the API are left out: the setting alert_rules names them too "
                "(remove them, or rename the config's)",
                ", ".join(shadowed),
            )
        return [*config, *(r for r in self.state.rules if r.name not in taken)]

    def add(self, spec: AlertRuleSpec) -> AlertRule:
        """Keep a rule; the one kept already when it is the same rule (AlertRuleConflict: the name is taken)."""
        try:
            spec = AlertRuleSpec.model_validate(spec.model_dump() if isinstance(spec, BaseModel) else spec)
        except ValidationError as error:
            raise InvalidInput(f"not an alert rule: {error.errors()[0]['msg']}") from None
        allow_private = self.context.settings.alert_webhooks_allow_private
        for url in spec.webhooks:
            check_webhook_target(url, allow_private=allow_private)
        taken = next((r for r in self.rules() if r.name == spec.name), None)
        if taken is not None:
            if (
                taken.source == "api"
                and AlertRuleSpec.model_validate(taken.model_dump(exclude={"source", "created_at"})) == spec
            ):
                return taken
            where = "set in config (alert_rules)" if taken.source == "config" else "added already"
            raise AlertRuleConflict(
                f"an alert rule named {spec.name!r} is {where}: remove it first, or choose another name", rule=spec.name
            )
        if len(self.state.rules) >= MAX_RULES:
            raise InvalidInput(f"at most {MAX_RULES} alert rules can be added: remove some first")
        rule = AlertRule(**spec.model_dump(), source="api", created_at=dt.datetime.now(dt.UTC))
        self.state.rules = [*self.state.rules, rule]
        return rule

    def remove(self, name: str) -> AlertRule:
        """Forget a rule added through the API; the rule removed."""
        check_rule_name(name)
        found = next((r for r in self.state.rules if r.name == name), None)  # one config shadows goes too
        if found is None and any(r.name == name for r in self._config_rules()):
            raise AlertRuleConflict(
                f"alert rule {name!r} is set in config (alert_rules): change the setting to remove it", rule=name
            )
        if found is None:
            raise AlertRuleNotFound(f"no alert rule named {name!r}", rule=name)
        self.state.rules = [r for r in self.state.rules if r.name != name]
        return found

    def windows(self, model: str) -> list[str]:
        """The monitor windows the drift rules for ``model`` judge (none: no drift rule applies)."""
        check_model_name(model)
        return sorted({r.window for r in self.rules() if r.metric in DRIFT_METRICS and r.applies_to(model)})

    def _config_rules(self) -> list[AlertRule]:
        return [AlertRule(**spec.model_dump(), source="config") for spec in self.context.settings.alert_rules]
