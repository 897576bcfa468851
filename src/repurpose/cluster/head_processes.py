"""Finding and stopping the processes of one Ray head node by its session name (Linux /proc).

``ray stop`` stops every Ray process on the machine; a developer box or CI runner may hold
several clusters (tests, other homes), so ``repurpose down`` stops only its own session:
every process whose command line names the session, and their descendants (workers).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

_PROC = Path("/proc")
_SESSION = re.compile(r"session_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d+_\d+")


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can read."""
    found: dict[int, tuple[int, str]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # the name field may hold spaces
        found[int(entry.name)] = (parent, cmdline)
    return found


def session_of_gcs_port(port: int) -> str | None:
    """The session name of the head whose GCS listens on ``port``, if it runs here."""
    for _, cmdline in _processes().values():
        if "gcs_server" in cmdline and f"--gcs_server_port={port}" in cmdline:
            match = _SESSION.search(cmdline)
            if match:
                return match.group(0)
    return None


def session_pids(session: str, gcs_port: int | None = None) -> list[int]:
    """The session's processes; with ``gcs_port`` also those that name only its GCS address
    (Ray's client proxy, ``ray.util.client.server --address=<ip>:<port>``)."""
    processes = _processes()
    by_address = re.compile(rf"--(?:gcs[-_])?address=[0-9.]+:{gcs_port}(?!\d)") if gcs_port else None
    roots = {
        pid
        for pid, (_, cmdline) in processes.items()
        if session in cmdline or (by_address is not None and "ray" in cmdline and by_address.search(cmdline))
    }
    members = set(roots)
    grew = True
    while grew:  # add descendants: workers do not name the session on their command line
        grew = False
        for pid, (parent, _) in processes.items():
            if parent in members and pid not in members:
                members.add(pid)
                grew = True
    members.discard(os.getpid())
    return sorted(members)


# On SIGTERM the raylet drains for about 10 s, the GCS waits on it, and Ray's workers (Serve's
# controller and proxy, detached actors) end only when their raylet is gone: a 10 s grace made every
# `down` take 12 s. What a cluster holds that matters is in the store, which a SIGKILL cannot corrupt
# (a grain host's write is one transaction; screens and runs resume from their stored progress).
GRACE_SECONDS = 3.0


def stop_session(session: str, *, gcs_port: int | None = None, grace_seconds: float = GRACE_SECONDS) -> int:
    """SIGTERM the session's processes, SIGKILL what is left after the grace time; how many."""
    pids = session_pids(session, gcs_port)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in alive if _alive(pid)]
    for pid in alive:
        _signal(pid, signal.SIGKILL)
    return len(pids)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        state = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; its parent has yet to reap it
