"""``--url`` and ``--key``: run a command against a remote gateway instead of the local cluster.

With ``--url`` (or ``REPURPOSE_URL``) set, cluster commands send their request to that gateway
with the API key from ``--key`` (or ``REPURPOSE_KEY``) and print the answer exactly as they
print a local one: the gateway answers with the same models the grains return.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from repurpose.cli.local import client_for, store_engine
from repurpose.cli.output import fail, run_or_exit

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from repurpose.client import GatewayClient

T = TypeVar("T")

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


def gateway_for(url: str | None, key: str | None, home: Path | None = None) -> GatewayClient | None:
    """A client of the gateway at ``url``; None when no URL is given (the command runs locally)."""
    if not url:
        return None
    if home is not None:
        raise fail("--home names a local cluster and --url a remote one: give one of them")
    from repurpose.client import GatewayClient  # httpx: only for a command sent to a gateway (start-up time)

    return run_or_exit(GatewayClient, url, key)


def listed(
    url: str | None,
    key: str | None,
    home: Path | None,
    remote: Callable[[GatewayClient], list[T]],
    local: Callable[[Engine], list[T]],
) -> list[T]:
    """What a ``list`` command lists: from the gateway at ``url``, else from the local cluster's store."""
    gateway = gateway_for(url, key, home)
    if gateway is not None:
        return run_or_exit(remote, gateway)
    with store_engine(client_for(home)) as engine:
        return run_or_exit(local, engine)
