"""A profile's blocked G: the same sums as the full matrix, and the same scores as the packed path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repurpose.data.drug_graph import featurize_drug
from repurpose.model.fast_scoring import FastScorer, GramLayout
from repurpose.model.gram_blocks import LEAF, GramBlocks
from tests.helpers import DRUG_LIKE_SMILES
from tests.model.test_fast_scoring import MOLECULES, PROTEINS, random_model


@pytest.mark.parametrize("width", [1, 5, LEAF, LEAF + 1, 2 * LEAF + 3, 97, 768])
def test_column_sums_over_the_blocks_are_the_full_matrixs(width: int) -> None:
    generator = torch.Generator().manual_seed(width)
    half = torch.randn(3, width, width, dtype=torch.float64, generator=generator)
    symmetric = half + half.transpose(1, 2)
    weights = torch.randn(width, width, dtype=torch.float64, generator=generator)  # not symmetric
    layout, blocks = GramLayout(width), GramBlocks(width)
    packed = torch.stack([layout.pack(g) for g in symmetric])
    blocked = blocks.from_triangle(packed)
    assert blocked.shape == (3, blocks.size)
    # every number of the triangle is in the layout (the leaves hold both halves of their block)
    assert torch.equal(torch.unique(blocks.from_packed), torch.arange(width * (width + 1) // 2))
    sums = blocks.column_sums(blocked, blocks.weights(weights))
    torch.testing.assert_close(sums, (symmetric * weights).sum(1), rtol=0, atol=1e-11)


def test_the_layout_for_drugban_holds_three_percent_more_than_the_triangle() -> None:
    assert GramBlocks(768).size == 304_128  # the triangle: 295,296


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_profile_rows_score_as_the_packed_targets_do(dtype: torch.dtype) -> None:
    scorer = FastScorer(random_model(8, dtype))
    targets = [scorer.target_tensors(p) for p in PROTEINS]
    rows = torch.stack([scorer.profile_row(t) for t in targets])
    assert rows.shape == (len(PROTEINS), scorer.blocks.size + scorer.width)
    for smiles in [DRUG_LIKE_SMILES, *MOLECULES[:2]]:
        graph = featurize_drug(smiles)
        compound = scorer.profile_compound(graph)
        packed = scorer.profile_targets(compound, targets)
        by_rows = scorer.profile_rows(compound, rows)
        one_by_one = np.array([scorer.score_graphs(t, [graph])[0] for t in targets])
        tolerance = 1e-12 if dtype == torch.float64 else 1e-6
        np.testing.assert_allclose(by_rows, packed, rtol=0, atol=tolerance)
        np.testing.assert_allclose(by_rows, one_by_one, rtol=0, atol=tolerance)
    assert scorer.profile_rows(compound, rows[:0]).shape == (0,)
