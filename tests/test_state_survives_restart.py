"""A user's whole session across `down` and `up`: everything registered is still there.

Real `repurpose up` heads in subprocesses, on a SQLite file and on the PostgreSQL server here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from repurpose.bundled_models import BUNDLED_MODEL, find_bundled_models
from repurpose.bundled_paths import bundled_models_dir
from repurpose.settings import Settings
from tests.conftest import POSTGRES_ADMIN
from tests.helpers import SAMPLE_TRAIN, service_missing
from tests.test_cluster_lifecycle import cluster_env, free_port, repurpose

pytestmark = pytest.mark.slow

TARGET_SEQUENCE = "MKVLAAGIVALLLAAGCSSSKQETAAAKFERQHMDSSTSAASSSNYCNQMMKSRNLTKDRCKPVNTFVHESLADVQAVCSQK"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'repurpose.db'}"
        return
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at {POSTGRES_ADMIN}: {str(exc).strip()}")
    name = f"repurpose_restart_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ok(*args: str, env: dict[str, str]) -> str:
    done = repurpose(*args, env=env)
    assert done.returncode == 0, f"repurpose {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def test_datasets_targets_runs_and_promotions_survive_down_and_up(tmp_path: Path, database_url: str) -> None:
    home = str(tmp_path / "home")
    env = cluster_env(free_port()) | {"REPURPOSE_DATABASE_URL": database_url, "REPURPOSE_HOME": home}
    try:
        first = ok("up", "--json", env=env)
        started = json.loads(first.strip().splitlines()[-1])
        assert started["started_head"] is True
        assert started["admin_key_file"] == str(Path(home) / "admin_key")  # where the first key went
        assert Path(started["admin_key_file"]).read_text().startswith("rp_")
        bundled = json.loads(ok("models", "show", BUNDLED_MODEL, "--version", "1", "--json", env=env))
        assert bundled["stage"] in ("production", "staging")  # production if it retrieves best
        production = json.loads(ok("status", "--json", env=env))["production"]
        assert len(production) == 1  # the bundled model that retrieves best

        dataset = json.loads(ok("datasets", "register", str(SAMPLE_TRAIN), "--name", "sample", "--json", env=env))
        ok("targets", "add", "P00533", "--sequence", TARGET_SEQUENCE, "--name", "test target", env=env)
        run = json.loads(ok("train", "--dataset", "sample", "--model-type", "rf", "--json", env=env))
        assert run["status"] == "succeeded" and run["model"]["version"] == 1
        name = run["model"]["name"]
        ok("models", "promote", name, "1", "--stage", "staging", "--reason", "looks fine", env=env)

        ok("down", env=env)
        ok("up", env=env)

        shown = json.loads(ok("datasets", "show", dataset["dataset_id"][:12], "--json", env=env))
        assert shown["counts"] == dataset["counts"] and shown["name"] == "sample"
        target = json.loads(ok("targets", "show", "P00533", "--json", env=env))
        assert target["sequence"] == TARGET_SEQUENCE and target["name"] == "test target"
        again = json.loads(ok("runs", "show", run["run_id"][:12], "--json", env=env))
        assert again["status"] == "succeeded" and again["model"] == run["model"]
        model = json.loads(ok("models", "show", name, "--json", env=env))
        assert (model["version"], model["stage"]) == (1, "staging")
        bundled_again = json.loads(ok("models", "show", BUNDLED_MODEL, "--version", "1", "--json", env=env))
        assert bundled_again["stage"] == bundled["stage"]
        assert json.loads(ok("status", "--json", env=env))["production"] == production
        listed = json.loads(ok("models", "list", "--json", env=env))
        assert [m["versions"] for m in listed] == [1] * len(listed)  # the bundled ones registered once
        shipped, _ = find_bundled_models(bundled_models_dir(Settings()))
        assert sorted(m["name"] for m in listed) == sorted([*(m.name for m in shipped), name])
    finally:
        repurpose("down", env=env)
