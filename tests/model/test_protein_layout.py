"""The compact protein CNN's index arithmetic on hand-checkable batches."""

from __future__ import annotations

import numpy as np

from repurpose.model.protein_layout import positions, protein_layout, window_ids


def test_positions_concatenates_ranges() -> None:
    assert positions(np.array([3, 10, 0]), np.array([2, 0, 3])).tolist() == [3, 4, 0, 1, 2]


def test_layout_packs_distinct_proteins_once_and_weighs_them_per_pair() -> None:
    # length 6 codes, kernels 2 and 3 (margin 3): proteins of 2 and 6 residues, the first in two pairs
    codes = np.array([[1, 2, 0, 0, 0, 0], [5, 5, 5, 5, 5, 5], [1, 2, 0, 0, 0, 0]])

    layout = protein_layout(codes, (2, 3))

    # [1 2 | 0 0 0] [5 5 5 5 5 5 | 0 0 0] then the tail segment of 3 + 1 zeros
    assert layout.packed.tolist() == [1, 2, 0, 0, 0, 5, 5, 5, 5, 5, 5, 0, 0, 0, 0, 0, 0, 0]
    assert layout.protein_of_pair.tolist() == [0, 1, 0]
    first, second = layout.layer_weights
    # layer 1 (reference length 5): the short protein's 2 positions count twice; the tail (position
    # 14 at every layer) stands for 2 × (5 − 2) + (5 − 5) padded positions; margins weigh nothing
    assert first.tolist() == [2, 2, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 6, 0, 0]
    # layer 2 (reference length 3): 2 + 3 positions kept, the tail for 2 × (3 − 2)
    assert second.tolist() == [2, 2, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2]
    # kept rows: protein 0's 2 positions + tail, protein 1's 3 positions + tail
    assert layout.output_index.tolist() == [0, 1, 14, 5, 6, 7, 14]
    assert layout.output_weights.tolist() == [1, 1, 1, 1, 1, 1, 0]
    assert layout.segment_starts.tolist() == [0, 3]
    assert layout.segment_sizes.tolist() == [3, 4]


def test_window_ids_name_each_distinct_window() -> None:
    packed = np.array([1, 2, 3, 1, 2, 3, 1, 0, 0])

    columns, ids = window_ids(packed, 3)

    windows = np.lib.stride_tricks.sliding_window_view(packed, 3)
    assert np.array_equal(columns.T[ids], windows)
    assert columns.shape[1] == len({tuple(w) for w in windows.tolist()}) == 5
