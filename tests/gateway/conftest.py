"""Gateway fixtures: the real gateway and scorer as Serve applications of the session's Ray cluster,
reached over HTTP at Serve's proxy (``serve_http_port``), with one API key per role.

One gateway for the whole package (deploying takes a while): its own store (SQLite), grain
pool, artifacts and scorer, with the bundled model registered in production. It answers at
``/``; tests that need other settings (tiny limits, auth off) deploy their own application
under another route prefix.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from ray import serve

from repurpose.cluster.bundled_models import BUNDLED_MODEL, register_bundled_models
from repurpose.gateway import deploy_gateway, stop_gateway
from repurpose.grains import GrainClient
from repurpose.scoring.service import deploy_scorer, stop_scorer
from repurpose.screening.runner import start_runner
from repurpose.settings import Settings
from repurpose.store import upgrade
from tests.helpers import NAMESPACE, make_key

READY_SECONDS = 120


@dataclass(frozen=True)
class Gateway:
    url: str  # the application's base URL (Serve's proxy and its route prefix)
    settings: Settings
    grains: GrainClient
    keys: dict[str, str]  # role -> key

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def client(self, role: str | None = "admin", timeout: float = 300.0) -> httpx.Client:
        """An HTTP client with ``role``'s key (None: no key) that checks every answer's request id."""
        return httpx.Client(
            base_url=self.url,
            headers=self.headers(role) if role else {},
            timeout=timeout,
            event_hooks={"response": [has_request_id]},
        )


def has_request_id(response: httpx.Response) -> None:
    assert response.headers.get("x-request-id"), f"{response.request.method} {response.request.url}: no X-Request-ID"


def wait_until_served(url: str) -> None:
    """Serve's proxy learns a new route shortly after the application runs."""
    deadline = time.monotonic() + READY_SECONDS
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway at {url} did not answer in {READY_SECONDS}s")
        time.sleep(0.2)


@pytest.fixture(scope="package")
def gateway_settings(ray_cluster: None, serve_http_port: int, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        home=tmp_path_factory.mktemp("gateway"),
        ray_namespace=NAMESPACE,
        grain_pool=f"gw-{suffix}",
        grain_hosts=1,
        scorer_app=f"scorer-gw-{suffix}",
        scorer_num_cpus=0.5,  # the session's cluster has 2 CPUs: leave room for tasks and a training worker
        training_num_cpus=0.5,
        gateway_app=f"gateway-{suffix}",
        gateway_host="127.0.0.1",
        gateway_port=serve_http_port,
        gateway_rate_per_second=10_000,
        gateway_rate_burst=10_000,
        gateway_auth_max_failures=10_000,  # every test calls from 127.0.0.1: refusals must not add up to 429s
        gateway_key_cache_seconds=0.2,
        otel_traces_exporter="file",  # every process's spans to <home>/traces (test_tracing.py reads them)
        alert_webhooks_allow_private=True,  # webhook receivers in tests listen on 127.0.0.1
    )
    upgrade(settings.database_url)
    return settings


@pytest.fixture(scope="package")
def gateway(gateway_settings: Settings) -> Iterator[Gateway]:
    settings = gateway_settings
    grains = GrainClient(settings)
    assert register_bundled_models(grains, names=[BUNDLED_MODEL])  # drugban-human v1, in production
    deploy_scorer(settings)
    start_runner(settings)  # warm, as `up` leaves it
    deploy_gateway(settings, route_prefix="/")
    url = f"http://127.0.0.1:{settings.gateway_port}"
    try:
        wait_until_served(url)
        keys = {role: make_key(grains, role, name=f"test {role}").key for role in ("admin", "scientist", "reader")}
        yield Gateway(url=url, settings=settings, grains=grains, keys=keys)
    finally:
        stop_gateway(settings)
        stop_scorer(settings)
        grains.stop()


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    """An HTTP client with the admin key."""
    with gateway.client("admin") as client:
        yield client


def deploy_variant(base: Settings, prefix: str, **changes: object) -> Iterator[str]:
    """Another gateway application on the same store and scorer, at ``prefix``, with ``changes``."""
    settings = base.with_overrides(gateway_app=f"{base.gateway_app}-{prefix.strip('/')}", **changes)
    deploy_gateway(settings, route_prefix=prefix)
    url = f"http://127.0.0.1:{settings.gateway_port}{prefix}"
    try:
        wait_until_served(url)
        yield url
    finally:
        serve.delete(settings.gateway_app, _blocking=True)
