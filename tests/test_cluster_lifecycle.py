"""`repurpose up`, `status` and `down` as a user runs them: real `ray start` heads in subprocesses."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from repurpose import head_processes
from repurpose.bundled_models import default_model_by_merit
from repurpose.cluster import read_cluster_info
from repurpose.settings import REDIS_PORT, Settings

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).parent / "repurpose"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def repurpose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=900, check=False)


def cluster_env(gcs_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "REPURPOSE_RAY_GCS_PORT": str(gcs_port),
        "REPURPOSE_RAY_DASHBOARD_PORT": str(free_port()),
        "REPURPOSE_GATEWAY_PORT": str(free_port()),  # each cluster's Serve HTTP proxy (the gateway)
        "REPURPOSE_GRAIN_HOSTS": "1",
        "REPURPOSE_RAY_NAMESPACE": f"lifecycle-{gcs_port}",
    }


def test_up_status_down_stops_only_its_own_head(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first_env, second_env = cluster_env(free_port()), cluster_env(free_port())
    second_env["REPURPOSE_BUNDLED_DATA_DIR"] = str(tmp_path / "no-data")  # the union once (in the first) is enough
    production = f"{default_model_by_merit(Settings(home=first)).default_model}@1"  # the bundled one by merit
    # the first cluster's Ray ports come from `up`'s flags, not from the environment
    gcs_port, dashboard_port = int(first_env.pop("REPURPOSE_RAY_GCS_PORT")), free_port()
    del first_env["REPURPOSE_RAY_DASHBOARD_PORT"]
    ports = ("--ray-port", str(gcs_port), "--dashboard-port", str(dashboard_port))
    try:
        started = repurpose("up", "--home", str(first), *ports, "--json", env=first_env)
        assert started.returncode == 0, started.stderr
        info = json.loads(started.stdout.strip().splitlines()[-1])
        assert info["started_head"] is True
        assert info["ray_address"] == f"127.0.0.1:{gcs_port}"
        assert info["dashboard_url"] == f"http://127.0.0.1:{dashboard_port}"
        assert not info["ray_address"].endswith(f":{REDIS_PORT}")
        # the home and its stores are no one else's (key hashes, every record, the Ray token)
        assert stat.S_IMODE(first.stat().st_mode) == 0o700
        for name in ("repurpose.db", "mlflow.db", "cluster.json", "admin_key", "ray_auth_token"):
            assert stat.S_IMODE((first / name).stat().st_mode) == 0o600, name
        assert repurpose("up", "--home", str(second), env=second_env).returncode == 0

        again = repurpose("up", "--home", str(first), *ports, env=first_env)  # a second `up`: where the key is
        assert again.returncode == 0, again.stderr
        assert f"admin key     in {first.resolve() / 'admin_key'}" in again.stdout

        shown = repurpose("status", "--home", str(first), env=first_env)
        assert shown.returncode == 0, shown.stderr
        assert f"gateway     {info['gateway_url']}" in shown.stdout
        assert f"production  {production}" in shown.stdout
        assert "CPU(s) for Ray on" in shown.stdout

        status = repurpose("status", "--home", str(first), "--json", env=first_env)
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["ray_reachable"] is True
        assert [host["name"] for host in report["hosts"]] == ["grain-host-0"]
        assert report["production"] == [production] and report["cores"] == os.cpu_count()
        if report["cpus"] > report["cores"]:  # a small machine: status says why Ray has more CPUs
            assert "at least 4" in report["cpus_note"]

        first_info, second_info = read_cluster_info(first), read_cluster_info(second)
        assert first_info is not None and second_info is not None
        assert first_info.ray_session and second_info.ray_session
        assert first_info.ray_session != second_info.ray_session

        stopped = repurpose("down", "--home", str(first), env=first_env)
        assert stopped.returncode == 0, stopped.stderr
        assert head_processes.session_pids(first_info.ray_session) == []
        assert not (first / "cluster.json").exists()
        assert (first / "repurpose.db").exists(), "down must keep the stored state"
        # the other cluster on this machine is untouched
        other = repurpose("status", "--home", str(second), "--json", env=second_env)
        assert other.returncode == 0 and json.loads(other.stdout)["ray_reachable"] is True
    finally:
        repurpose("down", "--home", str(first), env=first_env)
        repurpose("down", "--home", str(second), env=second_env)


def test_commands_without_a_cluster_exit_2_with_one_line(tmp_path: Path) -> None:
    result = repurpose("status", "--home", str(tmp_path), env=dict(os.environ))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: no cluster is running under {tmp_path.resolve()}",
    ]
    assert "no cluster was running" in repurpose("down", "--home", str(tmp_path), env=dict(os.environ)).stdout
