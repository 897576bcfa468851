from __future__ import annotations

from pathlib import Path

import pytest

from repurpose.pipeline import train_model
from tests.helpers import SAMPLE_TRAIN, SAMPLE_VAL, tiny_training_config


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DrugBAN model directory trained for one epoch on the BindingDB sample (seed 42).

    Shared by every test that only reads it; copy it before changing anything inside.
    """
    out = tmp_path_factory.mktemp("tiny") / "drugban-1epoch"
    train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, tiny_training_config())
    return out
