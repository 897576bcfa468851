"""The one Ray Serve instance of a cluster, with its HTTP proxy on the gateway's address.

A Ray cluster has a single Serve instance, and the first ``serve.start`` fixes its HTTP proxy
for good. Every Serve application of ours (the scorer, the gateway) therefore starts Serve
through ``ensure_serve``, so whichever comes first starts it with the proxy the gateway needs:
one HTTP server on the head node (``HeadOnly``) at ``settings.gateway_host:gateway_port``.
Applications then only choose a route prefix (the gateway takes ``/``; the scorer none).

``run_unless_current`` is how ``up`` deploys: Serve gives every ``serve.run`` a new code version, so
running it again on a cluster that is up would replace every replica (and drop their caches) for
nothing. It skips the run when the application Serve runs is the one this home deployed last, from
the same code and settings (recorded in ``<home>/serve_apps.json``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import socket
from pathlib import Path

from ray import serve

from repurpose.errors import ClusterError
from repurpose.runtime.private_files import write_private_atomically
from repurpose.settings import Settings

logger = logging.getLogger(__name__)

SERVE_APPS_FILE = "serve_apps.json"  # in the home: what `up` deployed last (``run_unless_current``)


def ensure_serve(settings: Settings) -> None:
    """Start Serve with its HTTP proxy on the gateway address, unless Serve runs already.

    A Serve instance that runs already keeps its own proxy (Serve cannot change it); a gateway
    port taken by another program is refused with a ClusterError naming the setting to change.
    """
    if serve_running():
        return
    host, port = settings.gateway_host, settings.gateway_port
    if _port_in_use(host, port):
        raise ClusterError(
            f"the gateway port {host}:{port} is taken by another program: "
            "choose another with `repurpose up --port` (REPURPOSE_GATEWAY_PORT)"
        )
    serve.start(proxy_location="HeadOnly", http_options={"host": host, "port": port})
    logger.info("Serve started with its HTTP proxy on %s:%d", host, port)


def serve_running() -> bool:
    """Whether this Ray cluster runs a Serve instance (its controller answers)."""
    from ray.serve.context import _get_global_client  # Serve has no public way to ask without starting

    return _get_global_client(raise_if_no_controller_running=False) is not None


def run_unless_current(app: serve.Application, *, name: str, route_prefix: str | None, settings: Settings) -> bool:
    """``serve.run`` the application as ``name`` unless Serve runs it already as this home last
    deployed it (same code, same settings, not deployed since by anyone else); True if it ran."""
    ensure_serve(settings)
    fingerprint = _fingerprint(settings)
    records_file = settings.home / SERVE_APPS_FILE
    records = _read_records(records_file)
    recorded = records.get(name)
    running = serve.status().applications.get(name)
    if (
        recorded is not None
        and running is not None
        and running.status == "RUNNING"
        and recorded == {"fingerprint": fingerprint, "deployed_at": running.last_deployed_time_s}
    ):
        logger.info("Serve application %r is up to date: not redeployed", name)
        return False
    serve.run(app, name=name, route_prefix=route_prefix, blocking=False)
    deployed = serve.status().applications.get(name)
    if deployed is not None:
        records[name] = {"fingerprint": fingerprint, "deployed_at": deployed.last_deployed_time_s}
        records_file.parent.mkdir(parents=True, exist_ok=True)
        write_private_atomically(records_file, json.dumps(records, indent=2))
    return True


def _read_records(path: Path) -> dict[str, dict[str, object]]:
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or damaged: deploy, and write a new one
        return {}
    return records if isinstance(records, dict) else {}


def _fingerprint(settings: Settings) -> str:
    """The settings and this package's source: what a deployed replica was built from."""
    return hashlib.sha256(settings.model_dump_json().encode() + _source_digest().encode()).hexdigest()


@functools.cache
def _source_digest() -> str:
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host if host not in ("0.0.0.0", "") else "127.0.0.1", port)) == 0
