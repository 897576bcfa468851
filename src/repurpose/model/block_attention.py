"""DrugBAN's attention pooling for a batch of pairs without the attention maps, forward and backward.

Pair b holds drug rows U_b (its projected rows times the heads' vectors summed: with no softmax
the heads' maps add up) and protein rows Q_b with pooling weights ω_b. Its attention map is
A_b = U_b Q_bᵀ + C (C the heads' biases summed) and the rows it pools are P_b = (A_b ⊙ ω_b) Q_b.
Every pair is its own small block (a few dozen drug rows against hundreds of protein rows), so
the batch is a loop of two matrix products per pair forward and three backward; autograd would
add a node per pair and op and zero-fill a full-size gradient for every slice, hence a
hand-written backward that writes each pair's gradient into its rows of one tensor.
"""

from __future__ import annotations

from typing import Any

import torch

from repurpose.model.devices import float32_inside


class _PairBlocks(torch.autograd.Function):
    @staticmethod
    @float32_inside
    def forward(
        ctx: Any,
        u: torch.Tensor,
        q: torch.Tensor,
        bias: torch.Tensor,
        omega: torch.Tensor,
        blocks: list[tuple[int, int, int, int]],
    ) -> torch.Tensor:
        pooled = torch.empty_like(u)  # every row belongs to a block
        maps = []
        for d0, r, p0, m in blocks:
            qb = q[p0 : p0 + m]
            weighted_map = (u[d0 : d0 + r] @ qb.T).add_(bias).mul_(omega[p0 : p0 + m])  # (r, m): A ⊙ ω
            torch.mm(weighted_map, qb, out=pooled[d0 : d0 + r])
            maps.append(weighted_map)
        ctx.save_for_backward(u, q, omega)
        ctx.maps = maps
        ctx.blocks = blocks
        return pooled

    @staticmethod
    def backward(ctx: Any, grad_pooled: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        u, q, omega = ctx.saved_tensors
        # The blocks cover every row (``pooled_rows`` checks): no zero-fill, a protein's rows are
        # written by its first pair and added to by any other pair that shares it.
        grad_u = torch.empty_like(u)
        grad_q = torch.empty_like(q)
        written: set[int] = set()
        grad_bias = torch.zeros((), dtype=u.dtype, device=u.device)
        for (d0, r, p0, m), weighted_map in zip(ctx.blocks, ctx.maps, strict=True):
            qb, gb, ub = q[p0 : p0 + m], grad_pooled[d0 : d0 + r], u[d0 : d0 + r]
            grad_map = (gb @ qb.T).mul_(omega[p0 : p0 + m])  # ∂L/∂A (r, m)
            torch.mm(grad_map, qb, out=grad_u[d0 : d0 + r])
            grad_bias += grad_map.sum()
            # ∂L/∂Q_b = (∂L/∂A)ᵀ U_b + (A ⊙ ω)ᵀ ∂L/∂P_b: one product over both
            left, right = torch.cat([grad_map, weighted_map]).T, torch.cat([ub, gb])
            if p0 in written:
                grad_q[p0 : p0 + m].addmm_(left, right)
            else:
                torch.mm(left, right, out=grad_q[p0 : p0 + m])
                written.add(p0)
        return grad_u, grad_q, grad_bias, None, None


def pooled_rows(
    u: torch.Tensor, q: torch.Tensor, bias: torch.Tensor, omega: torch.Tensor, blocks: list[tuple[int, int, int, int]]
) -> torch.Tensor:
    """P for every pair (the rows of ``u``): ``blocks`` holds per pair (first drug row, drug rows,
    first protein row, protein rows); ``omega`` (the pooling weights) is not differentiated.
    The drug blocks partition the rows of ``u`` and the protein blocks cover every row of ``q``."""
    drug_rows = sorted((d0, r) for d0, r, _, _ in blocks)
    protein_rows = sorted({(p0, m) for _, _, p0, m in blocks})
    for rows, total in ((drug_rows, u.shape[0]), (protein_rows, q.shape[0])):
        ends = [start + size for start, size in rows]
        if [start for start, _ in rows] != [0, *ends[:-1]] or (ends[-1] if ends else 0) != total:
            raise ValueError("pooled_rows: the blocks must tile the rows of u and of q")
    out = _PairBlocks.apply(u, q, bias, omega.detach(), blocks)
    assert isinstance(out, torch.Tensor)
    return out
