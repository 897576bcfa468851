"""The cluster's lifecycle: ``up`` starts (or joins) Ray and the grain hosts, ``down`` stops them.

``start_cluster`` is the mechanism, given the steps to run around it; which steps ``up`` runs,
in which order, is ``cluster.up``.

``up`` writes ``<home>/cluster.json`` (a ``ClusterInfo``): the Ray address, what it started and
the full ``Settings`` the grain hosts run with. Every later command on this machine reads it
through ``connect`` and so talks to the same store, pool and namespace as the hosts, whatever
flags or environment that command itself was started with.

A head node we start runs as ``ray start --head`` (its own daemons, so it outlives the CLI
process) with its GCS on ``settings.ray_gcs_port`` (6380 by default: Redis owns 6379 here).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ray
from pydantic import BaseModel, ValidationError

from repurpose.cluster import head_processes
from repurpose.errors import ClusterError, ClusterNotRunning
from repurpose.grains import GrainClient, HostStats
from repurpose.runtime.private_files import make_home_private, private_dir, write_private_atomically
from repurpose.settings import Settings
from repurpose.store import upgrade

CLUSTER_FILE = "cluster.json"
AUTH_TOKEN_FILE = "ray_auth_token"
_RAY_START_TIMEOUT_SECONDS = 180
_RAY_START_ATTEMPTS = 4
_RAY_START_PAUSE_SECONDS = 5.0
# Ray schedules by logical CPUs: on a 2-core machine an idle scorer replica (1) and a training
# worker (1) would leave none for a dataset registration. Ray tasks here are short or wait on
# I/O, so a small head offers at least this many.
_MIN_LOGICAL_CPUS = 4

StartStep = Callable[[GrainClient], list[str]]
"""Runs on every ``up`` once the hosts answer (e.g. registering the bundled models; idempotent
work only); returns lines to print.

A step may settle a setting that needs the running cluster with ``settle`` (registering the
bundled models: the default model, once it is known which names have a production version): the
steps after it, cluster.json and so every later command get the settled settings."""

ConfigureStep = Callable[[Settings], Settings]
"""Runs on an ``up`` that starts or joins Ray, before anything starts, and settles the settings
the grain hosts, the scorer, the gateway and every later command (through cluster.json) run
with: e.g. the default model, chosen by merit among the bundled models unless the user named one."""


def settle(client: GrainClient, **changes: Any) -> None:
    """From a start step: change settings of the cluster being started (``start_cluster`` writes them
    to cluster.json). The grain hosts keep the settings they started with: what they read of these
    (the default model) their callers pass them (e.g. ``submit_screen`` names the model)."""
    client.settings = client.settings.with_overrides(**changes)


class ClusterInfo(BaseModel):
    ray_address: str
    started_head: bool  # whether ``up`` started the Ray head (then ``down`` stops it)
    ray_session: str | None = None  # the head's session name: ``down`` stops only its processes
    dashboard_url: str | None
    gateway_url: str
    started_at: dt.datetime
    settings: Settings
    auth_token_path: str | None = None  # a head we start uses token auth with this token

    @property
    def namespace(self) -> str:
        return self.settings.ray_namespace


class ClusterStatus(BaseModel):
    info: ClusterInfo
    ray_reachable: bool
    hosts: list[HostStats]
    nodes: int
    cpus: float  # the logical CPUs Ray schedules by
    cores: int | None = None  # this machine's CPU cores
    cpus_note: str | None = None  # why Ray has more CPUs than the machine has cores, when it does


def cluster_file(home: Path) -> Path:
    return home / CLUSTER_FILE


def read_cluster_info(home: Path) -> ClusterInfo | None:
    path = cluster_file(home)
    if not path.exists():
        return None
    try:
        return ClusterInfo.model_validate_json(path.read_text())
    except (ValidationError, ValueError) as error:
        raise ClusterError(
            f"{path} is damaged ({error.__class__.__name__}); remove it and run `repurpose up`"
        ) from None


def start_cluster(
    settings: Settings,
    *,
    configure: Sequence[ConfigureStep] = (),
    start: Sequence[StartStep] = (),
    log: Callable[[str], None] = lambda _: None,
) -> tuple[ClusterInfo, list[str]]:
    """Settle the settings (``configure``, in order), start or join Ray, migrate the store, start
    the grain hosts, write cluster.json and run the ``start`` steps in order.

    Returns the cluster's info and the lines the start steps reported. Running ``up`` on a
    home whose cluster is already up reconnects and re-runs the (idempotent) start steps.
    """
    private_dir(settings.home)
    existing = read_cluster_info(settings.home)
    started_now = False  # whether this call started the Ray head
    if existing is not None and _ray_reachable(existing.ray_address):
        settings, address, started_head = existing.settings, existing.ray_address, existing.started_head
        dashboard_url = existing.dashboard_url
        log(f"cluster already up at {address}")
    else:  # a cluster already up keeps the settings it started with; a new one settles its own
        for step in configure:
            settings = step(settings)
        if settings.ray_address:
            address, started_head = settings.ray_address, False
            dashboard_url = None
        else:
            address, started_head = _start_head(settings, log), True
            started_now = True
            dashboard_url = f"http://127.0.0.1:{settings.ray_dashboard_port}"
    if started_now:
        session = head_processes.session_of_gcs_port(settings.ray_gcs_port)
    else:  # still up (a stale cluster.json names a session that is gone)
        session = existing.ray_session if existing is not None and existing.started_head else None
    token = str(_auth_token_file(settings.home)) if started_head else None

    try:
        make_home_private(settings)  # before the stores are made: key hashes and records are no one else's
        log(f"migrating the store at {_redacted(settings.database_url)}")
        upgrade(settings.database_url)
        _ray_init(address, settings, token)
        client = GrainClient(settings)
        log(f"starting {settings.grain_hosts} grain host(s)")
        client.start()
    except BaseException:
        if started_now and session is not None:  # never leave a head behind that no cluster.json names
            ray.shutdown()
            head_processes.stop_session(session, gcs_port=settings.ray_gcs_port)
        raise
    info = ClusterInfo(
        ray_address=address,
        started_head=started_head,
        ray_session=session,
        dashboard_url=dashboard_url,
        gateway_url=f"http://{settings.gateway_host}:{settings.gateway_port}",
        started_at=existing.started_at if existing is not None and not started_now else dt.datetime.now(dt.UTC),
        settings=settings,
        auth_token_path=token,
    )
    write_private_atomically(cluster_file(settings.home), info.model_dump_json(indent=2))
    return run_start_steps(client, info, start)


def run_start_steps(
    client: GrainClient, info: ClusterInfo, steps: Sequence[StartStep]
) -> tuple[ClusterInfo, list[str]]:
    """Run ``steps`` in order; the cluster's info with the settings they settled (written to
    cluster.json again when they changed) and the lines they reported."""
    reported: list[str] = []
    for step in steps:
        reported.extend(step(client))
    if client.settings != info.settings:
        info = info.model_copy(update={"settings": client.settings})
        write_private_atomically(cluster_file(info.settings.home), info.model_dump_json(indent=2))
    return info, reported


def connect(home: Path) -> GrainClient:
    """A grain client on the cluster ``up`` started under ``home`` (connecting Ray if needed)."""
    info = read_cluster_info(home)
    if info is None:
        raise ClusterNotRunning(f"no cluster is running under {home}: start one with `repurpose up --home {home}`")
    if not ray.is_initialized():
        if not _ray_reachable(info.ray_address):
            raise ClusterNotRunning(
                f"the cluster under {home} does not answer at {info.ray_address}: run `repurpose up --home {home}`"
            )
        _ray_init(info.ray_address, info.settings, info.auth_token_path)
    return GrainClient(info.settings)


def cluster_status(home: Path) -> ClusterStatus:
    info = read_cluster_info(home)
    if info is None:
        raise ClusterNotRunning(f"no cluster is running under {home}")
    if not _ray_reachable(info.ray_address):
        return ClusterStatus(info=info, ray_reachable=False, hosts=[], nodes=0, cpus=0.0)
    client = connect(home)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    cpus, cores = float(ray.cluster_resources().get("CPU", 0.0)), os.cpu_count()
    return ClusterStatus(
        info=info,
        ray_reachable=True,
        hosts=client.stats(),
        nodes=len(nodes),
        cpus=cpus,
        cores=cores,
        cpus_note=_cpus_note(info, cpus, cores) if len(nodes) == 1 else None,
    )


def _cpus_note(info: ClusterInfo, cpus: float, cores: int | None) -> str | None:
    if not info.started_head or cores is None or cpus <= cores:
        return None
    if info.settings.ray_num_cpus is not None:
        return f"{cpus:g} logical CPUs on {cores} core(s), as REPURPOSE_RAY_NUM_CPUS asked"
    return (
        f"{cpus:g} logical CPUs on {cores} core(s): a head `up` starts offers at least {_MIN_LOGICAL_CPUS}, "
        "because an idle scorer replica and a training worker hold one each and Ray's short tasks "
        "(dataset registrations, evaluations) would otherwise wait for them; REPURPOSE_RAY_NUM_CPUS sets it"
    )


def stop_cluster(home: Path, *, log: Callable[[str], None] = lambda _: None) -> bool:
    """Stop what ``up`` started under ``home``; False if nothing was running. Stored state stays."""
    info = read_cluster_info(home)
    if info is None:
        return False
    if info.started_head and info.ray_session:
        # our own head: its processes go, grain hosts and Serve with them. Not `ray stop`,
        # which stops every Ray on the machine, other users' clusters included.
        ray.shutdown()
        log("stopping the Ray head")
        head_processes.stop_session(info.ray_session, gcs_port=_port_of(info.ray_address))
    elif _ray_reachable(info.ray_address):  # a cluster we joined: take back only what we started
        _ray_init(info.ray_address, info.settings, info.auth_token_path)
        log("stopping the grain hosts")
        GrainClient(info.settings).stop()
        _stop_serve()
        ray.shutdown()
    cluster_file(home).unlink(missing_ok=True)
    return True


def _start_head(settings: Settings, log: Callable[[str], None]) -> str:
    port = settings.ray_gcs_port
    if _port_in_use(port):
        raise ClusterError(
            f"port {port} is taken (another Ray head?): pass --address to join it, or start one on another "
            "port with --ray-port (or REPURPOSE_RAY_GCS_PORT)"
        )
    log(f"starting a Ray head (GCS on port {port}, dashboard on {settings.ray_dashboard_port})")
    command = [
        _ray_executable(),
        "start",
        "--head",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={settings.ray_dashboard_port}",
        "--include-dashboard=true",
        f"--num-cpus={settings.ray_num_cpus or max(os.cpu_count() or 1, _MIN_LOGICAL_CPUS)}",
        "--disable-usage-stats",
    ]
    env = _ray_env(_auth_token_file(settings.home))
    for attempt in range(1, _RAY_START_ATTEMPTS + 1):
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_RAY_START_TIMEOUT_SECONDS, env=env, check=False
        )
        if done.returncode == 0:
            return f"127.0.0.1:{port}"
        # Ray gives its raylet a fixed 30 s to register, too little on a busy 2-core machine:
        # clear the half-started head and try again.
        session = head_processes.session_of_gcs_port(port)
        if session is not None:
            head_processes.stop_session(session)
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        if attempt < _RAY_START_ATTEMPTS:
            log(f"`ray start --head` failed ({last[0][:120]}); retrying")
            time.sleep(_RAY_START_PAUSE_SECONDS * attempt)  # a busy machine's load spike passes first
    raise ClusterError(f"`ray start --head` failed {_RAY_START_ATTEMPTS} times: {last[0]}")


def _ray_init(address: str, settings: Settings, auth_token_path: str | None = None) -> None:
    if ray.is_initialized():
        return
    if auth_token_path is not None:  # our own head: connect with its token, whatever ~/.ray holds
        os.environ.update(_auth_env(Path(auth_token_path)))
        from ray._raylet import Config  # type: ignore[attr-defined]

        Config.initialize("")  # Ray read its config at import; make it see the mode just set
    ray.init(address=address, namespace=settings.ray_namespace, log_to_driver=False, logging_level=logging.ERROR)


def _ray_reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ray_executable() -> str:
    beside = Path(sys.executable).parent / "ray"  # the venv's own, matching the ray we import
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


def _ray_env(auth_token: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return env | _auth_env(auth_token)


def _auth_env(token_file: Path) -> dict[str, str]:
    # Explicit token auth with the home's own token. Left to its defaults, Ray turns token auth
    # on or off depending on whether ~/.ray/auth_token exists at that moment, so a head and a
    # client started at different times (or beside another cluster) disagree and cannot talk.
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}


def _auth_token_file(home: Path) -> Path:
    """``<home>/ray_auth_token``: made once (owner-only), shared by the head and every client."""
    path = home / AUTH_TOKEN_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(secrets.token_hex(32))
        temporary.chmod(0o600)
        temporary.replace(path)
    return path


def _port_of(address: str) -> int | None:
    try:
        return int(address.rpartition(":")[2])
    except ValueError:
        return None


def _stop_serve() -> None:
    try:
        from ray import serve

        serve.shutdown()
    except Exception:  # Serve was never started here: nothing to stop
        pass


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
