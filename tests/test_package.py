"""What importing the package does to the process: OpenMP threads wait passively unless told otherwise."""

from __future__ import annotations

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
