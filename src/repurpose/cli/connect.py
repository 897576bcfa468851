"""How a cluster command reaches its cluster: one client, local or remote, chosen here only.

``--url`` (or ``REPURPOSE_URL``) names a gateway: the command gets a ``GatewayClient`` with the
key from ``--key`` (or ``REPURPOSE_KEY``). Otherwise it gets an ``InProcessClient`` on the cluster
``repurpose up`` started under ``--home``. Both answer the same protocol with the same models, so
commands print what they get without asking where it came from. Ray, the grain runtime and
SQLAlchemy load only for the cluster here: ``--help`` and remote commands never pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from repurpose.cli.home import resolve_home
from repurpose.cli.output import fail, run_or_exit

if TYPE_CHECKING:
    from repurpose.contracts.client import RepurposeClient

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="REPURPOSE_URL",
        help="A gateway (http://host:8000) to send this command to, instead of the cluster under --home.",
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option("--key", envvar="REPURPOSE_KEY", help="The API key for --url (rp_…).", show_default=False),
]


def open_client(url: str | None, key: str | None, home: Path | None) -> RepurposeClient:
    """The gateway at ``url``, else the cluster under ``home``; exits 2 with one line if neither answers."""
    if url:
        if home is not None:
            raise fail("--home names a local cluster and --url a remote one: give one of them")
        from repurpose.client import GatewayClient  # httpx only

        return run_or_exit(GatewayClient, url, key)
    from repurpose.cluster.lifecycle import connect  # Ray and the grain runtime: only here (start-up time)
    from repurpose.services.in_process import InProcessClient

    return InProcessClient.on(run_or_exit(connect, resolve_home(home)))
