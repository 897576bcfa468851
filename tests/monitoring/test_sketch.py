"""TrafficSketch: what a batch of scored pairs adds, how sketches merge, what they refuse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from repurpose.data.descriptors import COMPOUND_DESCRIPTORS, PROFILE_FEATURES, bin_counts
from repurpose.errors import InvalidInput
from repurpose.monitoring.sketch import SCORE, UNIT_EDGES, TrafficSketch

EDGES = {name: [1.0, 2.0, 5.0] for name in PROFILE_FEATURES}


def batch(size: int, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    descriptors = pd.DataFrame({name: rng.integers(0, 8, size).astype(float) for name in COMPOUND_DESCRIPTORS})
    tanimoto = [None if i % 4 == 0 else float(t) for i, t in enumerate(rng.random(size))]
    return {
        "descriptors": descriptors,
        "protein_lengths": rng.integers(0, 8, size).tolist(),
        "scores": rng.random(size).tolist(),
        "max_training_tanimoto": tanimoto,
        "in_domain": [None if t is None else t >= 0.3 for t in tanimoto],
    }


def test_add_bins_counts_and_samples_every_pair() -> None:
    sketch = TrafficSketch.empty(EDGES, seed=1)
    pairs = batch(40)
    sketch.add(**pairs)  # type: ignore[arg-type]
    descriptors = pairs["descriptors"]
    assert isinstance(descriptors, pd.DataFrame)
    assert sketch.n == 40
    for name in COMPOUND_DESCRIPTORS:
        assert sketch.features[name].counts == bin_counts(descriptors[name].to_numpy(), EDGES[name])
        assert sketch.features[name].total == pytest.approx(descriptors[name].sum())
    assert sketch.features["protein_length"].counts == bin_counts(pairs["protein_lengths"], EDGES["protein_length"])  # type: ignore[arg-type]
    assert sketch.scores.counts == bin_counts(pairs["scores"], UNIT_EDGES)  # type: ignore[arg-type]
    assert len(sketch.sample) == 40 and sorted(sketch.sample.columns[SCORE]) == sorted(
        round(s, 4)
        for s in pairs["scores"]  # type: ignore[attr-defined]
    )
    known = [t for t in pairs["max_training_tanimoto"] if t is not None]  # type: ignore[attr-defined]
    assert sketch.domain_known == len(known) == sketch.max_training_tanimoto.n
    assert sketch.out_of_domain == sum(t < 0.3 for t in known)


def test_merge_equals_one_sketch_of_both_batches() -> None:
    first, second = TrafficSketch.empty(EDGES, seed=1), TrafficSketch.empty(EDGES, seed=2)
    first.add(**batch(30, seed=1))  # type: ignore[arg-type]
    second.add(**batch(50, seed=2))  # type: ignore[arg-type]
    merged = first.merge(second, capacity=20)
    assert merged.n == 80 and len(merged.sample) == 20 and merged.sample.seen == 80
    for name in PROFILE_FEATURES:
        both = [a + b for a, b in zip(first.features[name].counts, second.features[name].counts, strict=True)]
        assert merged.features[name].counts == both
    assert merged.domain_known == first.domain_known + second.domain_known
    assert merged.out_of_domain == first.out_of_domain + second.out_of_domain
    assert TrafficSketch.model_validate_json(merged.model_dump_json()) == merged  # it travels as JSON


def test_sketches_of_other_edges_do_not_merge() -> None:
    other = TrafficSketch.empty({**EDGES, "logp": [0.0, 3.0]})
    with pytest.raises(InvalidInput, match="different edges"):
        TrafficSketch.empty(EDGES).merge(other)


def test_without_edges_every_feature_has_one_bin() -> None:
    sketch = TrafficSketch.empty({})
    sketch.add(**batch(12))  # type: ignore[arg-type]
    assert all(binned.counts == [12] for binned in sketch.features.values())
    assert sketch.edges() == {name: [] for name in PROFILE_FEATURES}


def test_add_refuses_a_batch_of_uneven_lengths_or_missing_descriptors() -> None:
    pairs = batch(5)
    with pytest.raises(InvalidInput, match="5 scores, but in_domain has 4"):
        TrafficSketch.empty(EDGES).add(**{**pairs, "in_domain": [True] * 4})  # type: ignore[arg-type]
    descriptors = pairs["descriptors"]
    assert isinstance(descriptors, pd.DataFrame)
    with pytest.raises(InvalidInput, match="lack the column"):
        TrafficSketch.empty(EDGES).add(**{**pairs, "descriptors": descriptors.drop(columns=["logp"])})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="finite and increasing"):
        TrafficSketch.empty({"logp": [2.0, 1.0]})
    with pytest.raises(InvalidInput, match="no feature colour"):
        TrafficSketch.empty({"colour": [1.0]})


def test_the_same_seed_and_batches_give_the_same_sketch() -> None:
    def sketched(seed: int) -> TrafficSketch:
        sketch = TrafficSketch.empty(EDGES, capacity=10, seed=seed)
        sketch.add(**batch(60))  # type: ignore[arg-type]
        return sketch

    assert sketched(3) == sketched(3)
    assert sketched(3).sample != sketched(4).sample


def test_a_sketch_read_from_json_must_be_whole() -> None:
    document = TrafficSketch.empty(EDGES, seed=1).model_dump(mode="json")
    del document["features"]["logp"]
    with pytest.raises(ValidationError, match="a sketch has the features"):
        TrafficSketch.model_validate(document)
    document = TrafficSketch.empty(EDGES, seed=1).model_dump(mode="json")
    document["features"]["logp"]["counts"] = [0]
    with pytest.raises(ValidationError, match="3 edges make 4 bins, not 1"):
        TrafficSketch.model_validate(document)
    document = TrafficSketch.empty(EDGES, seed=1).model_dump(mode="json")
    document["sample"]["keys"] = [1]
    with pytest.raises(ValidationError, match="one key and one value per column"):
        TrafficSketch.model_validate(document)


def test_a_sketch_read_back_in_another_key_order_is_the_same() -> None:
    """PostgreSQL's JSONB keeps an object's keys in an order of its own."""
    sketch = TrafficSketch.empty(EDGES, seed=1)
    sketch.add(**batch(10))  # type: ignore[arg-type]
    document = sketch.model_dump(mode="json")
    document["features"] = dict(reversed(document["features"].items()))
    document["sample"]["columns"] = dict(reversed(document["sample"]["columns"].items()))
    again = TrafficSketch.model_validate(document)
    assert again == sketch and tuple(again.features) == PROFILE_FEATURES
