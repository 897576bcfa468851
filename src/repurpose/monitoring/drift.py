"""Drift statistics: a window's sketch against the reference, computed by scipy, decided as
Evidently's default data-drift algorithm decides (docs.evidentlyai.com, "Data drift algorithm").

Per feature, by the size of the reference and the distinct values of the feature (counted over
both samples; more than ``CATEGORICAL_MAX_DISTINCT`` makes it numerical):

    reference rows      numerical                               categorical (≤ 5 distinct values)
    ≤ 1,000             two-sample Kolmogorov–Smirnov test,     chi² test, drift when p < 0.05
                        drift when p < 0.05
    > 1,000             Wasserstein distance normed by the      Jensen–Shannon distance,
                        reference's std, drift when ≥ 0.1       drift when ≥ 0.1

The tests run on the samples: the reference's sample of rows (``monitoring.reference``) and the
window's uniform sample (``monitoring.reservoir``), each at most 1,000 values. The chi² test is
Pearson's on the 2 × k table of the two samples' counts per value (``chi2_contingency``,
no continuity correction); the Wasserstein distance is divided by the reference's standard
deviation, floored at 0.001 as Evidently does. Dataset drift: at least half the features tested
drifted (``DATASET_DRIFT_SHARE``, Evidently's default).

Besides the decision, each feature gets its population stability index on the reference's own
bins: Σ (c − r) ln(c / r) over the bin fractions, floored at ``PSI_FLOOR`` (written as the sum of
the two relative entropies, ``scipy.special.rel_entr``). It uses every pair of the window, not a
sample, and is reported only: the decision stays Evidently's.

Tests give p-values that hold at any sample size; a distance does not: between samples of
the same distribution it shrinks only as the samples grow, and Evidently's 0.1 is meant for
large ones. Measured on the Human training data (reference: the seeded 1,000 rows; current:
other rows drawn at random, 20 draws each), the normed Wasserstein distance flagged on average
5.9 of the 8 features at 100 pairs, 2.4 at 200, 1.1 at 300, 0.3 at 500 and 0.05 at 1,000. So a
distance is computed only on a window sample of at least ``MIN_VALUES_FOR_DISTANCES`` values (a
test on at least ``MIN_VALUES_FOR_TESTS``); below that the feature is reported untested. Evidently
tests whatever it is given; these floors are ours. Scores are compared the same way with the
monitor's baseline: the scores of its first pairs (``ScoreDrift``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from repurpose.contracts.datasets import Quantile
from repurpose.contracts.monitoring import Bins, FeatureDrift, MonitorReport, ScoreDrift, Statistic, ValueSummary
from repurpose.data.descriptors import PROFILE_FEATURES, QUANTILE_LEVELS
from repurpose.monitoring.reference import Reference
from repurpose.monitoring.sketch import SCORE, Binned, TrafficSketch

SMALL_REFERENCE_ROWS = 1_000
"""Up to this many reference rows, tests (p-values); above, distances."""
CATEGORICAL_MAX_DISTINCT = 5
P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
WASSERSTEIN_MIN_STD = 0.001
DATASET_DRIFT_SHARE = 0.5
PSI_FLOOR = 1e-4
MIN_VALUES_FOR_TESTS = 10
MIN_VALUES_FOR_DISTANCES = 500
"""Below this many values in the window's sample a distance is not computed (see the module's docs)."""


@dataclass(frozen=True)
class Decision:
    statistic: Statistic
    value: float
    threshold: float
    drifted: bool


def choose_statistic(reference_rows: int, distinct: int) -> Statistic:
    """The statistic Evidently's defaults pick for a numerical feature."""
    numerical = distinct > CATEGORICAL_MAX_DISTINCT
    if reference_rows <= SMALL_REFERENCE_ROWS:
        return "ks_p_value" if numerical else "chi2_p_value"
    return "wasserstein_normed" if numerical else "jensen_shannon"


def threshold_of(statistic: Statistic) -> float:
    return P_VALUE_THRESHOLD if statistic.endswith("_p_value") else DISTANCE_THRESHOLD


def compare(reference: np.ndarray, current: np.ndarray, reference_rows: int) -> Decision:
    """Whether ``current`` drifted from ``reference`` (two samples, neither empty)."""
    values = np.unique(np.concatenate([reference, current]))
    statistic = choose_statistic(reference_rows, len(values))
    if statistic == "ks_p_value":
        value = float(ks_2samp(reference, current).pvalue)
    elif statistic == "wasserstein_normed":
        value = float(wasserstein_distance(reference, current) / max(float(np.std(reference)), WASSERSTEIN_MIN_STD))
    else:
        table = np.array([_counts_of(reference, values), _counts_of(current, values)])
        if statistic == "chi2_p_value":
            value = float(chi2_contingency(table, correction=False).pvalue)
        else:
            value = float(jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum()))
    threshold = threshold_of(statistic)
    drifted = value < threshold if statistic.endswith("_p_value") else value >= threshold
    return Decision(statistic, value, threshold, bool(drifted))


def psi(reference_counts: list[int], current_counts: list[int]) -> float | None:
    """The population stability index of two histograms on the same bins (None if either is empty)."""
    reference = np.asarray(reference_counts, dtype=np.float64)
    current = np.asarray(current_counts, dtype=np.float64)
    if reference.sum() == 0 or current.sum() == 0:
        return None
    r = np.maximum(reference / reference.sum(), PSI_FLOOR)
    c = np.maximum(current / current.sum(), PSI_FLOOR)
    return float(np.sum(rel_entr(c, r) + rel_entr(r, c)))


def feature_drift(name: str, reference: Reference, current: Binned, sample: np.ndarray) -> FeatureDrift:
    """One feature of a window (its counts and its sample's values) against the reference."""
    profile = reference.features[name]
    decision = _decide(np.asarray(reference.samples[name], dtype=np.float64), sample, reference.rows)
    return FeatureDrift(
        feature=name,
        reference=ValueSummary(n=profile.n, mean=profile.mean, quantiles=list(profile.quantiles)),
        current=summary(current, sample),
        statistic=decision.statistic if decision else None,
        value=decision.value if decision else None,
        threshold=decision.threshold if decision else _default_threshold(reference.rows),
        drifted=decision.drifted if decision else False,
        psi=psi(profile.histogram.counts, current.counts),
        bins=Bins(edges=list(current.edges), reference=list(profile.histogram.counts), current=list(current.counts)),
    )


def score_drift(baseline: TrafficSketch | None, current: TrafficSketch) -> ScoreDrift:
    """The window's scores against the baseline's (None: no baseline yet)."""
    sample = current.sample.column(SCORE)
    decision = None
    if baseline is not None:
        decision = _decide(baseline.sample.column(SCORE), sample, baseline.n)
    return ScoreDrift(
        baseline=summary(baseline.scores, baseline.sample.column(SCORE)) if baseline is not None else None,
        current=summary(current.scores, sample),
        statistic=decision.statistic if decision else None,
        value=decision.value if decision else None,
        threshold=decision.threshold if decision else P_VALUE_THRESHOLD,
        drifted=decision.drifted if decision else None,
        bins=Bins(
            edges=list(current.scores.edges),
            reference=list(baseline.scores.counts) if baseline is not None else None,
            current=list(current.scores.counts),
        ),
    )


def monitor_report(
    *,
    model: str,
    window: str,
    sketch: TrafficSketch,
    reference: Reference | None,
    no_reference: str | None,
    baseline: TrafficSketch | None,
    dropped: int,
    since: dt.datetime | None,
) -> MonitorReport:
    """A window's report: every feature against the reference, the scores against the baseline, the domain."""
    features = (
        [feature_drift(name, reference, sketch.features[name], sketch.sample.column(name)) for name in PROFILE_FEATURES]
        if reference is not None
        else []
    )
    tested = [f for f in features if f.statistic is not None]
    drifted = sum(f.drifted for f in tested)
    share = drifted / len(tested) if tested else None
    scores = score_drift(baseline, sketch)
    tanimoto = sketch.max_training_tanimoto
    return MonitorReport(
        model=model,
        window=window,
        reference=reference.info() if reference is not None else None,
        no_reference=None if reference is not None else no_reference,
        pairs=sketch.n,
        dropped=dropped,
        features=features,
        features_tested=len(tested),
        features_drifted=drifted,
        drift_share=share,
        dataset_drift=share is not None and share >= DATASET_DRIFT_SHARE,
        out_of_domain_share=sketch.out_of_domain / sketch.domain_known if sketch.domain_known else None,
        domain_pairs=sketch.domain_known,
        max_training_tanimoto=Bins(edges=list(tanimoto.edges), reference=None, current=list(tanimoto.counts)),
        score=scores,
        score_drift=scores.drifted,
        monitoring_since=since,
        generated_at=dt.datetime.now(dt.UTC),
    )


def summary(binned: Binned, sample: np.ndarray) -> ValueSummary:
    """Count and mean of every value, quantiles of the sample."""
    quantiles = np.quantile(sample, QUANTILE_LEVELS) if sample.size else []
    return ValueSummary(
        n=binned.n,
        mean=binned.mean,
        quantiles=[Quantile(level=level, value=float(v)) for level, v in zip(QUANTILE_LEVELS, quantiles, strict=False)],
    )


def _decide(reference: np.ndarray, current: np.ndarray, reference_rows: int) -> Decision | None:
    distances = reference_rows > SMALL_REFERENCE_ROWS
    if reference.size == 0 or current.size < (MIN_VALUES_FOR_DISTANCES if distances else MIN_VALUES_FOR_TESTS):
        return None
    return compare(reference, current, reference_rows)


def _default_threshold(reference_rows: int) -> float:
    return P_VALUE_THRESHOLD if reference_rows <= SMALL_REFERENCE_ROWS else DISTANCE_THRESHOLD


def _counts_of(sample: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How often each of ``values`` (sorted, distinct, holding every value of ``sample``) occurs in it."""
    return np.bincount(np.searchsorted(values, sample), minlength=len(values))
