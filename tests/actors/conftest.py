"""Fixtures for the domain grains on a real local Ray cluster.

Each test gets its own grain pool (one host), home directory (artifacts) and database: a SQLite
file (``store_url``). The store's dialect is the store's and the grain runtime's business (tests/store,
tests/grains run on both); here a test that reaches it in its own way (its kind's queries, JSONB)
runs on PostgreSQL too, marked ``both_stores`` (tests/helpers.py): at least one per grain kind.
PostgreSQL cases are skipped with the reason when no server answers on 127.0.0.1:5432 (failed
under CI).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from repurpose.artifacts import ArtifactStore
from repurpose.grains import GrainClient
from repurpose.settings import Settings
from repurpose.store import make_engine
from tests.helpers import NAMESPACE, stop_training_workers


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=store_url,
        ray_namespace=NAMESPACE,
        grain_pool=f"pool-{uuid.uuid4().hex[:8]}",
        grain_hosts=1,
        grain_restart_timeout_seconds=60,
    )


@pytest.fixture
def client(ray_cluster: None, settings: Settings) -> Iterator[GrainClient]:
    """A grain client on its own pool of one host, killed after the test."""
    client = GrainClient(settings)
    yield client
    client.stop()
    stop_training_workers()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def artifacts(settings: Settings) -> ArtifactStore:
    return ArtifactStore.from_settings(settings)
