"""``repurpose alerts list`` and ``repurpose alerts rules list|add|remove``: alerts on drift and live quality."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from pydantic import ValidationError

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption
from repurpose.cli.output import JsonOption, fail, print_json, run_or_exit, say
from repurpose.contracts.alerts import AlertRule, AlertRuleSpec, AlertsOverview, check_rule_name

alerts_app = typer.Typer(
    name="alerts",
    help="Alerts on a model's drift, out-of-domain share and live AUROC drop: states and rules.",
    no_args_is_help=True,
    add_completion=False,
)
rules_app = typer.Typer(
    name="rules", help="The rules alerts are judged by.", no_args_is_help=True, add_completion=False
)
alerts_app.add_typer(rules_app, name="rules")


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def list_command(
    history: Annotated[int, typer.Option("--history", min=0, max=1000, help="How many recent changes.")] = 20,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every model's alert states (firing first) and the latest state changes."""
    with contextlib.closing(open_client(url, key, home)) as client:
        overview: AlertsOverview = run_or_exit(client.alerts, history)
    if as_json:
        print_json(overview)
        return
    if not overview.states:
        say("no alert has fired")
    else:
        for state in overview.states:
            since = state.fired_at if state.status == "firing" else state.resolved_at or state.updated_at
            say(
                f"{state.status:<8} {state.rule} on {state.model}: {state.value:.3f} (threshold {state.threshold:.3f}) "
                f"since {since:%Y-%m-%d %H:%M:%S}"
            )
        say("")
    for event in overview.history:
        where = f" {event.window}" if event.window else f" v{event.version}" if event.version else ""
        run = f", training run {event.retrain_run[:12]}" if event.retrain_run else ""
        if event.retrain_error:
            run = f", no retraining: {event.retrain_error}"
        say(
            f"{event.at:%Y-%m-%d %H:%M:%S} {event.rule} {event.status} on {event.model}: {event.metric}{where} "
            f"{event.value:.3f} (threshold {event.threshold:.3f}){run}"
        )


@rules_app.command("list")
def rules_list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Config's rules, then those added (webhooks as scheme://host[:port] only: the URLs are secrets)."""
    with contextlib.closing(open_client(url, key, home)) as client:
        rules: list[AlertRule] = run_or_exit(client.alert_rules)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rules])
        return
    for rule in rules:
        where = f", window {rule.window}" if rule.metric != "auroc_drop" else ""
        hooks = f", {len(rule.webhooks)} webhook(s)" if rule.webhooks else ""
        model = rule.model or "every model"
        say(
            f"{rule.name} ({rule.source}): {rule.metric} >= {rule.threshold:g}{where}, on {model}, "
            f"at least {rule.min_pairs:,} pairs{hooks}{', retrains' if rule.retrain else ''}"
        )


@rules_app.command("add")
def rules_add_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The rule's name (a-z 0-9 . _ -).")],
    metric: Annotated[str, typer.Option("--metric", help="drift_share, out_of_domain_share or auroc_drop.")],
    threshold: Annotated[float, typer.Option("--threshold", help="Fires at or above it (0 to 1).")],
    window: Annotated[str, typer.Option("--window", help="pairs, hour or day (drift rules).")] = "pairs",
    model: Annotated[str | None, typer.Option("--model", help="One model (default: every model).")] = None,
    min_pairs: Annotated[int, typer.Option("--min-pairs", help="Pairs (outcomes) needed to judge.")] = 100,
    webhooks: Annotated[
        list[str] | None, typer.Option("--webhook", help="A URL POSTed on every change (repeat for more).")
    ] = None,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="On firing, train the model's type on its dataset's newest version.")
    ] = False,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a rule (admins)."""
    try:
        spec = AlertRuleSpec.model_validate(
            {
                "name": name,
                "metric": metric,
                "threshold": threshold,
                "window": window,
                "model": model,
                "min_pairs": min_pairs,
                "webhooks": webhooks or [],
                "retrain": retrain,
            }
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise fail(f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}") from None
    with contextlib.closing(open_client(url, key, home)) as client:
        rule: AlertRule = run_or_exit(client.add_alert_rule, spec)
    if as_json:
        print_json(rule)
        return
    say(f"alert rule {rule.name}: {rule.metric} >= {rule.threshold:g} on {rule.model or 'every model'}")


@rules_app.command("remove")
def rules_remove_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The rule's name.")],
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove a rule added through the API (config's change with the setting alert_rules)."""
    run_or_exit(check_rule_name, name)
    with contextlib.closing(open_client(url, key, home)) as client:
        rule: AlertRule = run_or_exit(client.remove_alert_rule, name)
    if as_json:
        print_json(rule)
        return
    say(f"removed alert rule {rule.name}")
