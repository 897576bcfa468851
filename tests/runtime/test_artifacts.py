from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from repurpose.errors import ArtifactNotFound, InvalidInput
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.settings import Settings


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    return ArtifactStore(f"memory://test-{uuid.uuid4().hex}")


def test_bytes_round_trip(store: ArtifactStore) -> None:
    assert not store.exists("a/b.bin")
    store.put_bytes("a/b.bin", b"\x00\x01payload")
    assert store.exists("a/b.bin")
    assert store.get_bytes("a/b.bin") == b"\x00\x01payload"
    store.put_bytes("a/b.bin", b"replaced")
    assert store.get_bytes("a/b.bin") == b"replaced"


def test_files_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 3_000_000)
    store.put_file("weights/model.pt", source)
    copied = store.get_file("weights/model.pt", tmp_path / "out" / "model.pt")
    assert copied.read_bytes() == source.read_bytes()


def test_parquet_written_through_open_write(store: ArtifactStore) -> None:
    frame = pd.DataFrame({"SMILES": ["CCO", "c1ccccc1"], "Y": [0, 1]})
    with store.open_write("datasets/v1/rows.parquet") as f:
        frame.to_parquet(f)
    with store.open_read("datasets/v1/rows.parquet") as f:
        assert pd.read_parquet(f).equals(frame)


def test_failed_write_leaves_previous_artifact(store: ArtifactStore) -> None:
    store.put_bytes("results/top.csv", b"old")
    with pytest.raises(RuntimeError), store.open_write("results/top.csv") as f:
        f.write(b"half of the new")
        raise RuntimeError("crash mid-write")
    assert store.get_bytes("results/top.csv") == b"old"
    assert store.list() == ["results/top.csv"]


def test_list_and_delete(store: ArtifactStore) -> None:
    for path in ("b/2.bin", "a/1.bin", "b/sub/3.bin"):
        store.put_bytes(path, b"x")
    assert store.list() == ["a/1.bin", "b/2.bin", "b/sub/3.bin"]
    assert store.list("b") == ["b/2.bin", "b/sub/3.bin"]
    store.delete("b/2.bin")
    assert not store.exists("b/2.bin")
    assert store.list("missing") == []


def test_missing_artifact_is_typed(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFound) as caught:
        store.get_bytes("nope/none.bin")
    assert caught.value.path == "nope/none.bin"
    with pytest.raises(ArtifactNotFound):
        store.delete("nope/none.bin")


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../outside", "a/../../outside", "."])
def test_paths_outside_root_refused(store: ArtifactStore, path: str) -> None:
    with pytest.raises(InvalidInput, match="must be relative"):
        store.put_bytes(path, b"x")


def test_from_settings_uses_artifact_url(tmp_path: Path) -> None:
    store = ArtifactStore.from_settings(Settings(home=tmp_path))
    store.put_bytes("x.bin", b"1")
    assert (tmp_path / "artifacts" / "x.bin").read_bytes() == b"1"
    assert store.url_for("x.bin") == f"{tmp_path / 'artifacts'}/x.bin"
