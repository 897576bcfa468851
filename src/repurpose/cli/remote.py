"""``--url`` and ``--key``: run a command against a remote gateway instead of the local cluster.

With ``--url`` (or ``REPURPOSE_URL``) set, cluster commands send their request to that gateway
with the API key from ``--key`` (or ``REPURPOSE_KEY``) and print the answer exactly as they
print a local one: the gateway answers with the same models the grains return.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from repurpose.cli.output import fail, run_or_exit

if TYPE_CHECKING:
    from repurpose.gateway_client import GatewayClient

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
    from repurpose.gateway_client import GatewayClient

    return run_or_exit(GatewayClient, url, key)
