"""Alerts: the rules (config's and the API's), every model's alert states and their recent history.

A rule's webhook URLs are secrets: every rule answered here shows them as their origin only
(``scheme://host[:port]``), to every caller, admins included; the full URL stays in the store.
"""

from __future__ import annotations

import asyncio
from typing import cast

from repurpose.actors.alert_rules import RULES_KEY, AlertRules
from repurpose.actors.alerts import alert_overview
from repurpose.contracts.alerts import AlertRule, AlertRuleSpec, AlertsOverview, check_rule_name
from repurpose.errors import blame
from repurpose.services.context import Context


async def list_alerts(ctx: Context, *, history: int = 100) -> AlertsOverview:
    """Every model's state of every rule (firing first) and the latest state changes, newest first."""
    rules = cast(list[AlertRule], await ctx.grains.acall(AlertRules, RULES_KEY, "rules"))
    return await asyncio.to_thread(alert_overview, ctx.engine, rules, history=history)


async def list_rules(ctx: Context) -> list[AlertRule]:
    """Config's rules, then those added through the API (webhooks: their origins)."""
    rules = cast(list[AlertRule], await ctx.grains.acall(AlertRules, RULES_KEY, "rules"))
    return [rule.shown() for rule in rules]


async def add_rule(ctx: Context, *, rule: AlertRuleSpec) -> AlertRule:
    """Keep a rule (the same rule twice: the one kept); answered with its webhooks' origins."""
    added = cast(AlertRule, await ctx.grains.acall(AlertRules, RULES_KEY, "add", rule))
    return added.shown()


async def remove_rule(ctx: Context, *, name: str) -> AlertRule:
    """Forget a rule added through the API (config's rules change with the setting)."""
    with blame("rule"):
        check_rule_name(name)
    removed = cast(AlertRule, await ctx.grains.acall(AlertRules, RULES_KEY, "remove", name, idempotent=False))
    return removed.shown()
