"""The gateway as a Ray Serve application: FastAPI as the ingress, reached through Serve's HTTP proxy.

``deploy_gateway(settings)`` runs the application ``settings.gateway_app`` under the route
prefix ``/`` (Serve started by ``ensure_serve``, so its proxy listens on the gateway address).
Each replica builds its own app (``create_app``) when it starts and calls the scorer through
its DeploymentHandle (``ScorerClient``) and the grains through a ``GrainClient``.

On ``repurpose up`` the step ``start_gateway`` (``cluster.up``) deploys it after the scorer and, on a
cluster without any API key, makes the first admin key: printed once by ``up`` and written
owner-only to ``<home>/admin_key`` for local tools.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from repurpose.grains import GrainClient
from repurpose.runtime.serving import ensure_serve, run_unless_current
from repurpose.services.in_process import InProcessClient
from repurpose.settings import Settings

DEPLOYMENT = "Gateway"
ADMIN_KEY_FILE = "admin_key"


def build_gateway(settings: Settings) -> serve.Application:
    """The gateway application, configured by ``settings``."""

    @serve.deployment(
        name=DEPLOYMENT,
        num_replicas=settings.gateway_replicas,
        max_ongoing_requests=settings.gateway_max_ongoing_requests,
        ray_actor_options={"num_cpus": settings.gateway_num_cpus},
    )
    @serve.ingress()
    class Gateway:
        def __init__(self, settings: Settings) -> None:
            from repurpose.gateway.request_ids import install_log_request_ids

            install_log_request_ids()
            self.settings = settings

        def __serve_build_asgi_app__(self) -> Any:
            from repurpose.gateway.app import create_app

            return create_app(self.settings)

    return Gateway.bind(settings)  # type: ignore[attr-defined]  # added by @serve.deployment


def deploy_gateway(settings: Settings, *, route_prefix: str = "/") -> DeploymentHandle:
    """Run (or update) the gateway application at ``route_prefix`` of Serve's HTTP proxy."""
    ensure_serve(settings)
    return serve.run(build_gateway(settings), name=settings.gateway_app, route_prefix=route_prefix, blocking=False)


def stop_gateway(settings: Settings) -> None:
    serve.delete(settings.gateway_app, _blocking=True)


def ensure_admin_key(client: GrainClient) -> Path | None:
    """On a cluster that has no API key yet, make an admin key and write it owner-only to
    ``<home>/admin_key``; returns that path (None: keys exist, nothing was made)."""
    with InProcessClient.on(client) as keys:
        if keys.keys():
            return None
        issued = keys.create_key("admin", name="first admin (repurpose up)")
    path = client.settings.home / ADMIN_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as f:
        f.write(issued.key + "\n")
    os.chmod(temporary, 0o600)  # the umask may have narrowed it; never wider
    temporary.replace(path)
    return path


def start_gateway(client: GrainClient) -> list[str]:
    """A step of ``up`` (``cluster.up``): deploy (or update) the gateway; make the first admin key on a
    cluster with none."""
    settings = client.settings
    ran = run_unless_current(build_gateway(settings), name=settings.gateway_app, route_prefix="/", settings=settings)
    url = f"http://{settings.gateway_host}:{settings.gateway_port}"
    state = "" if ran else " (running, unchanged)"
    lines = [f"gateway       Serve application {settings.gateway_app!r}, OpenAPI at {url}/docs{state}"]
    if not settings.gateway_auth:
        lines.append("gateway auth  OFF (--no-auth): every request acts as an admin; for local development only")
        return lines
    path = ensure_admin_key(client)
    if path is not None:
        key = path.read_text().strip()
        lines.append(f"admin key     {key}")
        lines.append(f"              shown once; saved owner-only to {path}")
        return lines
    saved = settings.home / ADMIN_KEY_FILE  # keys exist: a later `up` says where the first one is
    if saved.is_file():
        lines.append(f"admin key     in {saved} (owner-only, made by the first `up`)")
    else:
        lines.append("admin key     none saved here (keys exist): `repurpose keys create --role admin` makes one")
    return lines
