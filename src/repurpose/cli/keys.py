"""``repurpose keys create|list|revoke``: the gateway's API keys."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.table import Table

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption
from repurpose.cli.output import JsonOption, console, fail, print_json, run_or_exit
from repurpose.contracts.keys import ROLES, ApiKeySummary, IssuedKey, check_key_id

keys_app = typer.Typer(
    name="keys", help="Make, list and revoke the gateway's API keys.", no_args_is_help=True, add_completion=False
)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create_command(
    role: Annotated[str, typer.Option("--role", help="admin (everything), scientist or reader (read and score).")],
    name: Annotated[str | None, typer.Option("--name", help="Whose or what for (shown by `keys list`).")] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make an API key and print it, once: only a hash of its secret is stored."""
    if role not in ROLES:
        raise fail(f"--role takes one of {', '.join(ROLES)}, not {role!r}")
    with contextlib.closing(open_client(url, key, home)) as client:
        issued: IssuedKey = run_or_exit(client.create_key, role, name)
    if as_json:
        print_json({"key": issued.key, **issued.summary.model_dump(mode="json")})
        return
    print(issued.key)
    console.print(
        f"{issued.summary.role} key {issued.summary.key_id}: shown once, keep it secret; "
        "send it as `Authorization: Bearer <key>`",
        style="dim",
        highlight=False,
    )


@keys_app.command("list")
def list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every key made (never their secrets), revoked ones too."""
    with contextlib.closing(open_client(url, key, home)) as client:
        keys = run_or_exit(client.keys)
    if as_json:
        print_json([k.model_dump(mode="json") for k in keys])
        return
    table = Table("id", "role", "name", "created", "revoked")
    for made in keys:
        revoked = f"{made.revoked_at:%Y-%m-%d %H:%M}" if made.revoked_at else ""
        table.add_row(made.key_id, made.role, made.name or "", f"{made.created_at:%Y-%m-%d %H:%M}", revoked)
    console.print(table)


@keys_app.command("revoke")
def revoke_command(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (12 hex digits, from `keys list`).")],
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key for good; gateways refuse it within seconds (gateway_key_cache_seconds)."""
    key_id = run_or_exit(check_key_id, key_id)
    with contextlib.closing(open_client(url, key, home)) as client:
        summary: ApiKeySummary = run_or_exit(client.revoke_key, key_id)
    if as_json:
        print_json(summary)
        return
    console.print(f"revoked {summary.role} key {summary.key_id}", highlight=False)
