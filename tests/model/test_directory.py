from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repurpose.errors import ModelDirectoryError
from repurpose.model.directory import CARD, MANIFEST, load_model_dir, required_files
from repurpose.training.pipeline import CHECKPOINT_DIR


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A changeable copy of the session's tiny DrugBAN directory (without its checkpoints)."""
    return shutil.copytree(tiny_model_dir, tmp_path / "model", ignore=shutil.ignore_patterns(CHECKPOINT_DIR))


def test_required_files_per_type() -> None:
    assert required_files("drugban") == [MANIFEST, CARD, "weights.pt", "config.json", "history.json"]
    assert required_files("rf") == [MANIFEST, CARD, "model.joblib"]
    assert required_files("xgb") == [MANIFEST, CARD, "model.json"]


def test_load_drugban_dir_in_eval_mode(model_copy: Path) -> None:
    model = load_model_dir(model_copy, expected_type="drugban")

    assert model.model_type == "drugban"
    assert model.drugban is not None and not model.drugban.training
    assert model.estimator is None


@pytest.mark.parametrize("missing", ["weights.pt", "config.json", "history.json", CARD])
def test_load_missing_file_names_it(model_copy: Path, missing: str) -> None:
    (model_copy / missing).unlink()

    with pytest.raises(ModelDirectoryError) as caught:
        load_model_dir(model_copy)

    assert f"missing {missing}" in caught.value.message
    assert "incomplete drugban model directory" in caught.value.message


def test_load_other_expected_type_names_both_types(model_copy: Path) -> None:
    with pytest.raises(ModelDirectoryError) as caught:
        load_model_dir(model_copy, expected_type="rf")

    assert "holds a drugban model, not rf" in caught.value.message


def test_load_without_manifest_refused(model_copy: Path) -> None:
    (model_copy / MANIFEST).unlink()

    with pytest.raises(ModelDirectoryError, match=f"not a model directory \\(no {MANIFEST}\\)"):
        load_model_dir(model_copy)


def test_load_missing_directory_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelDirectoryError, match="no such model directory"):
        load_model_dir(tmp_path / "absent")


def test_load_damaged_manifest_refused(model_copy: Path) -> None:
    (model_copy / MANIFEST).write_text("{not json")

    with pytest.raises(ModelDirectoryError, match="unreadable manifest"):
        load_model_dir(model_copy)


def test_load_newer_format_refused(model_copy: Path) -> None:
    manifest = model_copy / MANIFEST
    manifest.write_text(manifest.read_text().replace('"format_version": 1', '"format_version": 2'))

    with pytest.raises(ModelDirectoryError, match="model format 2, this version reads 1"):
        load_model_dir(model_copy)


@pytest.mark.parametrize(("content", "reason"), [(b"garbage", "damaged"), (b"", "EOFError")])
def test_load_damaged_weights_refused_in_one_line(model_copy: Path, content: bytes, reason: str) -> None:
    (model_copy / "weights.pt").write_bytes(content)

    with pytest.raises(ModelDirectoryError) as caught:
        load_model_dir(model_copy)

    assert "cannot load the drugban weights" in caught.value.message
    assert reason in caught.value.message
    assert "\n" not in caught.value.message


def test_load_weights_of_other_architecture_refused(model_copy: Path) -> None:
    config = model_copy / "config.json"
    config.write_text(config.read_text().replace('"drug_embedding": 128', '"drug_embedding": 64'))

    with pytest.raises(ModelDirectoryError, match="cannot load the drugban weights"):
        load_model_dir(model_copy)


@pytest.fixture
def knn_copy(knn_model_dir: Path, tmp_path: Path) -> Path:
    return shutil.copytree(knn_model_dir, tmp_path / "knn")


def test_required_files_of_knn() -> None:
    assert required_files("knn") == [MANIFEST, CARD, "binders.parquet"]


@pytest.mark.parametrize(("content", "reason"), [(b"garbage", "Parquet"), (b"", "Parquet")])
def test_load_damaged_knn_binders_refused_in_one_line(knn_copy: Path, content: bytes, reason: str) -> None:
    (knn_copy / "binders.parquet").write_bytes(content)

    with pytest.raises(ModelDirectoryError) as caught:
        load_model_dir(knn_copy)

    assert "cannot load the knn weights" in caught.value.message
    assert reason in caught.value.message
    assert "\n" not in caught.value.message


def test_load_knn_binders_of_another_shape_refused(knn_copy: Path) -> None:
    pq.write_table(
        pa.table({"protein": ["MKV"], "compound_id": ["a"], "smiles": ["CCO"]}), knn_copy / "binders.parquet"
    )

    with pytest.raises(ModelDirectoryError, match="missing column\\(s\\) fingerprint"):
        load_model_dir(knn_copy)


def test_load_knn_manifest_without_its_settings_refused(knn_copy: Path) -> None:
    manifest = json.loads((knn_copy / MANIFEST).read_text())
    del manifest["knn"]
    (knn_copy / MANIFEST).write_text(json.dumps(manifest))

    with pytest.raises(ModelDirectoryError, match="needs its knn settings"):
        load_model_dir(knn_copy)
