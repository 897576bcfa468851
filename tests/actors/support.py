"""What the actors' tests share besides fixtures."""

from __future__ import annotations

import ray

from repurpose.grains import GrainClient


def kill_host(client: GrainClient, kind: str, key: str) -> int:
    """Kill the host holding grain ``(kind, key)`` (Ray restarts it); returns the killed pid."""
    name = client.host_for(kind, key)
    pid = next(s.pid for s in client.stats() if s.name == name)
    ray.kill(ray.get_actor(name, namespace=client.settings.ray_namespace), no_restart=False)
    return pid


def host_pid(client: GrainClient, kind: str, key: str) -> int:
    name = client.host_for(kind, key)
    return next(s.pid for s in client.stats() if s.name == name)
