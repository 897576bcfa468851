"""``/v1/alerts``: every model's alert states and history, and the rules (added and removed by admins:
a rule's webhooks make the cluster call out, and a rule may start training runs). A rule's webhook
URLs are write-only: every answer shows them as ``scheme://host[:port]``, to every role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import ConfigDict

from repurpose.contracts.alerts import ALERT_RULE_NAME_PATTERN, AlertRule, AlertRuleSpec, AlertsOverview
from repurpose.gateway.bodies import AlertRuleList
from repurpose.gateway.deps import Manager, Reader, ServicesDep
from repurpose.gateway.errors import responses
from repurpose.services import alerts as service

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=responses(401, 403, 422, 429, 503))


class RuleBody(AlertRuleSpec):
    # strict, as every body: a JSON "0.5" is not the number 0.5, nor "true" a boolean
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


RuleName = Annotated[str, Path(pattern=ALERT_RULE_NAME_PATTERN, description="An alert rule's name.")]


@router.get("")
async def alerts(
    services: ServicesDep,
    _: Reader,
    history: Annotated[int, Query(ge=0, le=1000, description="How many of the latest state changes.")] = 100,
) -> AlertsOverview:
    """Every model's state of every rule (firing first), and the latest state changes, newest first."""
    return await service.list_alerts(services, history=history)


@router.get("/rules")
async def rules(services: ServicesDep, _: Reader) -> AlertRuleList:
    """Config's rules, then those added through the API (webhooks as their origins only: the URLs are secrets)."""
    return AlertRuleList(items=await service.list_rules(services))


@router.post("/rules", status_code=status.HTTP_201_CREATED, responses=responses(409, 413))
async def add_rule(services: ServicesDep, _: Manager, body: RuleBody) -> AlertRule:
    """Add a rule (the same rule again answers the one kept; another rule under its name: 409)."""
    return await service.add_rule(services, rule=AlertRuleSpec.model_validate(body.model_dump()))


@router.delete("/rules/{rule}", responses=responses(404, 409))
async def remove_rule(services: ServicesDep, _: Manager, rule: RuleName) -> AlertRule:
    """Remove a rule added through the API (config's: 409, they change with the setting)."""
    return await service.remove_rule(services, name=rule)
