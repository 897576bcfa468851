"""What every service needs: the cluster's settings, a grain client, the store, the scorer and
the lookup caches. A gateway replica holds one (``gateway.services.Services`` adds its own
HTTP-side parts); the in-process client makes one for the cluster on this machine."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from repurpose.grains import GrainClient
from repurpose.scoring.client import ScorerClient
from repurpose.services.lookups import Lookups
from repurpose.settings import Settings
from repurpose.store import make_engine


@dataclass
class Context:
    settings: Settings
    grains: GrainClient
    scorer: ScorerClient
    engine: Engine
    lookups: Lookups

    @classmethod
    def on(cls, grains: GrainClient) -> Context:
        """A context on the cluster ``grains`` reaches, with its own store engine (``close`` it)."""
        settings = grains.settings
        scorer = ScorerClient(settings, grains)
        return cls(
            settings=settings,
            grains=grains,
            scorer=scorer,
            engine=make_engine(settings.database_url),
            lookups=Lookups(grains, scorer, settings.gateway_lookup_cache_seconds),
        )

    def close(self) -> None:
        self.engine.dispose()
