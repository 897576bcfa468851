"""A replica's profile rows in one local file: appended once, read back as written, after growing
and after the replica let go of their pages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from repurpose.scoring import target_slab
from repurpose.scoring.target_slab import TargetSlab


def test_rows_read_back_as_written_across_growth_and_release(tmp_path: Path) -> None:
    slab = TargetSlab(1000, torch.float32, directory=str(tmp_path))
    rows = {f"t{i}": torch.randn(1000) for i in range(target_slab.GROWTH_ROWS + 3)}  # the file grows twice
    for key, row in rows.items():
        assert slab.slot(key) is None
        slot = slab.add(key, row)
        assert slab.add(key, -row) == slot  # a key is written once
    assert len(slab) == len(rows) and slab.nbytes == len(rows) * 4000
    everything = slab.rows(0, len(rows))
    assert torch.equal(everything, torch.stack(list(rows.values())))
    del everything
    slab.release(0, len(rows))  # the mapping's pages go; the file keeps them
    assert torch.equal(slab.rows(5, 7), torch.stack([rows["t5"], rows["t6"]]))
    assert list(tmp_path.iterdir()) == []  # unlinked: nothing left behind by the replica
    with pytest.raises(IndexError):
        slab.rows(0, len(rows) + 1)
    slab.close()


def test_rows_keep_their_dtype_and_shape(tmp_path: Path) -> None:
    slab = TargetSlab(4, torch.float64, directory=str(tmp_path))
    slab.add(("t", "MKV"), torch.tensor([1.0, 2.0, 3.0, 1e-300], dtype=torch.float64))
    row = slab.rows(0, 1)
    assert row.dtype == torch.float64 and row.tolist() == [[1.0, 2.0, 3.0, 1e-300]]
    with pytest.raises(ValueError, match="not"):
        slab.add("short", torch.zeros(3, dtype=torch.float64))
    assert slab.slot("short") is None and len(slab) == 1
