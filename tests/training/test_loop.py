"""DrugBAN training through ``training.pipeline.train_model``: model directory, determinism, resume."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from repurpose.contracts.training import EpochRecord
from repurpose.data.pairs import read_pairs
from repurpose.errors import CheckpointError
from repurpose.evaluation.classification_metrics import binary_metrics
from repurpose.model.directory import load_model_dir
from repurpose.training.loop import CHECKPOINT_FILE, Progress
from repurpose.training.pipeline import CHECKPOINT_DIR, evaluate_model, train_model
from tests.helpers import SAMPLE_TEST, SAMPLE_TRAIN, SAMPLE_VAL, assert_same_state, tiny_training_config

pytestmark = pytest.mark.slow


class Interrupted(Exception):
    """Stands for Ctrl-C or a killed job in the middle of an epoch."""


@pytest.fixture(scope="module")
def two_epoch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run A: two epochs straight, seed 42."""
    out = tmp_path_factory.mktemp("run-a") / "drugban"
    train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, tiny_training_config(epochs=2))
    return out


def checkpoint(model_dir: Path) -> dict[str, Any]:
    return torch.load(model_dir / CHECKPOINT_DIR / CHECKPOINT_FILE, weights_only=False)


def test_train_model_writes_loadable_drugban_dir(two_epoch_dir: Path) -> None:
    model = load_model_dir(two_epoch_dir, expected_type="drugban")

    assert model.drugban is not None and not model.drugban.training
    assert model.manifest.train_pairs == 172
    assert model.manifest.val_pairs == 25
    assert model.manifest.best_epoch in (1, 2)
    assert 0.0 < model.threshold < 1.0
    history = json.loads((two_epoch_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert "# Model card" in (two_epoch_dir / "MODEL_CARD.md").read_text()

    metrics = evaluate_model(two_epoch_dir, SAMPLE_TEST)

    test = read_pairs(SAMPLE_TEST)
    assert test.labels is not None
    assert metrics == binary_metrics(test.labels, model.predict(test), model.threshold)  # the figures of its scores
    assert metrics.n == 49 and metrics.threshold == model.threshold


def test_train_model_val_metrics_reproduced_by_loaded_dir(two_epoch_dir: Path) -> None:
    model = load_model_dir(two_epoch_dir)

    metrics = evaluate_model(two_epoch_dir, SAMPLE_VAL)

    assert metrics.auroc == pytest.approx(model.manifest.val_metrics.auroc, abs=1e-12)
    assert metrics.f1 == pytest.approx(model.manifest.val_metrics.f1, abs=1e-12)


def test_train_model_same_seed_gives_identical_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"

    train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, tiny_training_config())

    first, second = load_model_dir(tiny_model_dir).drugban, load_model_dir(out).drugban
    assert first is not None and second is not None
    assert_same_state(first.state_dict(), second.state_dict())


def test_train_model_resume_after_interruption_matches_straight_run(two_epoch_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run-b"
    epochs_seen: list[int] = []

    def interrupt_in_epoch_2(progress: Progress) -> None:
        if progress.epoch == 2 and progress.batch == 2:  # after two optimiser steps of epoch 2
            raise Interrupted

    with pytest.raises(Interrupted):
        train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, tiny_training_config(epochs=2), on_progress=interrupt_in_epoch_2)
    assert not (out / "manifest.json").exists()
    assert len(checkpoint(out)["history"]) == 1

    def record(r: EpochRecord) -> None:
        epochs_seen.append(r.epoch)

    train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, tiny_training_config(epochs=2), resume=True, on_epoch=record)

    assert epochs_seen == [2]  # epoch 1 came from the checkpoint
    straight, resumed = checkpoint(two_epoch_dir), checkpoint(out)
    assert_same_state(straight["model"], resumed["model"])  # last epoch's weights
    assert_same_state(straight["best_state"], resumed["best_state"])
    assert straight["best_epoch"] == resumed["best_epoch"]
    a, b = load_model_dir(two_epoch_dir).drugban, load_model_dir(out).drugban
    assert a is not None and b is not None
    assert_same_state(a.state_dict(), b.state_dict())
    losses = [[h["train_loss"] for h in c["history"]] for c in (straight, resumed)]
    assert losses[0] == losses[1]
    assert load_model_dir(two_epoch_dir).threshold == load_model_dir(out).threshold


def test_train_model_resume_with_other_seed_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = shutil.copytree(tiny_model_dir, tmp_path / "copy")

    with pytest.raises(CheckpointError, match="belongs to another run"):
        train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, tiny_training_config(epochs=2, seed=7), resume=True)


def test_train_model_resume_of_finished_run_trains_nothing(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = shutil.copytree(tiny_model_dir, tmp_path / "copy")
    epochs_seen: list[int] = []

    train_model(
        SAMPLE_TRAIN,
        SAMPLE_VAL,
        out,
        tiny_training_config(),
        resume=True,
        on_epoch=lambda r: epochs_seen.append(r.epoch),
    )

    assert epochs_seen == []
    a, b = load_model_dir(tiny_model_dir).drugban, load_model_dir(out).drugban
    assert a is not None and b is not None
    assert_same_state(a.state_dict(), b.state_dict())


def test_train_model_damaged_checkpoint_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = shutil.copytree(tiny_model_dir, tmp_path / "copy")
    (out / CHECKPOINT_DIR / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")

    with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
        train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, tiny_training_config(), resume=True)


def test_train_model_history_losses_are_finite(two_epoch_dir: Path) -> None:
    history = json.loads((two_epoch_dir / "history.json").read_text())

    assert all(math.isfinite(h["train_loss"]) and h["train_loss"] > 0 for h in history)
