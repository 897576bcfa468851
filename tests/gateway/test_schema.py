"""Schemathesis against the live OpenAPI schema: every operation, with an admin key, generated
requests (valid and invalid, every phase) through Serve's proxy to the running gateway. Fails on
any 500, on a status code, content type, header or body the schema does not declare, on invalid
input that is accepted, and on the other default checks.

It runs schemathesis's own command (``schemathesis run``), as CI would against a deployed
gateway: its pytest integration does not work with the pinned pytest 9 (it sets the removed
``Function._nodeid``).

Left out, and why:

- ``positive_data_acceptance`` (schema-valid input must be accepted): JSON Schema cannot say that
  a string is a valid SMILES, that an id is registered or that a target's sequence matches the
  stored one, so schema-valid requests rightly get 422, 404 and 409 here;
- ``negative_data_rejection`` on the four multipart uploads (POST /v1/datasets, /v1/libraries,
  /v1/feedback/upload, /v1/models/{name}/versions/{version}/retrieval) only: every form part is bytes on the wire, so
  its "wrong type" mutations (an object for the file, an array for the name) arrive as a valid
  file and a valid name.

No operation is excluded.

It runs against a gateway application of its own (``/fuzz``) on a fresh store holding only the
bundled model, so that what other tests stored (datasets one could train on for hours) does not
become the fuzzer's material; the runs and screens it starts are cancelled afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from repurpose.actors.screening_job import ScreeningJob, list_screens
from repurpose.actors.training_run import TrainingRun, list_runs
from repurpose.cluster.bundled_models import BUNDLED_MODEL, register_bundled_models
from repurpose.grains import GrainClient
from repurpose.store import make_engine, upgrade
from tests.gateway.conftest import Gateway, deploy_variant
from tests.helpers import make_key

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 12  # per operation; every operation is still fuzzed in every phase
SEED = 20261123
TIMEOUT_SECONDS = 600  # within the run's last-resort timeout (pyproject.toml): a hang fails only this test
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = """
[checks]
positive_data_acceptance.enabled = false

[[operations]]
include-path = [
    "/v1/datasets",
    "/v1/libraries",
    "/v1/feedback/upload",
    "/v1/models/{name}/versions/{version}/retrieval",
]
include-method = "POST"
checks.negative_data_rejection.enabled = false
"""


@pytest.fixture
def fuzz_gateway(gateway: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The gateway on a store of its own (the package's scorer serves its content-addressed model)."""
    settings = gateway.settings.with_overrides(
        home=tmp_path_factory.mktemp("fuzz"), grain_pool=f"{gateway.settings.grain_pool}-fuzz"
    )
    upgrade(settings.database_url)
    grains = GrainClient(settings)
    try:
        assert register_bundled_models(grains, names=[BUNDLED_MODEL])
        key = make_key(grains, "admin", name="schemathesis").key
        for url in deploy_variant(settings, "/fuzz"):
            yield Gateway(url=url, settings=settings, grains=grains, keys={"admin": key})
        stop_what_runs(grains)
    finally:
        grains.stop()


def stop_what_runs(grains: GrainClient) -> None:
    """Cancel the training runs and screens the fuzzer started (they would run on for long)."""
    engine = make_engine(grains.settings.database_url)
    try:
        runs = [r.run_id for r in list_runs(engine) if r.status == "running"]
        screens = [s.job_id for s in list_screens(engine) if s.status == "running"]
    finally:
        engine.dispose()
    for run_id in runs:
        grains.call(TrainingRun, run_id, "cancel")
    for job_id in screens:
        grains.call(ScreeningJob, job_id, "cancel")


def test_the_live_api_conforms_to_its_schema(fuzz_gateway: Gateway, tmp_path: Path) -> None:
    gateway = fuzz_gateway
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{gateway.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {gateway.keys['admin']}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "120",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    done = subprocess.run(  # in tmp_path: schemathesis keeps a cache folder in its working directory
        command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False, cwd=tmp_path
    )
    output = done.stdout + done.stderr
    print(output[-6_000:])  # the summary, shown with -rP or -s
    (tmp_path / "schemathesis.out").write_text(output)
    assert done.returncode == 0, output[:40_000]
    assert "No issues found" in output or "passed" in output, output[-5_000:]
