"""Monitors: a model's live traffic against the data it was trained on (``actors.monitor``).

Showing a monitor reports one window (``pairs``, ``hour``, ``day`` or ``job:<screen id>``); the
report page draws the same report as HTML; a reset forgets the windows and takes the reference
again, from the model's lineage or from a dataset version named by id, unique prefix or name.
"""

from __future__ import annotations

import asyncio

from repurpose.actors.dataset_version import resolve_dataset
from repurpose.actors.monitor import Monitor
from repurpose.contracts.models import check_model_name
from repurpose.contracts.monitoring import DEFAULT_WINDOW, MonitorReport, check_window
from repurpose.errors import blame
from repurpose.monitoring.report_page import report_page
from repurpose.services.context import Context


async def show_monitor(ctx: Context, *, model: str, window: str = DEFAULT_WINDOW) -> MonitorReport:
    """One window of a model's monitor against its reference."""
    check_model_name(model)
    with blame("window"):
        check_window(window)
    report: MonitorReport = await ctx.grains.acall(Monitor, model, "report", window)
    return report


async def monitor_page(ctx: Context, *, model: str, window: str = DEFAULT_WINDOW) -> str:
    """The same report as one HTML page: per feature the reference's and the window's histograms."""
    return report_page(await show_monitor(ctx, model=model, window=window))


async def reset_monitor(ctx: Context, *, model: str, reference: str | None = None) -> MonitorReport:
    """Forget the monitor's windows and take its reference again (from ``reference``, a dataset
    version, when given); the empty report of the last pairs."""
    check_model_name(model)
    dataset_id = None
    if reference is not None:
        with blame("reference"):
            dataset_id = await asyncio.to_thread(resolve_dataset, ctx.engine, reference)
    report: MonitorReport = await ctx.grains.acall(Monitor, model, "reset", dataset_id)
    return report
