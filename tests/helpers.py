"""What the tests share besides fixtures: paths to the sample data, proteins, pair files, batches, model
directories and lineages, the CLI's error line, grain hosts' pids and bounded waits."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import numpy as np
import pytest
import torch

from repurpose.contracts.datasets import DatasetRegistration
from repurpose.contracts.keys import IssuedKey
from repurpose.contracts.manifest import Manifest
from repurpose.contracts.models import ModelLineage, ModelVersionDetail
from repurpose.contracts.screening import LibraryRegistration, ScreenDetail, ScreenRequest
from repurpose.contracts.training import DrugBANTraining
from repurpose.contracts.training_runs import RunDetail, RunRequest
from repurpose.data.drug_graph import featurize_drug
from repurpose.data.protein_encoding import PROTEIN_CODES, encode_protein
from repurpose.grains import GrainClient
from repurpose.model.pair_batch import PairBatch, collate_pairs, padded_drug_inputs
from repurpose.runtime import tracing
from repurpose.services.in_process import InProcessClient
from repurpose.settings import Settings

if TYPE_CHECKING:
    from repurpose.grains import GrainClient

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "data" / "bindingdb_sample"
SAMPLE_TRAIN = SAMPLE_DIR / "train.csv"
SAMPLE_VAL = SAMPLE_DIR / "val.csv"
SAMPLE_TEST = SAMPLE_DIR / "test.csv"
BUNDLED_DIR = REPO_ROOT / "models" / "drugban-human"
LIBRARY_FILE = REPO_ROOT / "data" / "library" / "compounds.csv"
TARGETS_FILE = REPO_ROOT / "data" / "library" / "targets.csv"

T = TypeVar("T")

NAMESPACE = f"repurpose-test-{uuid.uuid4().hex[:8]}"
"""The Ray namespace of the test session's cluster (``ray_cluster``) and grain hosts."""

# A drug-like molecule from the sample data: rings, stereo, halogens, 24 heavy atoms.
DRUG_LIKE_SMILES = "NC1=N[C@@]2(c3ccc(F)cc3F)CO[C@@H](c3ncco3)C[C@H]2CS1"
PROTEIN_LETTERS = "".join(PROTEIN_CODES)


def service_missing(what: str) -> NoReturn:
    """Skip a test whose service does not answer, except under CI (``CI=true``), where it fails:
    a CI run must not pass with the tests of a required service silently dropped."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (required under CI=true)", pytrace=False)
    pytest.skip(what)


POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
"""The PostgreSQL server of the tests (trust auth); every test database is made and dropped through it."""

STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""The store backends, as ``store_url``'s parameters."""

both_stores = pytest.mark.parametrize("store_url", STORES, indirect=True)
"""Runs a test on SQLite and on PostgreSQL: where the store's dialect matters (queries, JSONB)."""

on_postgres = pytest.mark.parametrize("store_url", STORES[1:], indirect=True)
"""Runs a test on PostgreSQL only: a grain kind's smoke test there whose SQLite twin another test covers."""


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its SQLAlchemy URL), dropped on exit. A server that does not
    answer skips the test, or fails it under CI (``service_missing``)."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at {POSTGRES_ADMIN}: {str(exc).strip()}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


FIXED_PORTS = range(20_000, 32_000)
"""Where ``free_port`` picks: below the kernel's ephemeral range (32768 and up) and above Ray's worker
ports (10002-19999), so no process that asks for a random port (a Ray cluster takes dozens) can take
one between its pick and its use."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, out of the range random ports come from."""
    for _ in range(500):
        port = random.choice(FIXED_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {FIXED_PORTS}")


def error_line(stderr: str) -> str:
    """The single line a refused command writes to stderr."""
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("error: ")
    return lines[0]


def poll(fetch: Callable[[], T], done: Callable[[T], bool], seconds: float, what: str, pause: float = 0.2) -> T:
    """Call ``fetch`` until ``done`` holds for its answer (returned); fail this test (only), naming
    ``what`` and the last answer, after ``seconds``. ``done`` may fail the test itself, e.g. on an
    answer that can no longer change."""
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached in {seconds:g} s; last: {value!r}", pytrace=False)
        time.sleep(pause)


def wait_until(condition: Callable[[], bool], seconds: float, what: str, pause: float = 0.2) -> None:
    """Poll ``condition`` until it holds; fail this test (only) naming ``what`` after ``seconds``."""
    poll(condition, bool, seconds, what, pause)


def host_pid(client: GrainClient, kind: Any, key: str) -> int:
    """The pid of the process of the grain host that holds grain ``(kind, key)``."""
    name = client.host_for(kind, key)
    return next(s.pid for s in client.stats() if s.name == name)


def kill_host(client: GrainClient, kind: Any, key: str) -> int:
    """Kill the host holding grain ``(kind, key)`` (Ray restarts it); returns the killed pid."""
    import ray

    name = client.host_for(kind, key)
    pid = host_pid(client, kind, key)
    ray.kill(ray.get_actor(name, namespace=client.settings.ray_namespace), no_restart=False)
    return pid


def wait_for_new_host(client: GrainClient, kind: Any, key: str, killed_pid: int, seconds: float = 60.0) -> int:
    """Wait until Ray has replaced the host ``killed_pid`` of grain ``(kind, key)`` (a kill is
    asynchronous); the new host's pid."""
    from ray.exceptions import RayError

    def replaced() -> bool:
        with contextlib.suppress(RayError):
            return host_pid(client, kind, key) != killed_pid
        return False

    wait_until(replaced, seconds, f"the grain host (pid {killed_pid}) of {kind} {key!r} replaced")
    return host_pid(client, kind, key)


def model_variant(directory: Path, auroc: float, tag: str = "") -> Path:
    """A copy of the bundled model directory whose manifest says validation AUROC ``auroc``.

    Each (auroc, tag) gives other files, so another content address and another version."""
    out = directory / f"variant-{auroc}-{tag}"
    out.mkdir(parents=True)
    for file in BUNDLED_DIR.iterdir():
        shutil.copyfile(file, out / file.name)
    manifest = Manifest.model_validate_json((BUNDLED_DIR / "manifest.json").read_text())
    manifest.val_metrics.auroc = auroc
    manifest.created_at = f"{manifest.created_at} {tag}"
    (out / "manifest.json").write_text(manifest.model_dump_json(indent=2) + "\n")
    return out


def lineage(run: str = "run-1") -> ModelLineage:
    """The lineage the tests register model directories with."""
    return ModelLineage(source=f"run:{run}", run_id=run, code_version="0.1.0", training=DrugBANTraining(epochs=3))


@dataclasses.dataclass(frozen=True)
class Scorer:
    """A scorer deployed as a Serve application of its own (fixture ``screening_scorer``)."""

    app: str
    settings: Settings  # the scorer's own: its artifact store holds the bundled model


BAD_LIBRARY_ROWS = (("BAD-RING", "C1CC"), ("BAD-XYZ", "XYZ"))
"""Compounds (id, SMILES) no screen can featurise."""


def promote(client: GrainClient, name: str, version: int, stage: str, **kwargs: Any) -> ModelVersionDetail:
    """Move version ``version`` of model ``name`` to ``stage`` (the registry's gates apply)."""
    from repurpose.actors.model_registry import ModelRegistry

    detail: ModelVersionDetail = client.call(ModelRegistry, name, "promote", version, stage, **kwargs)
    return detail


def to_production(client: GrainClient, name: str, version: int, **kwargs: Any) -> ModelVersionDetail:
    """Through staging into production (``kwargs``: the production step's, e.g. reason, force)."""
    promote(client, name, version, "staging")
    return promote(client, name, version, "production", **kwargs)


def library_csv(compounds: int, bad_rows: Sequence[tuple[str, str]] = BAD_LIBRARY_ROWS) -> bytes:
    """The first ``compounds`` of the bundled library, plus ``bad_rows`` (id, SMILES) at the end."""
    header, *rows = LIBRARY_FILE.read_text().splitlines()
    extra = [f"{compound_id},{smiles},test" for compound_id, smiles in bad_rows]
    return ("\n".join([header, *rows[:compounds], *extra]) + "\n").encode()


def library_targets(count: int = 2) -> dict[str, str]:
    """The first ``count`` targets of the bundled list: id -> sequence."""
    _, *rows = TARGETS_FILE.read_text().splitlines()
    return {target_id: sequence for target_id, sequence in (row.split(",", 1) for row in rows[:count])}


def random_protein(length: int, seed: int = 0) -> str:
    """A sequence of ``length`` letters drawn from the 25-letter alphabet."""
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list(PROTEIN_LETTERS), size=length))


def write_pairs(path: Path, rows: Sequence[Sequence[object]], header: str = "SMILES,Protein,Y") -> Path:
    """A CSV pair file with ``header`` and one line per row."""
    lines = [header, *(",".join(str(value) for value in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_training_config(**overrides: object) -> DrugBANTraining:
    """The DrugBAN settings of the tests' training runs (defaults: 1 epoch, seed 42)."""
    values: dict[str, object] = {"model_type": "drugban", "epochs": 1, "batch_size": 64, "seed": 42}
    return DrugBANTraining(**(values | overrides))


@dataclasses.dataclass(frozen=True)
class ModelInputs:
    """The same pairs in both forms: the compact batch and the padded reference tensors."""

    batch: PairBatch
    drug_features: torch.Tensor  # (B, 290, 75)
    drug_adjacency: torch.Tensor  # (B, 290, 290)
    proteins: torch.Tensor  # (B, 1200)


def model_inputs(smiles: Sequence[str], proteins: Sequence[str], dtype: torch.dtype = torch.float64) -> ModelInputs:
    """Featurised pairs for DrugBAN, floating tensors in ``dtype``."""
    drugs = [featurize_drug(s) for s in smiles]
    codes = np.stack([encode_protein(p) for p in proteins])
    batch = collate_pairs(drugs, codes)
    batch = dataclasses.replace(batch, node_features=batch.node_features.to(dtype))
    features, adjacency = padded_drug_inputs(drugs)
    return ModelInputs(batch, features.to(dtype), adjacency.to(dtype), torch.as_tensor(codes))


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Bit-identical state dicts: the same keys and torch.equal on every tensor."""
    assert list(a) == list(b)
    different = [key for key in a if not torch.equal(a[key], b[key])]
    assert not different, f"tensors differ: {different}"


def small_train_file(directory: Path, rows: int = 60) -> Path:
    """The first ``rows`` pairs of the sample training file (both classes), for quick baselines."""
    lines = SAMPLE_TRAIN.read_text().splitlines()[: rows + 1]
    path = directory / f"train-{rows}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def stop_training_workers() -> int:
    """Kill every training worker still alive on the test cluster; how many there were.

    Workers are detached (they outlive grain hosts by design), so a run a test leaves running
    would go on training after its grain pool is gone and hold CPUs the next tests need.
    """
    import ray

    named = ray.util.list_named_actors(all_namespaces=True)
    workers = [a for a in named if a["name"].startswith("training-")]
    for actor in workers:
        with contextlib.suppress(Exception):
            ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)
    return len(workers)


@contextlib.contextmanager
def free_cpus_taken() -> Iterator[float]:
    """Hold every CPU of the test cluster that is free (as a run's training workers would); yields
    how many. Ray's count of free CPUs lags a moment behind tasks ending, so hold until it reads 0
    twice in a row. Released on exit."""
    import ray

    @ray.remote
    class CpuHolder:
        def ready(self) -> bool:
            return True

    holders: list[Any] = []
    taken, zero_reads = 0.0, 0
    try:
        for _ in range(100):
            free = float(ray.available_resources().get("CPU", 0.0))
            if free < 0.01:
                zero_reads += 1
                if zero_reads == 2:
                    break
            else:
                zero_reads = 0
                holder = CpuHolder.options(num_cpus=free).remote()  # type: ignore[attr-defined]
                ray.get(holder.ready.remote(), timeout=60)
                holders.append(holder)
                taken += free
            time.sleep(0.5)
        yield taken
    finally:
        for holder in holders:
            ray.kill(holder, no_restart=True)


def sample_heldout_csv(targets: int = 2) -> bytes:
    """A small held-out retrieval set from the BindingDB sample: the training binders of the
    ``targets`` proteins with the most of them, as (target, active) pairs; each target's last active
    is marked novel. A knn model built on the sample finds them (they are its binders)."""
    import pandas as pd

    train = pd.read_csv(SAMPLE_TRAIN)
    positives = train[train["Y"] == 1]
    proteins = positives["Protein"].value_counts().index[:targets]
    lines = ["target_id,compound_id,smiles,novel,protein"]
    for t, protein in enumerate(proteins):
        smiles = list(dict.fromkeys(positives.loc[positives["Protein"] == protein, "SMILES"]))
        for i, s in enumerate(smiles):
            lines.append(f"T{t + 1},ACT-{t + 1}-{i},{s},{i == len(smiles) - 1},{protein}")
    return ("\n".join(lines) + "\n").encode()


def sample_decoys_csv(prefix: str = "SAMPLE") -> bytes:
    """A decoy library (compound_id,smiles) of every distinct compound of the BindingDB sample."""
    import pandas as pd

    smiles = pd.concat([pd.read_csv(f)["SMILES"] for f in (SAMPLE_TRAIN, SAMPLE_VAL, SAMPLE_TEST)]).unique()
    return ("\n".join(["compound_id,smiles", *(f"{prefix}-{i}," + s for i, s in enumerate(smiles))]) + "\n").encode()


def make_key(grains: GrainClient, role: str, name: str | None = None) -> IssuedKey:
    """An API key made through the service layer, as ``repurpose keys create`` makes one."""
    with InProcessClient.on(grains) as services:
        return services.create_key(role, name)


def revoke(grains: GrainClient, key_id: str) -> None:
    """Revoke an API key through the service layer, as ``repurpose keys revoke`` does."""
    with InProcessClient.on(grains) as services:
        services.revoke_key(key_id)


def register_dataset(
    grains: GrainClient, data: bytes, *, filename: str, name: str | None = None
) -> DatasetRegistration:
    """A dataset version registered through the service layer, as ``repurpose datasets register`` does."""
    with InProcessClient.on(grains) as services:
        return services.register_dataset(data, filename, name)


def start_run(grains: GrainClient, request: RunRequest) -> RunDetail:
    """A training run started (or found) through the service layer, as ``repurpose train --dataset`` does."""
    with InProcessClient.on(grains) as services:
        return services.start_run(request)


def register_library(
    grains: GrainClient, data: bytes, *, filename: str, name: str | None = None
) -> LibraryRegistration:
    """A compound library registered through the service layer, as ``repurpose libraries register`` does."""
    with InProcessClient.on(grains) as services:
        return services.register_library(data, filename, name)


def submit_screen(grains: GrainClient, request: ScreenRequest, *, idempotency_key: str | None = None) -> ScreenDetail:
    """A screening job submitted through the service layer, as ``repurpose screen`` does."""
    with InProcessClient.on(grains) as services:
        return services.submit_screen(request, idempotency_key)


class RecordedSpans:
    """A tracer whose spans are kept in memory (OpenTelemetry's in-memory exporter); ``pinned()``
    makes it the tracer of everything this process makes meanwhile, whatever its settings say."""

    def __init__(self) -> None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = provider.get_tracer("tests")

    def spans(self) -> list[Any]:
        """The finished spans (``ReadableSpan``), in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def named(self) -> dict[str, Any]:
        """The finished spans by name (the last of a name)."""
        return {span.name: span for span in self.exporter.get_finished_spans()}

    @contextlib.contextmanager
    def pinned(self) -> Iterator[Any]:
        tracing.pin_tracer(self.tracer)
        try:
            yield self.tracer
        finally:
            tracing.pin_tracer(None)
