"""The attention pooling's hand-written backward equals autograd on the per-pair formula."""

from __future__ import annotations

import pytest
import torch

from repurpose.model.block_attention import pooled_rows

# Three pairs: drug rows 0–1, 2–4, 5; the first and third pairs share the protein of rows 0–3.
BLOCKS = [(0, 2, 0, 4), (2, 3, 4, 3), (5, 1, 0, 4)]


def per_pair(u: torch.Tensor, q: torch.Tensor, bias: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    rows = []
    for d0, r, p0, m in BLOCKS:
        qb = q[p0 : p0 + m]
        rows.append(((u[d0 : d0 + r] @ qb.T + bias) * omega[p0 : p0 + m]) @ qb)
    return torch.cat(rows)


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    u = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    q = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    omega = torch.tensor([1.0, 1.0, 1.0, 40.0, 1.0, 1.0, 7.0], dtype=torch.float64)
    return u, q, bias, omega


def test_pooled_rows_equal_the_per_pair_formula_with_gradients() -> None:
    u, q, bias, omega = inputs()
    grad = torch.randn(6, 5, dtype=torch.float64)

    out = pooled_rows(u, q, bias, omega, BLOCKS)
    expected = per_pair(u, q, bias, omega)

    torch.testing.assert_close(out, expected)
    got = torch.autograd.grad(out, [u, q, bias], grad)
    want = torch.autograd.grad(expected, [u, q, bias], grad)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda u, q, b: pooled_rows(u, q, b, omega, BLOCKS), (u, q, bias))


@pytest.mark.parametrize(
    "blocks",
    [
        [(0, 2, 0, 4), (2, 3, 4, 3)],  # drug row 5 in no block
        [(0, 2, 0, 4), (2, 3, 0, 4), (5, 1, 0, 4)],  # protein rows 4–6 in no block
        [(0, 3, 0, 4), (2, 4, 4, 3)],  # overlapping drug blocks
    ],
)
def test_pooled_rows_refuses_blocks_that_do_not_tile_the_rows(blocks: list[tuple[int, int, int, int]]) -> None:
    u, q, bias, omega = inputs()

    with pytest.raises(ValueError, match="tile the rows"):
        pooled_rows(u, q, bias, omega, blocks)
