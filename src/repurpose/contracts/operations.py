"""The cluster's health at the boundaries: what ``/healthz`` and ``/readyz`` answer (``repurpose status --url``)."""

from __future__ import annotations

from typing import Literal

from repurpose.contracts.base import Contract


class Liveness(Contract):
    status: Literal["alive"] = "alive"


class ReadinessCheck(Contract):
    name: Literal["store", "ray", "model"]
    ok: bool
    detail: str


class Readiness(Contract):
    ready: bool
    checks: list[ReadinessCheck]
