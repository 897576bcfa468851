"""The Monitor at the boundaries: what showing a model's monitor answers (``MonitorReport``).

A monitor compares a window of a model's live traffic with a reference: the descriptor profile
of the dataset version the model was trained on, and a sample of that dataset's rows. Per
feature it reports both sides in a few figures, the population stability index on the
reference's bins, and the statistic that decides drift (``Statistic``, chosen as Evidently's
defaults choose: see ``repurpose.monitoring.drift``).

Windows (``MonitorWindow``): ``pairs`` (the last N pairs scored, the setting
``monitor_window_pairs``), ``hour``, ``day``, or ``job:<screening job id>``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field

from repurpose.contracts.base import Contract
from repurpose.contracts.datasets import Quantile
from repurpose.contracts.ids import SCREEN_ID_PATTERN
from repurpose.errors import InvalidInput

MONITOR_WINDOW_PATTERN = rf"^(?:pairs|hour|day|job:{SCREEN_ID_PATTERN.strip('^$')})$"
"""A monitor's window: ``pairs``, ``hour``, ``day`` or ``job:scr-<12 hex digits>``."""
DEFAULT_WINDOW = "pairs"

Statistic = Literal["ks_p_value", "chi2_p_value", "wasserstein_normed", "jensen_shannon"]
"""``*_p_value``: a test's p-value, drift below the threshold; the others: a distance, drift at or above it."""
ReferenceSource = Literal["lineage", "given"]


def check_window(window: str) -> str:
    """``window`` if it names a monitor window, else InvalidInput saying which ones there are."""
    if not isinstance(window, str) or not re.fullmatch(MONITOR_WINDOW_PATTERN, window):
        raise InvalidInput(
            f"{window!r:.80} is not a monitor window: use pairs (the last pairs scored), hour, day, or job:<screen id>"
        )
    return window


class ReferenceInfo(Contract):
    """Where a monitor's reference comes from."""

    dataset_id: str
    dataset_name: str
    rows: int = Field(description="Rows of the dataset version (its descriptor profile's).")
    sample_rows: int = Field(description="Rows drawn (seeded) for the two-sample statistics.")
    source: ReferenceSource = Field(
        description="lineage: the dataset the model version was trained on; given: named at the monitor's reset."
    )
    model_version: int | None = Field(description="The model version whose lineage named it (None: given).")
    created_at: dt.datetime


class ValueSummary(Contract):
    """A distribution in a few figures: count, mean and quantiles (the window's from its sample)."""

    n: int
    mean: float | None
    quantiles: list[Quantile]

    def quantile(self, level: float) -> float | None:
        return next((q.value for q in self.quantiles if q.level == level), None)


class Bins(Contract):
    """Counts on right-closed bins with open outer ends (``len(edges) + 1`` counts)."""

    edges: list[float]
    reference: list[int] | None = Field(description="None: nothing to compare with.")
    current: list[int]


class FeatureDrift(Contract):
    feature: str
    reference: ValueSummary
    current: ValueSummary
    statistic: Statistic | None = Field(description="None: the window holds too few values to test.")
    value: float | None = Field(description="The p-value or the distance.")
    threshold: float
    drifted: bool
    psi: float | None = Field(description="Population stability index on the reference's bins (not the decision).")
    bins: Bins


class ScoreDrift(Contract):
    """The window's scores against the baseline: the first scores the monitor saw after its reset
    (no score exists for the reference rows: the model never scored its training data here)."""

    baseline: ValueSummary | None = Field(description="None: the baseline is still filling.")
    current: ValueSummary
    statistic: Statistic | None
    value: float | None
    threshold: float
    drifted: bool | None = Field(description="None: no baseline yet, or too few scores in the window.")
    bins: Bins


class MonitorReport(Contract):
    """A model's live traffic in one window, against its reference."""

    model: str
    window: str
    reference: ReferenceInfo | None
    no_reference: str | None = Field(description="Why there is no reference (None when there is one).")
    pairs: int = Field(description="Pairs in the window.")
    dropped: int = Field(description="Pairs the scorer could not hand to the monitor (a full queue), since reset.")
    features: list[FeatureDrift]
    features_tested: int
    features_drifted: int
    drift_share: float | None = Field(description="features_drifted / features_tested; None: none tested.")
    dataset_drift: bool = Field(description="At least half the features tested drifted.")
    out_of_domain_share: float | None = Field(
        description="Of the window's pairs with an applicability-domain flag, the share out of the domain."
    )
    domain_pairs: int = Field(description="Pairs with an applicability-domain flag.")
    max_training_tanimoto: Bins = Field(description="The window's maximum Tanimoto to the training compounds.")
    score: ScoreDrift
    score_drift: bool | None = Field(description="The scores drifted from the baseline (None: not tested).")
    monitoring_since: dt.datetime | None = Field(description="The monitor's last reset (or its first use).")
    generated_at: dt.datetime
