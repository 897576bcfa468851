"""Target tensors in the artifact store: written, read back, recomputed when damaged, and
computed by the background worker for what the store lacks."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from repurpose.model.directory import load_model_dir
from repurpose.model.fast_scoring import FastScorer
from repurpose.model.published import publish_model_dir
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.scoring.target_store import TargetTensorStore, TargetTensorWorker, drugban_parts, sequence_key
from repurpose.settings import Settings
from tests.helpers import BUNDLED_DIR, random_protein


@pytest.fixture(scope="module")
def bundled() -> FastScorer:
    model = load_model_dir(BUNDLED_DIR).drugban
    assert model is not None
    return FastScorer(model)


def test_stored_tensors_read_back_as_they_were_written(tmp_path: Path, bundled: FastScorer) -> None:
    store = TargetTensorStore(ArtifactStore(str(tmp_path)))
    sequence = random_protein(400, seed=11)
    assert store.load("models/abc", sequence, bundled.width) is None and not store.has("models/abc", sequence)
    tensors = bundled.target_tensors(sequence)
    store.save("models/abc", sequence, tensors)
    again = store.load("models/abc", sequence, bundled.width)
    assert again is not None and torch.equal(again.flat(), tensors.flat())
    assert store.path("models/abc", sequence.lower()) == f"target-tensors/v1/models/abc/{sequence_key(sequence)}.npy"


def test_damaged_tensors_are_not_used(tmp_path: Path, bundled: FastScorer, caplog: pytest.LogCaptureFixture) -> None:
    store = TargetTensorStore(ArtifactStore(str(tmp_path)))
    sequence = random_protein(300, seed=12)
    store.artifacts.put_bytes(store.path("models/abc", sequence), b"not numpy")
    assert store.load("models/abc", sequence, bundled.width) is None
    assert "damaged" in caplog.text


def test_truncated_or_foreign_tensors_are_not_used(tmp_path: Path, bundled: FastScorer) -> None:
    store = TargetTensorStore(ArtifactStore(str(tmp_path)))
    sequence = random_protein(250, seed=15)
    store.save("models/abc", sequence, bundled.target_tensors(sequence))
    path = store.path("models/abc", sequence)
    whole = store.artifacts.get_bytes(path)
    store.artifacts.put_bytes(path, whole[:-4])  # one number short
    assert store.load("models/abc", sequence, bundled.width) is None
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(10, dtype=np.float64))
    store.artifacts.put_bytes(path, buffer.getvalue())
    assert store.load("models/abc", sequence, bundled.width) is None


def test_the_worker_computes_what_the_store_lacks(tmp_path: Path, bundled: FastScorer) -> None:
    settings = Settings(home=tmp_path)
    artifacts = ArtifactStore.from_settings(settings)
    model = publish_model_dir(artifacts, BUNDLED_DIR)
    assert [key for key, _ in drugban_parts(load_model_dir(BUNDLED_DIR), model)] == [model]
    store = TargetTensorStore(artifacts)
    sequences = [random_protein(200, seed=13), random_protein(900, seed=14)]
    worker = TargetTensorWorker(threads=None)

    def settle() -> None:
        deadline = time.monotonic() + 120
        while worker.pending() > 0:
            assert time.monotonic() < deadline, "the worker did not finish"
            time.sleep(0.05)

    worker.submit(settings, [model], sequences)
    settle()
    assert worker.counts() == {"computed": 2, "failed": 0, "pending": 0}
    for sequence in sequences:
        stored = store.load(model, sequence, bundled.width)
        assert stored is not None
        torch.testing.assert_close(stored.flat(), bundled.target_tensors(sequence).flat(), rtol=1e-5, atol=1e-3)
    worker.submit(settings, [model], sequences[:1])  # stored already: skipped
    settle()
    assert worker.counts()["computed"] == 2
