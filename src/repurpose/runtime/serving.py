"""The one Ray Serve instance of a cluster, with its HTTP proxy on the gateway's address.

A Ray cluster has a single Serve instance, and the first ``serve.start`` fixes its HTTP proxy
for good. Every Serve application of ours (the scorer, the gateway) therefore starts Serve
through ``ensure_serve``, so whichever comes first starts it with the proxy the gateway needs:
one HTTP server on the head node (``HeadOnly``) at ``settings.gateway_host:gateway_port``.
Applications then only choose a route prefix (the gateway takes ``/``; the scorer none).
"""

from __future__ import annotations

import logging
import socket

from ray import serve

from repurpose.errors import ClusterError
from repurpose.settings import Settings

logger = logging.getLogger(__name__)


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


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host if host not in ("0.0.0.0", "") else "127.0.0.1", port)) == 0
