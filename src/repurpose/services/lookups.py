"""Two small lookup caches that keep single predictions cheap.

- Model references (``drugban-human``, ``name@3``, ``name@staging``) resolve through the registry
  grain; a resolution is reused for ``settings.gateway_lookup_cache_seconds`` (a promotion or
  rollback made through the same context clears its entries at once).
- A registered target's sequence never changes (another sequence under the same id is refused),
  so target sequences are kept, least recently used dropped first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from repurpose.actors.target_protein import TargetProtein
from repurpose.contracts.scoring import ResolvedModel
from repurpose.grains import GrainClient
from repurpose.scoring.client import ScorerClient

MAX_CACHED_TARGETS = 20_000


@dataclass
class Lookups:
    grains: GrainClient
    scorer: ScorerClient
    model_seconds: float
    clock: Callable[[], float] = time.monotonic
    _models: dict[str, tuple[float, ResolvedModel]] = field(default_factory=dict)
    _sequences: OrderedDict[str, str] = field(default_factory=OrderedDict)

    async def model(self, reference: str) -> ResolvedModel:
        """The model version ``reference`` names now (ModelNotFound / InvalidInput otherwise)."""
        key = reference.strip()
        now = self.clock()
        cached = self._models.get(key)
        if cached is not None and now - cached[0] < self.model_seconds:
            return cached[1]
        resolved = await self.scorer.resolve(key)
        if len(self._models) > 1000:
            self._models.clear()
        self._models[key] = (now, resolved)
        return resolved

    def forget_model(self, name: str) -> None:
        """Drop cached resolutions of ``name`` (after a stage change through this replica)."""
        for key in [k for k in self._models if k.partition("@")[0] == name]:
            del self._models[key]

    async def sequence(self, target_id: str) -> str:
        """A registered target's sequence (TargetNotFound if it is not registered)."""
        found = self._sequences.get(target_id)
        if found is not None:
            self._sequences.move_to_end(target_id)
            return found
        sequence: str = await self.grains.acall(TargetProtein, target_id, "sequence")
        self._sequences[target_id] = sequence
        while len(self._sequences) > MAX_CACHED_TARGETS:
            self._sequences.popitem(last=False)
        return sequence

    async def sequences(self, target_ids: list[str]) -> dict[str, str]:
        unique = list(dict.fromkeys(target_ids))
        found = await asyncio.gather(*(self.sequence(t) for t in unique))
        return dict(zip(unique, found, strict=True))
