"""`repurpose up`, `status` and `down` as a user runs them: real `ray start` heads in subprocesses.

One scenario (marker ``scenario``: it runs first, before the session's own Ray cluster) with two
clusters side by side on this machine: the first on SQLite, the second on the PostgreSQL server here.
Everything registered on either survives its own `down` and `up` (a monitor's windows too), and
one's `down` leaves the other running. Every command is a subprocess (seconds of imports each; a start, a minute): the
scenario runs each check once, in one sequence, and the second cluster's starts and stops go on
beside the first's commands.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from repurpose.bundled_paths import bundled_models_dir
from repurpose.cluster import head_processes
from repurpose.cluster.bundled_models import BUNDLED_MODEL, default_model_by_merit, find_bundled_models
from repurpose.cluster.lifecycle import read_cluster_info
from repurpose.settings import REDIS_PORT, Settings
from tests.helpers import SAMPLE_TRAIN, SAMPLE_VAL, free_port, poll, postgres_database

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).parent / "repurpose"
UP_SECONDS = 600  # a first `up` registers the bundled data and models and deploys the scorer and gateway
COMMAND_SECONDS = 300
PREDICTED = ("CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "c1ccc2[nH]ccc2c1")
TARGET_SEQUENCE = "MKVLAAGIVALLLAAGCSSSKQETAAAKFERQHMDSSTSAASSSNYCNQMMKSRNLTKDRCKPVNTFVHESLADVQAVCSQK"


def repurpose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The console script, as a user runs it; a command that hangs fails the test that ran it."""
    seconds = UP_SECONDS if args[0] == "up" else COMMAND_SECONDS
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=seconds, check=False)


def cluster_env(**settings: str) -> dict[str, str]:
    """The environment of one cluster's commands: its own gateway port, namespace and one grain host."""
    gateway_port = free_port()
    return {
        **os.environ,
        "REPURPOSE_GATEWAY_PORT": str(gateway_port),  # each cluster's Serve HTTP proxy (the gateway)
        "REPURPOSE_GRAIN_HOSTS": "1",
        "REPURPOSE_RAY_NAMESPACE": f"lifecycle-{gateway_port}",
        **{f"REPURPOSE_{name.upper()}": value for name, value in settings.items()},
    }


@dataclass(frozen=True)
class Cluster:
    """One cluster's home and environment: its commands as a user types them (``--home``)."""

    home: Path
    env: dict[str, str]

    def ok(self, *args: str) -> str:
        done = repurpose(*args, "--home", str(self.home), env=self.env)
        assert done.returncode == 0, f"repurpose {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def restart(self) -> None:
        self.ok("down")
        self.ok("up")

    def down_if_up(self) -> None:
        if (self.home / "cluster.json").exists():
            repurpose("down", "--home", str(self.home), env=self.env)


@pytest.mark.scenario
@pytest.mark.postgres
@pytest.mark.timeout(1800, method="signal")  # one sequence of about thirty commands, six cluster starts among them
def test_two_clusters_side_by_side_keep_their_state_across_down_and_up(tmp_path: Path) -> None:
    first = Cluster(tmp_path / "first", cluster_env())
    # the first cluster's Ray ports come from `up`'s flags, not from the environment
    gcs_port, dashboard_port = free_port(), free_port()
    ports = ("--ray-port", str(gcs_port), "--dashboard-port", str(dashboard_port))
    production = f"{default_model_by_merit(Settings(home=first.home)).default_model}@1"  # the bundled one by merit
    with postgres_database("repurpose_scenario") as postgres, ThreadPoolExecutor(max_workers=1) as beside:
        second = Cluster(
            tmp_path / "second",
            cluster_env(
                ray_gcs_port=str(free_port()),
                ray_dashboard_port=str(free_port()),
                database_url=postgres,
                bundled_data_dir=str(tmp_path / "no-data"),  # the union once (in the first) is enough
            ),
        )
        try:
            # --- up: the first cluster (SQLite); the second (PostgreSQL) starts beside it meanwhile ---
            info = json.loads(first.ok("up", *ports, "--json").strip().splitlines()[-1])
            second_up = beside.submit(second.ok, "up")
            assert info["started_head"] is True
            assert info["ray_address"] == f"127.0.0.1:{gcs_port}"
            assert info["dashboard_url"] == f"http://127.0.0.1:{dashboard_port}"
            assert not info["ray_address"].endswith(f":{REDIS_PORT}")
            assert info["admin_key_file"] == str(first.home.resolve() / "admin_key")  # where the first key went
            assert Path(info["admin_key_file"]).read_text().startswith("rp_")
            # the home and its stores are no one else's (key hashes, every record, the Ray token)
            assert stat.S_IMODE(first.home.stat().st_mode) == 0o700
            for name in ("repurpose.db", "mlflow.db", "cluster.json", "admin_key", "ray_auth_token"):
                assert stat.S_IMODE((first.home / name).stat().st_mode) == 0o600, name
            again = first.ok("up", *ports)  # a second `up` on a running cluster: where the key is
            assert f"admin key     in {first.home.resolve() / 'admin_key'}" in again
            # the same code and settings: the scorer and the gateway keep their replicas (and caches)
            assert again.count("(running, unchanged)") == 2, again

            # --- status ---
            shown = first.ok("status")
            assert f"gateway     {info['gateway_url']}" in shown
            assert f"production  {production}" in shown
            assert "CPU(s) for Ray on" in shown
            report = first.json("status")
            assert report["ray_reachable"] is True
            assert [host["name"] for host in report["hosts"]] == ["grain-host-0"]
            assert report["production"] == [production] and report["cores"] == os.cpu_count()
            if report["cpus"] > report["cores"]:  # a small machine: status says why Ray has more CPUs
                assert "at least 4" in report["cpus_note"]

            # --- a user's work on the first: a dataset, a target, a baseline run, a promotion ---
            bundled = first.json("models", "show", BUNDLED_MODEL, "--version", "1")
            assert bundled["stage"] in ("production", "staging")  # production if it retrieves best
            dataset = first.json("datasets", "register", str(SAMPLE_TRAIN), "--name", "sample")
            first.ok("targets", "add", "P00533", "--sequence", TARGET_SEQUENCE, "--name", "test target")
            run = first.json("train", "--dataset", "sample", "--model-type", "rf")
            assert run["status"] == "succeeded" and run["model"]["version"] == 1
            name = run["model"]["name"]
            first.ok("models", "promote", name, "1", "--stage", "staging", "--reason", "looks fine")
            # the production model's monitor is fed by the scorer (flushed every few seconds)
            production_name = production.split("@")[0]
            for smiles in PREDICTED:
                first.ok("predict", "--model", production_name, "--smiles", smiles, "--target", "P00533")
            monitored = poll(
                lambda: first.json("monitor", "show", production_name),
                lambda shown: shown["pairs"] == len(PREDICTED),
                seconds=120,
                what="the monitor to record the predicted pairs",
                pause=2.0,
            )

            # --- and on the second, once up: its own dataset and target, in its own store ---
            second_up.result()
            first_info, second_info = read_cluster_info(first.home), read_cluster_info(second.home)
            assert first_info is not None and second_info is not None
            assert first_info.ray_session and second_info.ray_session
            assert first_info.ray_session != second_info.ray_session
            other_dataset = second.json("datasets", "register", str(SAMPLE_VAL), "--name", "val")
            second.ok("targets", "add", "P00519", "--sequence", TARGET_SEQUENCE[:60])

            # --- down stops only the first, and keeps its state ---
            first.ok("down")
            assert head_processes.session_pids(first_info.ray_session) == []
            assert not (first.home / "cluster.json").exists()
            assert (first.home / "repurpose.db").exists(), "down must keep the stored state"
            assert second.json("status")["ray_reachable"] is True  # the other one is untouched
            second_restart = beside.submit(second.restart)  # its own down and up, meanwhile

            # --- up again: everything registered on the first is still there ---
            first.ok("up", *ports)
            shown_dataset = first.json("datasets", "show", dataset["dataset_id"][:12])
            assert shown_dataset["counts"] == dataset["counts"] and shown_dataset["name"] == "sample"
            target = first.json("targets", "show", "P00533")
            assert target["sequence"] == TARGET_SEQUENCE and target["name"] == "test target"
            run_again = first.json("runs", "show", run["run_id"][:12])
            assert run_again["status"] == "succeeded" and run_again["model"] == run["model"]
            model = first.json("models", "show", name)
            assert (model["version"], model["stage"]) == (1, "staging")
            monitored_again = first.json("monitor", "show", production_name)
            assert (monitored_again["pairs"], monitored_again["reference"]) == (
                len(PREDICTED),
                monitored["reference"],
            )
            bundled_again = first.json("models", "show", BUNDLED_MODEL, "--version", "1")
            assert bundled_again["stage"] == bundled["stage"]
            assert first.json("status")["production"] == [production]
            listed = first.json("models", "list")
            assert [m["versions"] for m in listed] == [1] * len(listed)  # the bundled ones registered once
            shipped, _ = find_bundled_models(bundled_models_dir(Settings()))
            assert sorted(m["name"] for m in listed) == sorted([*(m.name for m in shipped), name])

            # --- the second's own down and up: its state survived in PostgreSQL ---
            second_restart.result()
            shown_other = second.json("datasets", "show", "val")
            assert shown_other["dataset_id"] == other_dataset["dataset_id"]
            assert shown_other["counts"] == other_dataset["counts"]
            assert second.json("targets", "show", "P00519")["sequence"] == TARGET_SEQUENCE[:60]
        finally:
            stopping = beside.submit(second.down_if_up)
            first.down_if_up()
            stopping.result()


def test_commands_without_a_cluster_exit_2_with_one_line(tmp_path: Path) -> None:
    result = repurpose("status", "--home", str(tmp_path), env=dict(os.environ))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: no cluster is running under {tmp_path.resolve()}",
    ]
    assert "no cluster was running" in repurpose("down", "--home", str(tmp_path), env=dict(os.environ)).stdout
