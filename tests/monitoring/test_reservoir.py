"""The bottom-k sample: bounded, uniform, and merged exactly."""

from __future__ import annotations

import numpy as np
from scipy.stats import chisquare

from repurpose.monitoring.reservoir import KEY_RANGE, Reservoir


def filled(values: np.ndarray, capacity: int, seed: int) -> Reservoir:
    reservoir = Reservoir.empty(["x"], capacity)
    reservoir.add({"x": values}, np.random.default_rng(seed))
    return reservoir


def test_add_keeps_everything_up_to_capacity_then_the_smallest_keys() -> None:
    small = filled(np.arange(5.0), capacity=10, seed=1)
    assert (small.seen, len(small), small.threshold) == (5, 5, KEY_RANGE)
    assert sorted(small.columns["x"]) == [0.0, 1.0, 2.0, 3.0, 4.0]

    full = filled(np.arange(1000.0), capacity=10, seed=1)
    everything = filled(np.arange(1000.0), capacity=1000, seed=1)  # the same keys, none dropped
    assert (full.seen, len(full)) == (1000, 10)
    smallest = np.argsort(everything.keys)[:10]
    assert sorted(full.keys) == sorted(np.asarray(everything.keys)[smallest].tolist())
    assert full.threshold == sorted(everything.keys)[10]
    assert max(full.keys) < full.threshold


def test_rows_with_a_non_finite_value_are_counted_not_kept() -> None:
    reservoir = Reservoir.empty(["a", "b"], 10)
    reservoir.add({"a": np.array([1.0, np.nan, 3.0]), "b": np.array([4.0, 5.0, np.inf])}, np.random.default_rng(0))
    assert reservoir.seen == 3
    assert (reservoir.columns["a"], reservoir.columns["b"]) == ([1.0], [4.0])


def test_combine_is_the_sample_of_both_streams() -> None:
    """Merging two samples gives exactly what one sample of both streams, with the same keys, keeps."""
    first, second = np.arange(0.0, 700.0), np.arange(1000.0, 1300.0)
    merged = Reservoir.combine([filled(first, 50, seed=1), filled(second, 80, seed=2)], capacity=60)
    whole = Reservoir.combine([filled(first, 10_000, seed=1), filled(second, 10_000, seed=2)], capacity=60)
    assert merged.seen == whole.seen == 1000
    assert sorted(zip(merged.keys, merged.columns["x"], strict=True)) == sorted(
        zip(whole.keys, whole.columns["x"], strict=True)
    )


def test_resized_keeps_the_smallest_keys() -> None:
    reservoir = filled(np.arange(100.0), capacity=100, seed=3)
    shrunk = reservoir.resized(10)
    assert shrunk.seen == 100 and len(shrunk) == 10 and shrunk.capacity == 10
    assert sorted(shrunk.keys) == sorted(reservoir.keys)[:10]


def test_every_value_is_kept_equally_often() -> None:
    """Over many seeds each of 50 values lands in a 10-value sample about 1 time in 5."""
    hits = np.zeros(50)
    for seed in range(2000):
        parts = [filled(np.arange(30.0), 10, seed), filled(np.arange(30.0, 50.0), 10, seed + 9999)]
        reservoir = Reservoir.combine(parts, 10)
        hits[np.asarray(reservoir.columns["x"], dtype=int)] += 1
    assert hits.sum() == 2000 * 10
    assert chisquare(hits).pvalue > 0.001


def test_the_same_seed_gives_the_same_sample() -> None:
    values = np.linspace(0, 1, 500)
    assert filled(values, 20, seed=7) == filled(values, 20, seed=7)
    assert filled(values, 20, seed=7) != filled(values, 20, seed=8)
