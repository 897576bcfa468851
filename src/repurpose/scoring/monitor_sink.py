"""Where a scorer replica's traffic sketches go: the Monitor grain of each model name.

The scorer's layer imports no grain module: the grain is named by a ``KindRef`` and the host
imports the module it names. ``MonitorSink`` is what the feed (``scoring.monitor_feed``) needs
of it, so the feed runs the same against the grain and in a process without a cluster.
"""

from __future__ import annotations

from typing import Protocol

from repurpose.grains import GrainClient, KindRef
from repurpose.monitoring.sketch import TrafficSketch

MONITOR = KindRef("monitor", "repurpose.actors.monitor")
"""The Monitor grain's kind (key: the model name)."""


class MonitorSink(Protocol):
    async def edges(self, model_name: str) -> dict[str, list[float]]:
        """Per feature, the bin edges of the model's reference: its traffic is binned on them."""
        ...

    async def record(self, model_name: str, sketch: TrafficSketch, job_id: str | None, flush_id: str) -> None:
        """Add a sketch; a repeated ``flush_id`` (a retried flush) is added once."""
        ...

    async def dropped(self, model_name: str, pairs: int, flush_id: str) -> None:
        """Count scored pairs that never reached a sketch; a repeated ``flush_id`` counts once."""
        ...


class GrainMonitorSink:
    """``MonitorSink`` over the grain pool: one Monitor grain per model name."""

    def __init__(self, grains: GrainClient) -> None:
        self.grains = grains

    async def edges(self, model_name: str) -> dict[str, list[float]]:
        edges: dict[str, list[float]] = await self.grains.acall(MONITOR, model_name, "edges")
        return edges

    async def record(self, model_name: str, sketch: TrafficSketch, job_id: str | None, flush_id: str) -> None:
        await self.grains.acall(MONITOR, model_name, "record", sketch, job_id, flush_id)

    async def dropped(self, model_name: str, pairs: int, flush_id: str) -> None:
        # the grain's count is not keyed: the host's idempotency record makes a repeat count once
        await self.grains.acall(MONITOR, model_name, "dropped", pairs, idempotency_key=flush_id)
