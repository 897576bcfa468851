"""``repurpose up``, ``down`` and ``status``: the cluster itself."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption, resolve_home
from repurpose.cli.output import JsonOption, console, fail, print_json, run_or_exit

if TYPE_CHECKING:
    from repurpose.settings import Settings


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)


def up(
    home: HomeOption = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="SQLite (default) or postgresql+psycopg://… URL.")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Join this Ray cluster instead of starting one.")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Gateway port (default 8000).")] = None,
    ray_port: Annotated[
        int | None,
        typer.Option("--ray-port", help="GCS port of the Ray head it starts (default 6380; REPURPOSE_RAY_GCS_PORT)."),
    ] = None,
    dashboard_port: Annotated[
        int | None,
        typer.Option("--dashboard-port", help="Ray dashboard port (default 8265; REPURPOSE_RAY_DASHBOARD_PORT)."),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="Gateway without API keys: every request is an admin. Local development only."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Start (or join) the cluster: Ray, migrations, grain hosts, bundled data and models, the scorer, the gateway."""
    # the cluster's code (Ray, Serve, the actors) loads only when a command runs it (start-up time)
    from repurpose.cluster.up import up as start_cluster  # its steps, in order
    from repurpose.gateway.deployment import ADMIN_KEY_FILE
    from repurpose.settings import Settings

    try:
        settings = Settings().with_overrides(
            home=home,
            database_url=database_url,
            ray_address=address,
            gateway_port=port,
            ray_gcs_port=ray_port,
            ray_dashboard_port=dashboard_port,
            gateway_auth=False if no_auth else None,
        )
    except ValidationError as error:  # its text ends with a link, not with the reason
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise fail(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
    except ValueError as error:
        raise fail(str(error).splitlines()[-1] if str(error) else "invalid settings") from None
    # soft_wrap: a path or URL stays on one line (copyable) however narrow the terminal
    log = (lambda _: None) if as_json else (lambda line: console.print(line, style="dim", soft_wrap=True))
    with console.status("starting the cluster", spinner="dots") if not as_json else contextlib.nullcontext():
        info, reported = run_or_exit(start_cluster, settings, log=log)
    if as_json:
        key_file = info.settings.home / ADMIN_KEY_FILE  # the first admin key, never printed in JSON
        print_json(
            {
                **info.model_dump(mode="json", exclude={"settings"}),
                "home": str(info.settings.home),
                "admin_key_file": str(key_file) if key_file.exists() else None,
            }
        )
        return
    for line in reported:
        console.print(line, soft_wrap=True)
    console.print(f"cluster up    home {info.settings.home}")
    console.print(f"ray           {info.ray_address}")
    console.print(f"dashboard     {info.dashboard_url or '(the joined cluster’s own)'}")
    console.print(f"gateway       {info.gateway_url}")


def _production_models(settings: Settings) -> list[str]:
    """``name@version`` of every model with a version in production, by name."""
    from repurpose.actors.model_registry import list_models  # the registry loads Ray (start-up time)
    from repurpose.store import make_engine

    engine = make_engine(settings.database_url)
    try:
        return [f"{m.name}@{m.production}" for m in list_models(engine) if m.production is not None]
    finally:
        engine.dispose()


def down(home: HomeOption = None) -> None:
    """Stop what `up` started (stored state stays)."""
    from repurpose.cluster.lifecycle import stop_cluster  # Ray: only when a command runs it (start-up time)

    resolved = resolve_home(home)
    stopped = run_or_exit(stop_cluster, resolved, log=lambda line: console.print(line, style="dim"))
    console.print(f"cluster under {resolved} stopped" if stopped else f"no cluster was running under {resolved}")


def status(home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False) -> None:
    """What runs: Ray, the grain hosts and their activations (with --url: the gateway's readiness)."""
    if not url:  # the cluster here: its Ray nodes and grain hosts, which no gateway reports
        _status_here(home, as_json)
        return
    client = open_client(url, key, home)
    try:
        readiness = run_or_exit(client.readiness)
    finally:
        client.close()
    if as_json:
        print_json(readiness)
    else:
        console.print(
            f"gateway {url.strip().rstrip('/')}  ready: {'yes' if readiness.ready else 'no'}", highlight=False
        )
        checks = Table("check", "ok", "detail")
        for check in readiness.checks:
            checks.add_row(check.name, "yes" if check.ok else "no", Text(check.detail))
        console.print(checks)
    if not readiness.ready:
        raise typer.Exit(1)


def _status_here(home: Path | None, as_json: bool) -> None:
    from repurpose.cluster.lifecycle import cluster_status  # Ray: only for the cluster here (start-up time)

    report = run_or_exit(cluster_status, resolve_home(home))
    production = _production_models(report.info.settings) if report.ray_reachable else []
    if as_json:
        print_json({**report.model_dump(mode="json"), "production": production})
        return
    info = report.info
    console.print(f"home {info.settings.home}  ray {info.ray_address}  reachable: {report.ray_reachable}")
    if not report.ray_reachable:
        return
    console.print(f"gateway     {info.gateway_url}", highlight=False)
    nothing = "none: `repurpose models promote NAME V --stage production`"
    console.print(f"production  {', '.join(production) or nothing}")
    cores = f" on {report.cores} core(s)" if report.cores else ""
    dashboard = info.dashboard_url or "-"
    console.print(f"{report.nodes} node(s), {report.cpus:g} CPU(s) for Ray{cores}; dashboard {dashboard}")
    if report.cpus_note:
        console.print(report.cpus_note, style="dim")
    table = Table("grain host", "pid", "activations", "by kind", "rss MiB")
    for host in report.hosts:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(host.by_kind.items())) or "-"
        table.add_row(host.name, str(host.pid), str(host.activations), kinds, f"{host.rss_bytes / 2**20:.0f}")
    console.print(table)
