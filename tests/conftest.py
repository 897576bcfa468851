from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from repurpose.pipeline import train_model
from tests.helpers import SAMPLE_TRAIN, SAMPLE_VAL, tiny_training_config

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DrugBAN model directory trained for one epoch on the BindingDB sample (seed 42).

    Shared by every test that only reads it; copy it before changing anything inside.
    """
    out = tmp_path_factory.mktemp("tiny") / "drugban-1epoch"
    train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, tiny_training_config())
    return out


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at its end."""
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN}: {str(exc).strip()}")
    name = f"repurpose_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
