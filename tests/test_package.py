"""What importing the package does to the process: OpenMP threads wait passively unless told otherwise;
the grain host and the actor modules load without the ML stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = "import repurpose, os, torch; print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads() > 0)"


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_import_sets_a_passive_openmp_wait_policy_by_default(given: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given

    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)

    assert out.stdout.split() == [expected, "True"]


ML_STACK = ("torch", "sklearn", "xgboost", "mlflow", "scipy", "pandas", "rdkit")


def test_the_grain_host_and_the_actor_modules_import_without_the_ml_stack() -> None:
    # Every test's grain host imports the module of each grain kind it meets: the grains' own turns
    # need none of the ML stack, which their Ray tasks and the training worker import where they
    # run. The screening job is the exception: its runner (screening.attempt) featurises with RDKit.
    # A fresh interpreter: this one has imported everything already.
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import repurpose.actors as actors, repurpose.grains.host\n"
        "names = [f'repurpose.actors.{found.name}' for found in pkgutil.iter_modules(actors.__path__)]\n"
        "loaded = {}\n"
        "for name in sorted(names, key=lambda name: (name.endswith('.screening_job'), name)):  # RDKit's last\n"
        "    importlib.import_module(name)\n"
        f"    loaded[name] = [m for m in {ML_STACK!r} if m in sys.modules]\n"
        "print(json.dumps(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(done.stdout)
    assert "repurpose.actors.model_registry" in loaded  # the modules were found
    before_screening = {name: heavy for name, heavy in loaded.items() if name != "repurpose.actors.screening_job"}
    assert all(heavy == [] for heavy in before_screening.values()), before_screening
    assert loaded["repurpose.actors.screening_job"] == ["rdkit"]


def test_a_local_command_and_up_import_no_ml_stack_until_a_call_needs_it() -> None:
    # Each CLI call on a cluster (`--home`) is a process of its own: what its modules import at the
    # top, every command pays (5.4 s a command when the services loaded scikit-learn, pandas and
    # RDKit for everyone; `up` loaded PyTorch to deploy a scorer it never runs itself).
    code = (
        "import json, sys\n"
        "import repurpose.cli, repurpose.cli.connect, repurpose.services.in_process, repurpose.cluster.lifecycle\n"
        f"command = [m for m in {ML_STACK!r} if m in sys.modules]\n"
        "import repurpose.cluster.up\n"
        f"up = [m for m in {ML_STACK!r} if m in sys.modules]\n"
        "print(json.dumps([command, up]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    command, up = json.loads(done.stdout)
    assert set(command) <= {"rdkit"}, command  # RDKit alone is cheap (50 ms): the services check SMILES
    # `up` registers the bundled datasets (their tables: pandas, and RDKit for the rows) in-process
    assert set(up) <= {"pandas", "rdkit"}, up


def test_importing_the_cli_builds_no_contract_validator() -> None:
    # Every CLI call imports every contract; each builds its validator on first use, not at import
    # (building them all took about 70 ms of `repurpose --help`).
    code = (
        "import json\n"
        "import repurpose.cli\n"
        "from repurpose.contracts.base import Contract\n"
        "from repurpose.contracts.operations import Readiness\n"
        "def subclasses(cls):\n"
        "    for sub in cls.__subclasses__():\n"
        "        yield sub\n"
        "        yield from subclasses(sub)\n"
        "contracts = list(subclasses(Contract))\n"
        "built = [c.__name__ for c in contracts if c.__pydantic_complete__]\n"
        "ready = Readiness.model_validate({'ready': True, 'checks': [{'name': 'store', 'ok': True, 'detail': 'up'}]})\n"
        "print(json.dumps([len(contracts), built, ready.checks[0].ok, Readiness.__pydantic_complete__]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    count, built, validated, complete = json.loads(done.stdout)
    assert count > 50  # the contracts were found
    assert built == []
    assert validated is True and complete is True  # built on first use


def test_a_contract_first_used_by_many_threads_at_once_validates_in_every_one() -> None:
    # A deferred validator is built on first use; replicas' lanes and FastAPI's threads may all
    # get there at once (pydantic builds under a lock: a race would use a parent's validator).
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "import threading\n"
        "from repurpose.contracts.alerts import AlertRule\n"
        "start = threading.Barrier(16)\n"
        "def make(i):\n"
        "    start.wait()\n"
        "    return AlertRule(name=f'r{i}', metric='drift_share', threshold=0.5, source='api').source\n"
        "with ThreadPoolExecutor(16) as pool:\n"
        "    print(sorted(set(pool.map(make, range(16)))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "['api']"
