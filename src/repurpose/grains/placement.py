"""Which host holds a grain: rendezvous (highest-random-weight) hashing over the pool.

Every caller computes the same answer from the pool's names alone, so no directory lookup is
needed; when the pool changes size only the grains of the added or removed host move.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b


def host_names(pool: str, size: int) -> list[str]:
    """The names of the hosts of a pool: ``<pool>-0`` … ``<pool>-<size-1>``."""
    return [f"{pool}-{i}" for i in range(size)]


def pick_host(kind: str, key: str, hosts: Sequence[str]) -> str:
    """The host with the highest weight for ``(kind, key)``."""
    if not hosts:
        raise ValueError("the grain host pool is empty")
    return max(sorted(hosts), key=lambda host: _weight(host, kind, key))


def _weight(host: str, kind: str, key: str) -> int:
    # A stable hash (not ``hash()``, which is salted per process).
    digest = blake2b(f"{host}\x00{kind}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
