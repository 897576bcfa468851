"""The hand-written backwards of the compact protein CNN equal autograd on the plain formulas."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from repurpose.model.row_ops import relu_weighted_batch_norm, shifted_conv


def test_shifted_conv_equals_conv1d_with_its_gradients() -> None:
    torch.manual_seed(0)
    conv = nn.Conv1d(5, 4, kernel_size=3).double()
    x = torch.randn(11, 5, dtype=torch.float64, requires_grad=True)
    expected = F.conv1d(x.T.unsqueeze(0), conv.weight, conv.bias)[0].T
    grad = torch.randn_like(expected)
    want = torch.autograd.grad(expected, [x, conv.weight, conv.bias], grad)

    out = shifted_conv(x, conv)
    got = torch.autograd.grad(out, [x, conv.weight, conv.bias], grad)

    torch.testing.assert_close(out, expected)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def _bn(seed: int) -> nn.BatchNorm1d:
    torch.manual_seed(seed)
    bn = nn.BatchNorm1d(3).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1.0, 1.0)
    return bn


@pytest.mark.parametrize("momentum", [0.1, None])
def test_relu_weighted_batch_norm_equals_batchnorm_on_the_expanded_rows(momentum: float | None) -> None:
    bn = _bn(0)
    bn.momentum = momentum
    expanded_bn = copy.deepcopy(bn)
    z = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([1.0, 4.0, 0.0, 2.0, 1.0, 9.0], dtype=torch.float64)  # a weight-0 row: no statistics
    repeats = weights.long()
    grad = torch.randn(6, 3, dtype=torch.float64)

    out = relu_weighted_batch_norm(z, weights, bn)
    got = torch.autograd.grad(out, [z, bn.weight, bn.bias], grad)
    expanded = expanded_bn(F.relu(z.repeat_interleave(repeats, dim=0)))
    # autograd on the formula: the expanded rows' statistics normalise every row (the weight-0 one too)
    rows = F.relu(z).repeat_interleave(repeats, dim=0)
    mean, var = rows.mean(0), rows.var(0, unbiased=False)
    full = (F.relu(z) - mean) / torch.sqrt(var + bn.eps) * expanded_bn.weight + expanded_bn.bias
    want = torch.autograd.grad(full, [z, expanded_bn.weight, expanded_bn.bias], grad)

    torch.testing.assert_close(out.repeat_interleave(repeats, dim=0), expanded)
    torch.testing.assert_close(out, full)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(bn.running_mean, expanded_bn.running_mean)
    torch.testing.assert_close(bn.running_var, expanded_bn.running_var)
    assert bn.num_batches_tracked.item() == expanded_bn.num_batches_tracked.item() == 1


def test_relu_weighted_batch_norm_uses_running_statistics_in_eval() -> None:
    bn = _bn(2)
    bn(torch.randn(16, 3, dtype=torch.float64) * 3 + 1)  # non-trivial running statistics
    bn.eval()
    z = torch.randn(4, 3, dtype=torch.float64)

    out = relu_weighted_batch_norm(z, torch.tensor([1.0, 50.0, 0.0, 2.0], dtype=torch.float64), bn)

    torch.testing.assert_close(out, bn(F.relu(z)))
