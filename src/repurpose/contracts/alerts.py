"""Alerts at the boundaries: rules, their states per model, and the events of a state change.

A rule watches one figure of a model's monitor: the drift share or the out-of-domain share of a
window (``pairs``, ``hour``, ``day``), or the live AUROC drop (the registry's AUROC of a version
minus its AUROC on the outcomes fed back). It fires when the figure reaches its threshold, with at
least ``min_pairs`` pairs (outcomes, for the AUROC drop) behind it, and is resolved when the
figure falls below again. Rules come from the setting ``alert_rules`` (source ``config``) and the
API (source ``api``); a rule names one model or applies to every model.

A webhook URL is a secret (it often carries a token): it is written, never shown. Every answer
(the API, the CLI, logs) shows only its origin, ``scheme://host[:port]`` (``webhook_origin``), to
every role, admins too. Webhooks to loopback, private, link-local or unspecified addresses (a
literal IP, or the name ``localhost``) are refused unless the setting ``alert_webhooks_allow_private``
allows them (``webhook_host_is_private``): a rule must not make the cluster call its own insides.
Host names are not resolved here: an egress firewall is the guard against names that point inside.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from repurpose.contracts.base import Contract
from repurpose.contracts.ids import MODEL_NAME_PATTERN
from repurpose.errors import InvalidInput

AlertMetric = Literal["drift_share", "out_of_domain_share", "auroc_drop"]
AlertStatus = Literal["firing", "resolved"]
RuleSource = Literal["config", "api"]
ALERT_RULE_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
ALERT_WINDOWS = ("pairs", "hour", "day")
MAX_WEBHOOKS = 10
MAX_URL_LENGTH = 2_000
DRIFT_METRICS: frozenset[str] = frozenset({"drift_share", "out_of_domain_share"})


def check_webhook_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host and, if any, a numeric port (ValueError otherwise)."""
    problem = f"{webhook_origin(url)!r:.80} is not a webhook URL: give http(s)://host[:port]/path"
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or re.search(r"[\s\x00-\x1f\x7f]", url):
        raise ValueError(problem)
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    return url


def webhook_origin(url: str) -> str:
    """What may be shown of a webhook URL: ``scheme://host[:port]`` (no user, password, path or query)."""
    if not isinstance(url, str):
        return "?"
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # user:password@ never shown
    return f"{parts.scheme}://{host}" if parts.scheme and host else "?"


def webhook_host_is_private(url: str) -> bool:
    """Whether ``url``'s host is ``localhost`` or a literal IP that is not a public one (loopback,
    private, link-local such as 169.254.169.254, unspecified, reserved, multicast)."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if not host or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[0-9a-fx.]+", host):
            return False  # a host name: not resolved here
        try:  # the forms the resolver also takes for an IPv4 address: 127.1, 2130706433, 0x7f000001
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


class AlertRuleSpec(Contract):
    """A rule as it is written: in the setting ``alert_rules`` or the body of ``POST /v1/alerts/rules``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=ALERT_RULE_NAME_PATTERN, description="1 to 64 of a-z 0-9 . _ -.")
    metric: AlertMetric
    threshold: float = Field(ge=0, le=1, description="Fires when the figure is at or above it.")
    window: Literal["pairs", "hour", "day"] = Field(
        default="pairs", description="The monitor window of a drift or out-of-domain rule (not used by auroc_drop)."
    )
    model: str | None = Field(default=None, pattern=MODEL_NAME_PATTERN, description="None: every model.")
    min_pairs: int = Field(
        default=100, ge=1, description="Pairs in the window (outcomes, for auroc_drop) needed to judge."
    )
    webhooks: list[str] = Field(
        default_factory=list, max_length=MAX_WEBHOOKS, description="URLs POSTed on every change, beside the global."
    )
    retrain: bool = Field(
        default=False,
        description="On firing, start a training run of the model's type on the newest version "
        "of the dataset its version was trained on.",
    )

    @field_validator("webhooks", mode="after")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        return [check_webhook_url(url) for url in urls]

    def applies_to(self, model: str) -> bool:
        return self.model is None or self.model == model

    def shown(self) -> Self:
        """This rule as answers show it: each webhook as its origin only (the URL is a secret)."""
        return self.model_copy(update={"webhooks": [webhook_origin(url) for url in self.webhooks]})


class AlertRule(AlertRuleSpec):
    source: RuleSource
    created_at: dt.datetime | None = Field(default=None, description="None: from config.")


class AlertObservation(Contract):
    """A figure a rule may judge: a window's drift or out-of-domain share, or a version's AUROC drop."""

    metric: AlertMetric
    window: str | None = Field(description="The monitor window (None: auroc_drop).")
    value: float | None = Field(description="None: not measurable (too few pairs to test, one class).")
    pairs: int = Field(ge=0, description="Pairs (outcomes) behind the value.")
    version: int | None = Field(default=None, description="The model version the figure is of (auroc_drop).")

    @model_validator(mode="after")
    def _window(self) -> AlertObservation:
        if (self.metric in DRIFT_METRICS) != (self.window is not None):
            raise ValueError("a drift or out-of-domain observation names its window, an AUROC drop none")
        return self


class AlertState(Contract):
    """Where a rule stands for a model: firing since ``fired_at``, or resolved at ``resolved_at``."""

    rule: str
    model: str
    metric: AlertMetric
    status: AlertStatus
    value: float = Field(description="The figure last judged.")
    threshold: float
    window: str | None
    version: int | None
    fired_at: dt.datetime
    resolved_at: dt.datetime | None
    updated_at: dt.datetime
    retrain_run: str | None = Field(default=None, description="The training run its last firing started.")


class AlertEvent(Contract):
    """A state change: what every delivery (log, webhook) carries."""

    rule: str
    model: str
    metric: AlertMetric
    status: AlertStatus
    value: float
    threshold: float
    window: str | None
    version: int | None
    at: dt.datetime
    retrain_run: str | None = None
    retrain_error: str | None = Field(default=None, description="Why the retraining it asked for did not start.")


class AlertsOverview(Contract):
    """Every state (firing first), and the latest events of every model, newest first."""

    states: list[AlertState]
    history: list[AlertEvent]


def check_rule_name(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(ALERT_RULE_NAME_PATTERN, name):
        raise InvalidInput(f"{name!r:.80} is not an alert rule name: 1 to 64 of a-z 0-9 . _ -, starting a-z or 0-9")
    return name
