"""What a gateway replica holds for its routes: clients of the grains, the scorer and the store, and
two small lookup caches that keep single predictions cheap.

- Model references (``drugban-human``, ``name@3``, ``name@staging``) resolve through the registry
  grain (two calls); a replica reuses a resolution for ``settings.gateway_lookup_cache_seconds``
  (a promotion or rollback made through this replica clears its entries at once).
- A registered target's sequence never changes (another sequence under the same id is refused),
  so target sequences are kept, least recently used dropped first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from repurpose.actors.target_protein import TargetProtein
from repurpose.contracts.scoring import ResolvedModel
from repurpose.gateway.auth import KeyVerifier
from repurpose.gateway.auth_failures import FailedAuthLimiter
from repurpose.gateway.limits import RateLimiter
from repurpose.gateway.metrics import GatewayMetrics
from repurpose.grains import GrainClient
from repurpose.scorer_client import ScorerClient
from repurpose.settings import Settings
from repurpose.store import make_engine

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


@dataclass
class Services:
    settings: Settings
    grains: GrainClient
    scorer: ScorerClient
    engine: Engine
    lookups: Lookups
    keys: KeyVerifier
    limiter: RateLimiter
    auth_failures: FailedAuthLimiter
    metrics: GatewayMetrics

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        grains = GrainClient(settings)
        scorer = ScorerClient(settings, grains)
        engine = make_engine(settings.database_url)
        return cls(
            settings=settings,
            grains=grains,
            scorer=scorer,
            engine=engine,
            lookups=Lookups(grains, scorer, settings.gateway_lookup_cache_seconds),
            keys=KeyVerifier(engine, settings.gateway_key_cache_seconds),
            limiter=RateLimiter(settings.gateway_rate_per_second, settings.gateway_rate_burst),
            auth_failures=FailedAuthLimiter(
                settings.gateway_auth_max_failures, settings.gateway_auth_failure_window_seconds
            ),
            metrics=GatewayMetrics(),
        )

    def close(self) -> None:
        self.engine.dispose()
