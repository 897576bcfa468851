"""Drift statistics: each against scipy on synthetic samples, Evidently's choice of statistic, the
dataset-level rule, and the Human and BioSNAP pairs against a Human training reference."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from repurpose.contracts.datasets import FeatureProfile, Histogram
from repurpose.data.descriptors import PROFILE_FEATURES, describe_compounds, descriptor_profile
from repurpose.monitoring.drift import (
    MIN_VALUES_FOR_DISTANCES,
    choose_statistic,
    compare,
    monitor_report,
    psi,
)
from repurpose.monitoring.reference import Reference, build_reference
from repurpose.monitoring.sketch import TrafficSketch
from tests.helpers import REPO_ROOT

HUMAN = REPO_ROOT / "data" / "human" / "random"
UNION = REPO_ROOT / "data" / "union" / "pairs.parquet"


def test_the_statistic_follows_evidently_s_defaults() -> None:
    assert choose_statistic(reference_rows=1000, distinct=6) == "ks_p_value"
    assert choose_statistic(reference_rows=1000, distinct=5) == "chi2_p_value"
    assert choose_statistic(reference_rows=1001, distinct=6) == "wasserstein_normed"
    assert choose_statistic(reference_rows=1001, distinct=2) == "jensen_shannon"


def test_ks_on_a_small_reference_finds_a_shift_and_no_shift_where_none_is() -> None:
    rng = np.random.default_rng(1)
    reference, same, shifted = rng.normal(0, 1, 800), rng.normal(0, 1, 600), rng.normal(0.5, 1, 600)
    calm, moved = compare(reference, same, 800), compare(reference, shifted, 800)
    assert (calm.statistic, moved.statistic) == ("ks_p_value", "ks_p_value")
    assert calm.value == ks_2samp(reference, same).pvalue and moved.value == ks_2samp(reference, shifted).pvalue
    assert not calm.drifted and calm.value >= 0.05
    assert moved.drifted and moved.value < 0.05 and moved.threshold == 0.05


def test_wasserstein_on_a_large_reference_is_normed_by_its_std() -> None:
    rng = np.random.default_rng(2)
    reference, same, shifted = rng.normal(10, 2, 1000), rng.normal(10, 2, 1000), rng.normal(11, 2, 1000)
    calm, moved = compare(reference, same, 4000), compare(reference, shifted, 4000)
    assert calm.statistic == moved.statistic == "wasserstein_normed"
    assert calm.value == wasserstein_distance(reference, same) / np.std(reference)
    assert moved.value == wasserstein_distance(reference, shifted) / np.std(reference)
    assert not calm.drifted and moved.drifted and moved.value >= 0.1 > calm.value


def test_few_values_are_categories_chi2_on_small_and_jensen_shannon_on_large_references() -> None:
    rng = np.random.default_rng(3)
    reference = rng.choice([0.0, 1.0, 2.0], 900, p=[0.5, 0.3, 0.2])
    same = rng.choice([0.0, 1.0, 2.0], 500, p=[0.5, 0.3, 0.2])
    shifted = rng.choice([0.0, 1.0, 2.0, 3.0], 500, p=[0.2, 0.3, 0.3, 0.2])  # a value the reference never had

    small = compare(reference, shifted, 900)
    table = [[np.sum(reference == v) for v in (0, 1, 2, 3)], [np.sum(shifted == v) for v in (0, 1, 2, 3)]]
    assert small.statistic == "chi2_p_value" and small.drifted
    assert small.value == chi2_contingency(np.array(table), correction=False).pvalue
    assert not compare(reference, same, 900).drifted

    large = compare(reference, shifted, 5000)
    expected = jensenshannon(np.array(table[0]) / sum(table[0]), np.array(table[1]) / sum(table[1]))
    assert large.statistic == "jensen_shannon" and large.value == pytest.approx(expected) and large.drifted
    assert not compare(reference, same, 5000).drifted


def test_psi_is_the_symmetric_relative_entropy_of_the_bins() -> None:
    reference, current = [50, 30, 20, 0], [20, 30, 40, 10]
    r = np.maximum(np.array(reference) / 100, 1e-4)
    c = np.maximum(np.array(current) / 100, 1e-4)
    assert psi(reference, current) == pytest.approx(float(np.sum((c - r) * np.log(c / r))))
    assert psi(reference, reference) == 0.0
    assert psi(reference, [0, 0, 0, 0]) is None


def synthetic_reference(rows: int, samples: dict[str, np.ndarray]) -> Reference:
    edges = [-1.0, 0.0, 1.0]
    profile = FeatureProfile(n=rows, mean=0.0, std=1.0, quantiles=[], histogram=Histogram(edges=edges, counts=[1] * 4))
    return Reference(
        dataset_id="0" * 64,
        dataset_name="synthetic",
        rows=rows,
        source="given",
        model_version=None,
        created_at=dt.datetime.now(dt.UTC),
        features=dict.fromkeys(PROFILE_FEATURES, profile),
        samples={name: samples[name].tolist() for name in PROFILE_FEATURES},
    )


def sketch_of(columns: dict[str, np.ndarray], edges: dict[str, list[float]]) -> TrafficSketch:
    size = len(columns[PROFILE_FEATURES[0]])
    sketch = TrafficSketch.empty(edges, seed=0)
    sketch.add(
        pd.DataFrame({name: columns[name] for name in PROFILE_FEATURES[:-1]}),
        columns["protein_length"].tolist(),
        [0.5] * size,
        [0.1] * size,
        [False] * (size // 4) + [True] * (size - size // 4),
    )
    return sketch


def test_dataset_drift_when_half_the_features_drift() -> None:
    rng = np.random.default_rng(4)
    samples = {name: rng.normal(0, 1, 1000) for name in PROFILE_FEATURES}
    reference = synthetic_reference(5000, samples)
    # a drifted feature: the reference's values moved by one std; the others: most of its own values
    half = {name: samples[name][:800] + (1.0 if i < 4 else 0.0) for i, name in enumerate(PROFILE_FEATURES)}
    fewer = {name: samples[name][:800] + (1.0 if i < 3 else 0.0) for i, name in enumerate(PROFILE_FEATURES)}

    drifted = report_on(reference, half)
    assert [f.drifted for f in drifted.features] == [True] * 4 + [False] * 4
    assert (drifted.features_tested, drifted.features_drifted, drifted.drift_share) == (8, 4, 0.5)
    assert drifted.dataset_drift and drifted.out_of_domain_share == 0.25 and drifted.domain_pairs == 800
    calm = report_on(reference, fewer)
    assert calm.features_drifted == 3 and not calm.dataset_drift


def test_a_distance_needs_enough_pairs_a_test_does_not() -> None:
    rng = np.random.default_rng(5)
    samples = {name: rng.normal(0, 1, 1000) for name in PROFILE_FEATURES}
    few = {name: rng.normal(3, 1, MIN_VALUES_FOR_DISTANCES - 1) for name in PROFILE_FEATURES}
    untested = report_on(synthetic_reference(5000, samples), few)
    assert untested.features_tested == 0 and untested.drift_share is None and not untested.dataset_drift
    assert all(f.statistic is None and f.value is None for f in untested.features)
    tested = report_on(synthetic_reference(900, samples), few)
    assert tested.features_tested == 8 and tested.dataset_drift  # KS p-values hold at any size


def report_on(reference: Reference, columns: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    sketch = sketch_of(columns, reference.edges())
    return monitor_report(
        model="m",
        window="pairs",
        sketch=sketch,
        reference=reference,
        no_reference=None,
        baseline=None,
        dropped=0,
        since=None,
    )


# --- the check, without the scorer: Human pairs do not drift from Human training data, BioSNAP's do ---


def pairs_of(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).rename(columns={"SMILES": "smiles", "Protein": "protein"})


@pytest.fixture(scope="module")
def human_reference() -> Reference:
    train = pairs_of(HUMAN / "train.csv")
    profile = descriptor_profile(train)
    return build_reference(
        train, profile, dataset_id="1" * 64, dataset_name="human", source="given", model_version=None
    )


def traffic(pairs: pd.DataFrame, reference: Reference) -> TrafficSketch:
    """The pairs as the scorer would sketch them, in batches of 100 flushed into one sketch each."""
    sketches = []
    for start in range(0, len(pairs), 100):
        part = pairs.iloc[start : start + 100]
        sketch = TrafficSketch.empty(reference.edges(), seed=start)
        size = len(part)
        sketch.add(
            describe_compounds(part["smiles"].tolist()),
            part["protein"].str.len().tolist(),
            part["Y"].astype(float).tolist(),
            [None] * size,
            [None] * size,
        )
        sketches.append(sketch)
    return TrafficSketch.combine(sketches, capacity=1000)


def test_human_validation_pairs_do_not_drift_from_the_human_training_data(human_reference: Reference) -> None:
    sketch = traffic(pairs_of(HUMAN / "val.csv"), human_reference)
    report = monitor_report(
        model="drugban-human",
        window="pairs",
        sketch=sketch,
        reference=human_reference,
        no_reference=None,
        baseline=None,
        dropped=0,
        since=None,
    )
    assert report.pairs == 600 and report.features_tested == 8
    assert all(f.statistic == "wasserstein_normed" for f in report.features)  # 4,197 reference rows
    assert not report.dataset_drift and report.drift_share is not None and report.drift_share < 0.5


def test_biosnap_pairs_drift_from_the_human_training_data(human_reference: Reference) -> None:
    union = pd.read_parquet(UNION)
    biosnap = union[union["source"] == "biosnap"].sample(1000, random_state=0)
    sketch = traffic(biosnap.rename(columns={"SMILES": "smiles", "Protein": "protein"}), human_reference)
    report = monitor_report(
        model="drugban-human",
        window="pairs",
        sketch=sketch,
        reference=human_reference,
        no_reference=None,
        baseline=None,
        dropped=0,
        since=None,
    )
    assert report.pairs == 1000 and report.features_tested == 8
    assert report.dataset_drift and report.drift_share is not None and report.drift_share >= 0.5
