"""``repurpose monitor show|reset|quality``: a model's live traffic against the data it was trained on,
and its live quality from the outcomes fed back (``repurpose feedback``)."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.table import Table

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption
from repurpose.cli.output import JsonOption, console, print_json, run_or_exit, say
from repurpose.contracts.feedback import LiveQuality, ModelQuality
from repurpose.contracts.models import check_model_name
from repurpose.contracts.monitoring import DEFAULT_WINDOW, MonitorReport, Statistic, check_window

monitor_app = typer.Typer(
    name="monitor",
    help="Drift of a model's live traffic from its training data, per feature and for the whole.",
    no_args_is_help=True,
    add_completion=False,
)

STATISTIC_LABELS: dict[Statistic, str] = {
    "ks_p_value": "KS p",
    "chi2_p_value": "chi² p",
    "wasserstein_normed": "Wasserstein",
    "jensen_shannon": "Jensen-Shannon",
}
"""Short names for the table; --json and the report page name them in full."""

ModelArgument = Annotated[str, typer.Argument(metavar="MODEL", help="A registered model name.")]


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")


@monitor_app.command("show")
def show_command(
    model: ModelArgument,
    window: Annotated[
        str,
        typer.Option(
            "--window", help="pairs (the last pairs scored), hour, day, or job:<screen id> (one screening job)."
        ),
    ] = DEFAULT_WINDOW,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per feature the reference's and the window's figures, the statistic and whether it drifted;
    then dataset drift, the out-of-domain share and score drift."""
    run_or_exit(check_model_name, model)
    run_or_exit(check_window, window)
    with contextlib.closing(open_client(url, key, home)) as client:
        report: MonitorReport = run_or_exit(client.monitor, model, window)
    if as_json:
        print_json(report)
        return
    print_report(report)


@monitor_app.command("reset")
def reset_command(
    model: ModelArgument,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="A dataset version (id, unique prefix or name) to compare with; default: the one the model's "
            "version was trained on.",
        ),
    ] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Forget the monitor's windows and take its reference again."""
    run_or_exit(check_model_name, model)
    with contextlib.closing(open_client(url, key, home)) as client:
        report: MonitorReport = run_or_exit(client.reset_monitor, model, reference)
    if as_json:
        print_json(report)
        return
    say(f"reset the monitor of {model}")
    say(_reference_line(report))


@monitor_app.command("quality")
def quality_command(
    model: ModelArgument,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Live quality per version from the outcomes fed back: AUROC, Brier score, reliability bins, and the
    drop from the registry's AUROC."""
    run_or_exit(check_model_name, model)
    with contextlib.closing(open_client(url, key, home)) as client:
        quality: ModelQuality = run_or_exit(client.model_quality, model)
    if as_json:
        print_json(quality)
        return
    if not quality.versions:
        say(f"{model}: no outcomes fed back yet (`repurpose feedback FILE --model {model}`)")
    for version in quality.versions:
        print_quality(version)


def print_quality(quality: LiveQuality) -> None:
    drop = f", drop {quality.auroc_drop:+.3f}" if quality.auroc_drop is not None else ""
    say(
        f"{quality.model} v{quality.version}: {quality.outcomes:,} outcomes ({quality.positives:,} positive); "
        f"live AUROC {_number(quality.auroc)} (registry {_number(quality.reference_auroc)}{drop}); "
        f"Brier {_number(quality.brier)}"
    )
    table = Table()
    table.add_column("score bin", no_wrap=True)
    table.add_column("outcomes", justify="right")
    table.add_column("mean score", justify="right")
    table.add_column("observed rate", justify="right")
    for b in quality.bins:
        table.add_row(
            f"{b.lower:.1f}-{b.upper:.1f}", f"{b.count:,}", _number(b.mean_predicted), _number(b.observed_rate)
        )
    console.print(table)


def print_report(report: MonitorReport) -> None:
    say(f"{report.model}, window {report.window}: {report.pairs:,} pairs (dropped by the scorer: {report.dropped:,})")
    say(_reference_line(report))
    if report.features:
        table = Table()
        table.add_column("feature", no_wrap=True)
        table.add_column("mean: ref → now", justify="right")
        table.add_column("median: ref → now", justify="right")
        table.add_column("statistic", no_wrap=True)
        table.add_column("value", justify="right")
        table.add_column("drift")
        for f in report.features:
            table.add_row(
                f.feature,
                f"{_number(f.reference.mean)} → {_number(f.current.mean)}",
                f"{_number(f.reference.quantile(0.5))} → {_number(f.current.quantile(0.5))}",
                STATISTIC_LABELS[f.statistic] if f.statistic else "not tested",
                _number(f.value),
                "yes" if f.drifted else "no",
            )
        console.print(table)
        if report.drift_share is None:
            say("dataset drift: not tested (too few pairs in the window)")
        else:
            say(
                f"dataset drift: {'yes' if report.dataset_drift else 'no'} ({report.features_drifted} of "
                f"{report.features_tested} features drifted, share {report.drift_share:.2f})"
            )
    if report.out_of_domain_share is not None:
        say(f"out of the model's domain: {report.out_of_domain_share:.1%} of {report.domain_pairs:,} pairs")
    score = report.score
    if score.baseline is None:
        say("score drift: not tested (the baseline, the monitor's first scores, is still filling)")
    elif score.statistic is None:
        say("score drift: not tested (too few scores in the window)")
    else:
        verdict = "yes" if score.drifted else "no"
        figure = f"{STATISTIC_LABELS[score.statistic]} {_number(score.value)}"
        say(f"score drift: {verdict} ({figure} against the baseline of the first {score.baseline.n:,} scores)")


def _reference_line(report: MonitorReport) -> str:
    reference = report.reference
    if reference is None:
        return f"no reference: {report.no_reference or 'none taken yet'}"
    whence = (
        f"the training data of v{reference.model_version}" if reference.source == "lineage" else "named at the reset"
    )
    return (
        f"reference: dataset {reference.dataset_name} ({reference.dataset_id[:12]}), {reference.rows:,} rows, "
        f"a sample of {reference.sample_rows:,}; {whence}"
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
