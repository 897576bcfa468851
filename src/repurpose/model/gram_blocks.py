"""A symmetric matrix in dense blocks, for weighted column sums over many targets at once.

A profile needs, per target, f[c] = Σ_r G[r, c] W[r, c] (G the target's symmetric Gram matrix, W
the compound's weighted S): 2 multiply-adds per number of G's upper triangle, memory-bound. The
packed triangle (``GramLayout``) has to be unpacked into a full matrix first (a gather with an
index as big as the matrix), which costs more than the sums. Here the triangle is cut instead
into dense rectangles: the upper-right block of G above the diagonal, then the same recursively
within each of the two diagonal blocks, down to diagonal blocks of at most ``LEAF`` rows kept
whole. Each off-diagonal number stands for G[r, c] and G[c, r]: it adds to f[c] with weight
W[r, c] (a column sum of its block) and to f[r] with W[c, r] (a row sum); a leaf adds its
column sums. Blocks of one shape form one (targets, blocks, rows, columns) tensor, so a few
products and sums cover a batch of targets, with no index as large as the matrix. For
D = 768 the layout holds 304,128 numbers (3 % more than the triangle, the leaves' lower halves).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

LEAF = 24
"""Diagonal blocks of at most this many rows are kept whole (small blocks cost a call each)."""
TARGETS_AT_ONCE = 4
"""Targets multiplied in one product: their temporaries stay within the processor's caches."""


@dataclass(frozen=True)
class BlockGroup:
    """Blocks of one shape: ``count`` of ``rows`` × ``cols`` from ``offset`` in a blocked row."""

    offset: int
    count: int
    rows: int
    cols: int
    diagonal: bool  # leaves: whole diagonal blocks (column sums only)
    col_out: torch.Tensor  # (count · cols,) the f index of each column sum
    row_out: torch.Tensor  # (count · rows,) the f index of each row sum (off-diagonal blocks)

    @property
    def size(self) -> int:
        return self.count * self.rows * self.cols


def _blocks(start: int, n: int) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int]]]:
    """Off-diagonal blocks (row start, rows, col start, cols) and leaves (start, n) of [start, start + n)."""
    if n <= LEAF:
        return [], [(start, n)]
    half = n // 2
    upper, upper_leaves = _blocks(start, half)
    lower, lower_leaves = _blocks(start + half, n - half)
    # the block right of the diagonal: its rows are runs of the packed triangle's rows (a fast copy)
    return [(start, half, start + half, n - half), *upper, *lower], upper_leaves + lower_leaves


class GramBlocks:
    """The blocked layout of a D × D symmetric matrix, and the weighted column sums over it."""

    def __init__(self, width: int) -> None:
        self.width = width
        off_diagonal, leaves = _blocks(0, width)
        shapes: dict[tuple[int, int, bool], list[tuple[int, int]]] = {}
        for r0, rows, c0, cols in off_diagonal:
            shapes.setdefault((rows, cols, False), []).append((r0, c0))
        for s0, n in leaves:
            shapes.setdefault((n, n, True), []).append((s0, s0))
        groups = []
        positions = []  # per group, the row-major position r·D + c of each of its numbers
        offset = 0
        for (rows, cols, diagonal), starts in shapes.items():
            r = torch.tensor([r0 for r0, _ in starts])[:, None, None] + torch.arange(rows)[None, :, None]
            c = torch.tensor([c0 for _, c0 in starts])[:, None, None] + torch.arange(cols)[None, None, :]
            groups.append(
                BlockGroup(
                    offset=offset,
                    count=len(starts),
                    rows=rows,
                    cols=cols,
                    diagonal=diagonal,
                    col_out=c[:, 0, :].reshape(-1),
                    row_out=r[:, :, 0].reshape(-1),
                )
            )
            positions.append((r * width + c).reshape(-1))
            offset += groups[-1].size
        self.groups = groups
        self.size = offset
        full_index = torch.cat(positions)
        r, c = full_index // width, full_index % width
        low, high = torch.minimum(r, c), torch.maximum(r, c)
        # where G[r, c] sits in the packed upper triangle, row after row (``fast_scoring.GramLayout``)
        self.from_packed = low * width - low * (low - 1) // 2 + (high - low)
        transposed = c * width + r
        self._column_weights = full_index  # W[r, c] for every number
        self._row_weights = transposed  # W[c, r] (read for off-diagonal blocks only)

    def from_triangle(self, packed: torch.Tensor) -> torch.Tensor:
        """A packed upper triangle (``GramLayout``) in this layout: (size,), or (T, size) for (T, packed)."""
        return packed.index_select(-1, self.from_packed.to(packed.device))

    def weights(self, weighted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The compound's W (D × D) laid out for ``column_sums``: W[r, c] and W[c, r] per number."""
        flat = weighted.reshape(-1)
        device = weighted.device
        return flat.index_select(0, self._column_weights.to(device)), flat.index_select(0, self._row_weights.to(device))

    def column_sums(self, blocked: torch.Tensor, weights: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """f[t, c] = Σ_r G_t[r, c] W[r, c] for each row t of ``blocked`` (T, size): (T, D)."""
        column_w, row_w = weights
        targets = blocked.shape[0]
        out = torch.zeros(targets, self.width, dtype=column_w.dtype, device=column_w.device)
        largest = max(g.size for g in self.groups)
        scratch = torch.empty(TARGETS_AT_ONCE * largest, dtype=column_w.dtype, device=column_w.device)
        for t0 in range(0, targets, TARGETS_AT_ONCE):
            part = blocked[t0 : t0 + TARGETS_AT_ONCE]
            f = out[t0 : t0 + TARGETS_AT_ONCE]
            n = part.shape[0]
            for g in self.groups:
                shape = (n, g.count, g.rows, g.cols)
                numbers = part[:, g.offset : g.offset + g.size].view(shape)
                product = scratch[: n * g.size].view(shape)
                span = slice(g.offset, g.offset + g.size)
                torch.mul(numbers, column_w[span].view(shape[1:]), out=product)
                f.index_add_(1, g.col_out.to(f.device), product.sum(2).view(n, -1))
                if not g.diagonal:
                    torch.mul(numbers, row_w[span].view(shape[1:]), out=product)
                    f.index_add_(1, g.row_out.to(f.device), product.sum(3).view(n, -1))
        return out


@functools.lru_cache(maxsize=4)
def gram_blocks(width: int) -> GramBlocks:
    """The layout for ``width``, built once a process (its indices: 7 MiB for D = 768)."""
    return GramBlocks(width)
