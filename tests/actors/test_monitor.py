"""The Monitor grain on a real local Ray cluster: its reference, flushes recorded once, windows, a
state that outlives its host, reset; and the services and client over it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from repurpose.actors.dataset_version import DatasetVersion
from repurpose.actors.model_registry import register_model_dir
from repurpose.actors.monitor import Monitor
from repurpose.contracts.datasets import DescriptorProfile
from repurpose.contracts.models import ModelLineage
from repurpose.contracts.monitoring import MonitorReport
from repurpose.contracts.training import KnnTraining
from repurpose.data.descriptors import describe_compounds
from repurpose.errors import InvalidInput, ModelNotFound, ScreenNotFound
from repurpose.grains import GrainClient
from repurpose.monitoring.sketch import TrafficSketch
from repurpose.services.in_process import InProcessClient
from tests.helpers import (
    SAMPLE_TEST,
    SAMPLE_TRAIN,
    SAMPLE_VAL,
    both_stores,
    kill_host,
    register_dataset,
    wait_for_new_host,
)

pytestmark = pytest.mark.slow

NAME = "knn-monitored"
JOB = "scr-0123456789ab"


def registered(client: GrainClient, model_dir: Path, name: str = NAME, *, with_lineage: bool = True) -> str:
    """Register the sample's training rows as a dataset and ``model_dir`` as version 1 of ``name``
    trained on it (or from files: no dataset in its lineage); the dataset's id."""
    dataset = register_dataset(client, SAMPLE_TRAIN.read_bytes(), filename="train.csv", name="sample-train")
    lineage = ModelLineage(
        source="run:monitor-test" if with_lineage else "bundled:files",
        dataset_id=dataset.dataset_id if with_lineage else None,
        code_version="0.1.0",
        training=KnnTraining(),
    )
    register_model_dir(client, name, model_dir, lineage)
    return dataset.dataset_id


def sketch_of(path: Path, edges: dict[str, list[float]], seed: int) -> TrafficSketch:
    """A pair file's pairs as the scorer sketches them (scores: the labels; a third out of the domain)."""
    pairs = pd.read_csv(path)
    size = len(pairs)
    sketch = TrafficSketch.empty(edges, seed=seed)
    sketch.add(
        describe_compounds(pairs["SMILES"].tolist()),
        pairs["Protein"].str.len().tolist(),
        pairs["Y"].astype(float).tolist(),
        [0.2 if i % 3 == 0 else 0.6 for i in range(size)],
        [i % 3 != 0 for i in range(size)],
    )
    return sketch


@both_stores
def test_record_report_and_a_state_that_outlives_its_host(client: GrainClient, knn_model_dir: Path) -> None:
    dataset_id = registered(client, knn_model_dir)
    profile: DescriptorProfile = client.call(DatasetVersion, dataset_id, "profile")

    edges = client.call(Monitor, NAME, "edges")  # the reference is taken on first use
    assert edges == {name: feature.histogram.edges for name, feature in profile.features.items()}
    val, test = sketch_of(SAMPLE_VAL, edges, seed=1), sketch_of(SAMPLE_TEST, edges, seed=2)
    assert client.call(Monitor, NAME, "record", val, None, "flush-1") is True
    assert client.call(Monitor, NAME, "record", val, None, "flush-1") is False  # a retried flush counts once
    assert client.call(Monitor, NAME, "record", test, JOB, "flush-2") is True
    assert client.call(Monitor, NAME, "dropped", 7) == 7

    report: MonitorReport = client.call(Monitor, NAME, "report", "pairs")
    assert (report.pairs, report.dropped) == (val.n + test.n, 7) == (74, 7)
    assert report.reference is not None and report.no_reference is None
    assert (report.reference.dataset_id, report.reference.source, report.reference.model_version) == (
        dataset_id,
        "lineage",
        1,
    )
    assert report.reference.rows == report.reference.sample_rows == 172  # a small dataset: every row sampled
    assert report.features_tested == 8 and all(f.statistic == "ks_p_value" for f in report.features)
    assert report.out_of_domain_share == pytest.approx((9 + 17) / 74)  # rows 0, 3, 6, … of each file
    assert report.score.baseline is None and report.score_drift is None  # fewer than 1,000 pairs so far
    job: MonitorReport = client.call(Monitor, NAME, "report", f"job:{JOB}")
    assert job.pairs == 49 and job.window == f"job:{JOB}"
    assert client.call(Monitor, NAME, "report", "hour").pairs == 74

    killed = kill_host(client, Monitor, NAME)
    wait_for_new_host(client, Monitor, NAME, killed)
    again: MonitorReport = client.call(Monitor, NAME, "report", "pairs")
    assert (again.pairs, again.dropped, again.reference) == (74, 7, report.reference)
    assert [f.value for f in again.features] == [f.value for f in report.features]
    assert client.call(Monitor, NAME, "record", val, None, "flush-1") is False  # still known after the restart

    fresh: MonitorReport = client.call(Monitor, NAME, "reset")
    assert (fresh.pairs, fresh.dropped, fresh.features_tested) == (0, 0, 0)
    assert fresh.reference is not None and fresh.reference.dataset_id == dataset_id
    with pytest.raises(ScreenNotFound, match=f"holds no pairs of screening job {JOB}"):
        client.call(Monitor, NAME, "report", f"job:{JOB}")


def test_a_sketch_on_other_edges_or_a_bad_window_is_refused(client: GrainClient, knn_model_dir: Path) -> None:
    registered(client, knn_model_dir)
    with pytest.raises(InvalidInput, match="binned on other edges"):
        client.call(Monitor, NAME, "record", TrafficSketch.empty({}), None, "flush-1")
    with pytest.raises(InvalidInput, match="not a monitor window"):
        client.call(Monitor, NAME, "report", "week")
    with pytest.raises(InvalidInput, match="not a screening job id"):
        client.call(Monitor, NAME, "record", TrafficSketch.empty({}), "job-7", "flush-2")
    with pytest.raises(ModelNotFound):
        client.call(Monitor, "no-such-model", "report")


def test_a_model_trained_from_files_has_no_reference_until_one_is_given(
    client: GrainClient, in_process: InProcessClient, knn_model_dir: Path
) -> None:
    registered(client, knn_model_dir, "knn-from-files", with_lineage=False)
    report = in_process.monitor("knn-from-files")
    assert report.reference is None and report.features == [] and not report.dataset_drift
    assert report.no_reference is not None and "knn-from-files v1 names no training dataset" in report.no_reference
    assert "repurpose monitor reset knn-from-files --reference DATASET" in report.no_reference
    assert client.call(Monitor, "knn-from-files", "edges") == {}
    sketch = sketch_of(SAMPLE_VAL, {}, seed=3)  # without edges, still counted
    assert client.call(Monitor, "knn-from-files", "record", sketch, None, "flush-1") is True
    assert in_process.monitor("knn-from-files").pairs == 25

    given = in_process.reset_monitor("knn-from-files", reference="sample-train")
    assert given.reference is not None and given.reference.source == "given" and given.reference.model_version is None
    assert given.reference.dataset_name == "sample-train" and given.no_reference is None and given.pairs == 0
    page = in_process.monitor_page("knn-from-files")
    assert page.startswith("<!doctype html>") and page.count("<svg") == 10
    with pytest.raises(InvalidInput, match="not a monitor window") as refused:
        in_process.monitor("knn-from-files", window="week")
    assert getattr(refused.value, "field", None) == "window"
