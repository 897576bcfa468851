"""The cluster's health at the boundaries: what ``/healthz`` and ``/readyz`` answer (``repurpose status --url``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    status: Literal["alive"] = "alive"


class ReadinessCheck(BaseModel):
    name: Literal["store", "ray", "model"]
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: list[ReadinessCheck]
