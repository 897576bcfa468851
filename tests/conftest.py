from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from filelock import FileLock
from sqlalchemy import Engine

from repurpose.bundled_paths import bundled_models_dir
from repurpose.cluster.bundled_models import BUNDLED_MODEL
from repurpose.contracts.training import KnnTraining
from repurpose.grains import GrainClient
from repurpose.model.published import publish_model_dir
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.serving import ensure_serve
from repurpose.scoring.service import deploy_scorer, stop_scorer
from repurpose.screening.runner import start_runner
from repurpose.services.in_process import InProcessClient
from repurpose.settings import REDIS_PORT, Settings
from repurpose.store import make_engine, upgrade
from repurpose.training.pipeline import train_model
from tests.helpers import (
    NAMESPACE,
    SAMPLE_TRAIN,
    SAMPLE_VAL,
    Scorer,
    free_port,
    postgres_database,
    stop_training_workers,
    tiny_training_config,
)

_SERVE_HTTP: dict[str, int] = {}

# Serve's controller reconciles every 0.1 s by default: with a test run's clusters (each worker's,
# and the scenario's) the controllers took a tenth of the run's CPU on two cores. Every 0.5 s halves
# an idle controller's CPU (3.3 % to 1.6 % of a core, measured) for about a second more per deploy.
# Set before any cluster starts: Ray's processes, and `repurpose up`'s subprocesses, inherit it.
os.environ.setdefault("RAY_SERVE_CONTROL_LOOP_INTERVAL_S", "0.5")


SHARED_GROUPS = ("gateway",)
"""Test packages whose package-scoped fixtures are costly (the gateway: a scorer and a gateway
deployed): under xdist each is one unit of work, on one worker, so they are made once."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Scenario tests (marker ``scenario``: real ``repurpose up`` clusters in subprocesses) run first,
    before the session's own Ray cluster (``ray_cluster``) starts and takes CPUs and memory; then the
    shared groups (the biggest units of work, handed out early), then the rest in their order.

    A test that does not use the session's Ray cluster times out by the signal method: it fails,
    and the run goes on (the thread method of pyproject.toml, for tests a Ray call can block, ends it).
    """
    items.sort(
        key=lambda item: (item.get_closest_marker("scenario") is None, work_unit(item.nodeid) not in SHARED_GROUPS)
    )
    for item in items:
        if "ray_cluster" not in getattr(item, "fixturenames", ()) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(method="signal"))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With pytest-xdist (``make test``: two workers, ``--dist loadfile --no-loadscope-reorder``) each
    worker runs whole units of work, handed out in collection order: a test file, or a package of
    ``SHARED_GROUPS`` whole, so a module's or a shared package's fixtures are made on one worker.
    (xdist's own ``loadgroup`` cannot do it under pytest 9: it renames items through the removed
    ``Item._nodeid``.) Other ``--dist`` modes are xdist's."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnits(config, log)


def work_unit(nodeid: str) -> str:
    """The shared group a test's package is, else its file."""
    path = nodeid.split("::", 1)[0]
    package = path.removeprefix("tests/").split("/", 1)[0]
    return package if package in SHARED_GROUPS else path


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One real local Ray cluster for the whole session (tests marked ``slow`` use it).

    Ray's GCS and Redis: a ``ray start --head`` defaults its GCS to port 6379, where Redis runs
    on our machines, but a local ``ray.init()`` starts its head with ``gcs_server_port=0`` (a
    free port chosen by the OS) unless ``RAY_GCS_SERVER_PORT`` says otherwise. We start it with
    ``address="local"`` (never join a cluster already running here, e.g. from ``repurpose up``)
    and assert the port it got.
    """
    # 4 logical CPUs on 2 cores, as `repurpose up` declares: a scorer replica and a training worker
    # (1 CPU each) must leave room for the 1-CPU tasks that register datasets and libraries.
    ray.init(address="local", num_cpus=4, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    try:
        gcs_port = int(ray.get_runtime_context().gcs_address.rsplit(":", 1)[1])
        assert gcs_port != REDIS_PORT, "Ray's GCS took Redis's port"
        # Serve's HTTP proxy is fixed by the first start: start it now, on a free port, so every
        # Serve application of the session (scorers, gateways) is reachable over HTTP there.
        _SERVE_HTTP["port"] = free_port()
        ensure_serve(Settings(gateway_host="127.0.0.1", gateway_port=_SERVE_HTTP["port"]))
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def serve_http_port(ray_cluster: None) -> int:
    """The port of the session's Serve HTTP proxy (the gateways' address is 127.0.0.1 there)."""
    return _SERVE_HTTP["port"]


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]) -> Path:
    """``make(path)`` once for the whole run: under xdist the workers' sessions share one folder, the
    first worker to ask makes it (under a file lock) and the others wait for it and read it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # every worker's base folder lies in the run's
    out, made = root / "shared" / name, root / "shared" / f"{name}.made"
    out.parent.mkdir(exist_ok=True)
    with FileLock(str(root / "shared" / f"{name}.lock")):
        if not made.exists():
            shutil.rmtree(out, ignore_errors=True)  # a half-made one (its maker failed)
            make(out)
            made.touch()
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DrugBAN model directory trained for one epoch on the BindingDB sample (seed 42).

    Shared by every test that only reads it; copy it before changing anything inside.
    """
    return made_once(
        tmp_path_factory,
        "drugban-1epoch",
        lambda out: train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, tiny_training_config()),
    )


@pytest.fixture(scope="session")
def knn_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A knn model directory built from the BindingDB sample (read-only: copy it to change it)."""
    return made_once(
        tmp_path_factory, "knn-sample", lambda out: train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, KnnTraining())
    )


@pytest.fixture(scope="module")
def screening_scorer(ray_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scorer]:
    """The scorer as a Serve application of its own for a module that screens, deleted after it (its
    replica holds a CPU: not kept for the whole session)."""
    settings = Settings(
        home=tmp_path_factory.mktemp("scorer"),
        ray_namespace=NAMESPACE,
        scorer_app=f"scorer-test-{uuid.uuid4().hex[:8]}",
        scorer_num_cpus=1,
        monitoring=False,  # it serves every test's own grain pool: no monitor of its default pool to feed
    )
    # The registry's versions name content-addressed directories: the same path in every store.
    publish_model_dir(ArtifactStore.from_settings(settings), bundled_models_dir(settings) / BUNDLED_MODEL)
    deploy_scorer(settings)
    start_runner(settings)  # warm, as `up` leaves it
    try:
        yield Scorer(settings.scorer_app, settings)
    finally:
        stop_scorer(settings)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at its end."""
    with postgres_database("repurpose_test") as url:
        yield url


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or the session's PostgreSQL database where a test or
    a package parametrises ``store_url`` (indirectly, on ``STORES``: ``both_stores`` in tests/helpers.py)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    upgrade(url)
    yield url
    engine = make_engine(url)  # leave the session's database empty for the next test
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()


# --- a domain-grain test's own world: grain pool (one host), home (artifacts) and store ---
# A SQLite file by default (``store_url``): the store's dialect is the store's and the grain
# runtime's business (tests/store, tests/grains run on both). A test that reaches the store in its
# own way (its kind's queries, JSONB) runs on PostgreSQL too, marked ``both_stores``
# (tests/helpers.py): at least one per grain kind.


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
def in_process(client: GrainClient) -> Iterator[InProcessClient]:
    """The in-process client (the service layer) on the test's grain pool."""
    with InProcessClient.on(client) as services:
        yield services


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def artifacts(settings: Settings) -> ArtifactStore:
    return ArtifactStore.from_settings(settings)
