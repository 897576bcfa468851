"""What a gateway replica holds for its routes: the services' ``Context`` (grain and scorer
clients, the store, the lookup caches) and the HTTP side's own parts: the key verifier, the rate
and failed-authentication limiters and the replica's metrics."""

from __future__ import annotations

from dataclasses import dataclass

from repurpose.gateway.auth import KeyVerifier
from repurpose.gateway.auth_failures import FailedAuthLimiter
from repurpose.gateway.limits import RateLimiter
from repurpose.gateway.metrics import GatewayMetrics
from repurpose.grains import GrainClient
from repurpose.services.context import Context
from repurpose.settings import Settings


@dataclass
class Services(Context):
    keys: KeyVerifier
    limiter: RateLimiter
    auth_failures: FailedAuthLimiter
    metrics: GatewayMetrics

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        context = Context.on(GrainClient(settings))
        return cls(
            settings=context.settings,
            grains=context.grains,
            scorer=context.scorer,
            engine=context.engine,
            lookups=context.lookups,
            keys=KeyVerifier(context.engine, settings.gateway_key_cache_seconds),
            limiter=RateLimiter(settings.gateway_rate_per_second, settings.gateway_rate_burst),
            auth_failures=FailedAuthLimiter(
                settings.gateway_auth_max_failures, settings.gateway_auth_failure_window_seconds
            ),
            metrics=GatewayMetrics(),
        )
