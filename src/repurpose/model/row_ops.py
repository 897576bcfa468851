"""Training kernels over rows (positions × channels) with hand-written backwards.

The compact protein CNN works on ~35,000 positions × 128 channels per batch. Autograd through
the elementwise formulas spends most of its time on temporaries (a weighted BatchNorm is about
twenty full passes forward and backward; every slice of a convolution's input zero-fills a
full-size gradient), so these two operations carry their own backward, each a handful of passes
or matrix products. Both are exact: the same function and gradient, to float rounding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from repurpose.model.devices import float32_inside


class _ShiftedConv(torch.autograd.Function):
    @staticmethod
    @float32_inside
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        taps = weight.shape[2]
        n = x.shape[0] - taps + 1
        per_tap = weight.permute(2, 1, 0).contiguous()  # (k, in, out)
        out = bias.expand(n, -1).contiguous()
        for k in range(taps):
            out.addmm_(x[k : k + n], per_tap[k])
        ctx.save_for_backward(x, per_tap)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, per_tap = ctx.saved_tensors
        n = grad.shape[0]
        grad_x = torch.zeros_like(x)
        grad_taps = torch.empty_like(per_tap)
        for k in range(per_tap.shape[0]):
            grad_x[k : k + n].addmm_(grad, per_tap[k].T)
            torch.mm(x[k : k + n].T, grad, out=grad_taps[k])
        return grad_x, grad_taps.permute(2, 1, 0), grad.sum(0)


def shifted_conv(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv`` (no padding, stride 1) over rows: x (T, in) → (T − k + 1, out), as one matrix
    product per tap instead of a (1, C, T) convolution and its transposes."""
    assert conv.bias is not None
    out = _ShiftedConv.apply(x, conv.weight, conv.bias)
    assert isinstance(out, torch.Tensor)
    return out


class _ReluWeightedBatchNorm(torch.autograd.Function):
    @staticmethod
    @float32_inside
    def forward(
        ctx: Any, z: torch.Tensor, weights: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r = torch.relu(z)
        total = weights.sum()
        mean = (weights[:, None] * r).sum(0) / total
        centred = r - mean
        var = (weights[:, None] * centred.square()).sum(0) / total
        inv_std = torch.rsqrt(var + eps)
        out = centred.mul_(inv_std * gamma).add_(beta)
        ctx.save_for_backward(r, weights, gamma, mean, inv_std, total)
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor, _mean: torch.Tensor, _var: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        r, weights, gamma, mean, inv_std, total = ctx.saved_tensors
        # Row i stands for weights[i] identical rows and ``grad`` is the sum of their gradients,
        # so BatchNorm's backward over the expanded rows, summed per row, reads
        # dr_i = γ σ⁻¹ (g_i − w_i (Σg + x̂_i Σ g x̂) / W)   with x̂ = (r − μ) σ⁻¹, W = Σw.
        normalised = (r - mean).mul_(inv_std)
        sum_grad = grad.sum(0)
        sum_grad_normalised = (grad * normalised).sum(0)
        correction = normalised.mul_(sum_grad_normalised).add_(sum_grad).mul_(weights[:, None] / total)
        grad_z = (grad - correction).mul_(gamma * inv_std).mul_(r > 0)
        return grad_z, None, sum_grad_normalised, sum_grad, None


def relu_weighted_batch_norm(z: torch.Tensor, weights: torch.Tensor, bn: nn.BatchNorm1d) -> torch.Tensor:
    """``bn(relu(z))`` over rows where row i stands for ``weights[i]`` identical rows (a weight-0
    row takes no part in the statistics), recording the expanded batch's running statistics in
    training exactly as ``bn`` would; in evaluation, ``bn(relu(z))``."""
    if not bn.training:
        return bn(torch.relu(z))
    assert bn.running_mean is not None and bn.running_var is not None and bn.num_batches_tracked is not None
    out, mean, var = _ReluWeightedBatchNorm.apply(z, weights, bn.weight, bn.bias, bn.eps)
    with torch.no_grad():
        total = weights.sum()
        bn.num_batches_tracked.add_(1)
        # momentum=None means a cumulative average in torch: weight 1/n for the n-th batch
        momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1 - momentum).add_(momentum * mean)
        bn.running_var.mul_(1 - momentum).add_(momentum * var * total / (total - 1))
    assert isinstance(out, torch.Tensor)
    return out
