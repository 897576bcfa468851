"""Grain fixtures. Tests marked ``slow`` run on one real local Ray cluster per session
(``ray_cluster``, in ``tests/conftest.py``: shared with the actors' tests). Every test with a store
runs on a SQLite file and on PostgreSQL (``store_url`` parametrised here), skipped with the reason
where none answers (failed under CI): the runtime's writes, versions and idempotency records are
the store's business on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from repurpose.grains import GrainClient
from repurpose.settings import Settings
from repurpose.store import upgrade
from tests.helpers import NAMESPACE, STORES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_url" in metafunc.fixturenames:
        metafunc.parametrize("store_url", STORES, indirect=True)


@pytest.fixture
def make_settings(tmp_path: Path, store_url: str) -> Callable[..., Settings]:
    """Settings on a fresh, migrated store (SQLite and PostgreSQL); each call gets its own grain pool."""

    def make(**overrides: Any) -> Settings:
        fields: dict[str, Any] = {
            "home": tmp_path,
            "database_url": store_url,
            "ray_namespace": NAMESPACE,
            "grain_pool": f"pool-{uuid.uuid4().hex[:8]}",
            "grain_hosts": 1,
            "grain_restart_timeout_seconds": 60,
        }
        settings = Settings(**{**fields, **overrides})
        upgrade(settings.database_url)
        return settings

    return make


@pytest.fixture
def make_client(ray_cluster: None, make_settings: Callable[..., Settings]) -> Iterator[Callable[..., GrainClient]]:
    """Grain clients on their own pool of hosts, killed after the test."""
    clients: list[GrainClient] = []

    def make(**overrides: Any) -> GrainClient:
        client = GrainClient(make_settings(**overrides))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop()
