"""A monitor report as one self-contained HTML page: no script, no stylesheet or font to fetch.

Per feature, the reference's and the window's histograms on the reference's bins are drawn side
by side as inline SVG bars (each bin's share of its side, so sides of any size compare), with the
statistic that decided drift and the PSI; then the scores against the baseline and the window's
maximum Tanimoto to the training compounds. Every text from the report is HTML-escaped.
"""

from __future__ import annotations

from html import escape

from repurpose.contracts.monitoring import Bins, FeatureDrift, MonitorReport

WIDTH = 640
HEIGHT = 150
AXIS = 28  # room under the bars for the edges' labels
REFERENCE_COLOUR = "#9e9e9e"
CURRENT_COLOUR = "#1f77b4"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.drifted { color: #b00020; font-weight: 600; }
.legend span { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 0.3em 0 1em; vertical-align: middle; }
svg text { font-size: 10px; fill: #555; }
"""


def report_page(report: MonitorReport) -> str:
    """The page of ``report``."""
    title = f"Drift of {report.model}, window {report.window}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _overview(report),
        _legend("reference", "window"),
    ]
    if report.features:
        parts.append(_feature_table(report.features))
        for feature in report.features:
            parts.append(f"<h2>{escape(feature.feature)}</h2>")
            parts.append(f"<p>{escape(_decision(feature))}</p>")
            parts.append(_bars(feature.bins))
    score = report.score
    parts.append("<h2>scores</h2>")
    if score.baseline is None:
        parts.append("<p>no baseline yet: the scores of the monitor's first pairs are still being collected</p>")
    elif score.statistic is None:
        parts.append("<p>too few scores in the window to compare</p>")
    else:
        verdict = "drifted" if score.drifted else "no drift"
        parts.append(
            f"<p>{escape(f'{score.statistic} {score.value:.4g} (threshold {score.threshold:g}): {verdict}')}</p>"
        )
    parts.append(_bars(score.bins))
    parts.append("<h2>maximum Tanimoto to the training compounds</h2>")
    parts.append(_bars(report.max_training_tanimoto))
    parts.append(f"<p><small>generated {escape(report.generated_at.isoformat(timespec='seconds'))}</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _overview(report: MonitorReport) -> str:
    lines = [f"{report.pairs:,} pairs in the window; {report.dropped:,} dropped by the scorer since the reset"]
    reference = report.reference
    if reference is None:
        lines.append(f"no reference: {report.no_reference or 'none taken yet'}")
    else:
        lines.append(
            f"reference: dataset {reference.dataset_name} ({reference.dataset_id[:12]}), {reference.rows:,} rows, "
            f"a sample of {reference.sample_rows:,}"
        )
        if report.drift_share is None:
            lines.append("dataset drift: not tested (too few pairs in the window)")
        else:
            verdict = "yes" if report.dataset_drift else "no"
            lines.append(
                f"dataset drift: {verdict} ({report.features_drifted} of {report.features_tested} features drifted, "
                f"share {report.drift_share:.2f})"
            )
    if report.out_of_domain_share is not None:
        lines.append(f"out of the model's domain: {report.out_of_domain_share:.1%} of {report.domain_pairs:,} pairs")
    return "".join(f"<p>{escape(line)}</p>" for line in lines)


def _feature_table(features: list[FeatureDrift]) -> str:
    rows = []
    for f in features:
        cells = [
            f.feature,
            _number(f.reference.mean),
            _number(f.current.mean),
            _number(f.reference.quantile(0.5)),
            _number(f.current.quantile(0.5)),
            f.statistic or "not tested",
            _number(f.value),
            _number(f.psi),
        ]
        verdict = '<td class="drifted">drifted</td>' if f.drifted else "<td>no</td>"
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + verdict + "</tr>")
    header = "".join(
        f"<th>{h}</th>"
        for h in ("feature", "mean (ref)", "mean", "median (ref)", "median", "statistic", "value", "PSI", "drift")
    )
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _decision(feature: FeatureDrift) -> str:
    if feature.statistic is None:
        return f"not tested: {feature.current.n:,} values in the window are too few"
    verdict = "drifted" if feature.drifted else "no drift"
    psi = f"; PSI {feature.psi:.3f}" if feature.psi is not None else ""
    return f"{feature.statistic} {feature.value:.4g} (threshold {feature.threshold:g}): {verdict}{psi}"


def _bars(bins: Bins) -> str:
    """Each bin's share of the reference (grey) and of the window (blue), side by side."""
    sides = [(bins.reference, REFERENCE_COLOUR), (bins.current, CURRENT_COLOUR)]
    shares = [(_shares(counts), colour) for counts, colour in sides if counts is not None]
    tallest = max((s for side, _ in shares for s in side), default=0.0) or 1.0
    slot = WIDTH / len(bins.current)
    bar = slot * 0.8 / len(shares)
    shapes = []
    for i in range(len(bins.current)):
        for j, (side, colour) in enumerate(shares):
            height = (HEIGHT - 10) * side[i] / tallest
            x = i * slot + slot * 0.1 + j * bar
            shapes.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - height:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colour}"><title>{escape(_bin_label(bins.edges, i))}: {side[i]:.1%}</title></rect>'
            )
    for i, edge in enumerate(bins.edges, start=1):
        shapes.append(f'<text x="{i * slot:.1f}" y="{HEIGHT + 14}" text-anchor="middle">{escape(_number(edge))}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + AXIS}" role="img">'
        f'<line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" stroke="#999"/>{"".join(shapes)}</svg>'
    )


def _legend(reference: str, current: str) -> str:
    return (
        f'<p class="legend"><span style="background:{REFERENCE_COLOUR}"></span>{escape(reference)}'
        f'<span style="background:{CURRENT_COLOUR}"></span>{escape(current)}</p>'
    )


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _bin_label(edges: list[float], i: int) -> str:
    if not edges:
        return "every value"
    if i == 0:
        return f"≤ {_number(edges[0])}"
    if i == len(edges):
        return f"> {_number(edges[-1])}"
    return f"{_number(edges[i - 1])} – {_number(edges[i])}"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"
