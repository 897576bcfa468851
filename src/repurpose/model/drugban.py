"""DrugBAN (Bai et al., Nature Machine Intelligence 2023), in plain PyTorch.

Drug:    Linear 75→128 (no bias), three GCN layers of 128: sum aggregation without
         normalisation, ReLU, a residual Linear + ReLU, BatchNorm.
Protein: Embedding(26, 128, padding 0), three Conv1d (kernels 3, 6, 9), each ReLU then
         BatchNorm; the (B, C, L) output is *transposed* to (B, L, C). The original code
         reshapes it with ``view``, which scrambles channels and positions; we do not.
Fusion:  bilinear attention, 2 heads, k = 3: weight-normalised 128→768 projections with
         dropout 0.2 and ReLU, no softmax, sum-pooling 768→256, BatchNorm.
Decoder: 256→512→512→128→1, each hidden layer ReLU then BatchNorm.

Two forwards compute the same function:
- ``reference_forward`` is the literal padded computation (290 drug nodes, the full
  heads × 290 × L attention maps), the yardstick for scores and the source of attention maps.
- ``forward`` is exact but compact: the 290 − n virtual nodes of a drug are identical, so
  they are one row of weight 290 − n (BatchNorm statistics weighted accordingly), and the
  attention pooling is computed per row as ((V ⊙ H) Qᵀ + C) Q instead of materialising the
  maps. Per batch, a protein is convolved once whatever the number of its pairs, the first
  convolution runs once per distinct 3-residue window and the second on those windows'
  products (``ProteinCNN.forward_layout``), and the BatchNorms, the third convolution and
  the attention pooling carry hand-written backwards (``row_ops``, ``block_attention``).
  It trains about 10–13× faster than the reference on 2 shared cores. The one difference
  in training is dropout: a drug's virtual rows share one dropout mask in ``forward``.
  ``ProteinCNN.forward_packed`` is the protein side the scoring fast path uses.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from repurpose.model.block_attention import pooled_rows
from repurpose.model.devices import Compute, widened
from repurpose.model.pair_batch import DrugBANInputs, PairBatch
from repurpose.model.protein_layout import ProteinLayout, protein_layout, window_ids
from repurpose.model.row_ops import relu_weighted_batch_norm, shifted_conv
from repurpose.settings import Precision

EVAL_BATCH_SIZE = 256


@dataclass(frozen=True)
class DrugBANConfig:
    node_features: int = 75
    drug_embedding: int = 128
    drug_hidden: tuple[int, ...] = (128, 128, 128)
    max_drug_nodes: int = 290
    protein_alphabet: int = 26
    protein_embedding: int = 128
    protein_filters: tuple[int, ...] = (128, 128, 128)
    protein_kernels: tuple[int, ...] = (3, 6, 9)
    max_protein_length: int = 1200
    ban_heads: int = 2
    ban_k: int = 3
    ban_pooled: int = 256  # width after sum-pooling; projections are ban_pooled * ban_k
    ban_dropout: float = 0.2
    decoder_hidden: int = 512
    decoder_out: int = 128
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> DrugBANConfig:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)  # type: ignore[arg-type]

    @property
    def protein_positions(self) -> int:
        """Length of the protein CNN output (no padding in the convolutions)."""
        return self.max_protein_length - sum(k - 1 for k in self.protein_kernels)


def weighted_batch_norm(x: torch.Tensor, weight: torch.Tensor | None, bn: nn.BatchNorm1d) -> torch.Tensor:
    """BatchNorm1d over rows of ``x`` (rows, C) where row i stands for ``weight[i]`` identical rows.

    In training it uses and records the statistics of the expanded batch, exactly as
    ``bn`` would on the expanded rows; in evaluation it is ``bn`` itself.
    """
    if weight is None or not bn.training:
        return bn(x)
    assert bn.running_mean is not None and bn.running_var is not None and bn.num_batches_tracked is not None
    total = weight.sum()
    w = weight.unsqueeze(1)
    mean = (w * x).sum(0) / total
    var = (w * (x - mean).square()).sum(0) / total
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        # momentum=None means a cumulative average in torch: weight 1/n for the n-th batch
        momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1 - momentum).add_(momentum * mean)
        bn.running_var.mul_(1 - momentum).add_(momentum * var * total / (total - 1))
    return (x - mean) * torch.rsqrt(var + bn.eps) * bn.weight + bn.bias


class WeightNormLinear(nn.Module):
    """Linear layer with weight = g · v / ‖v‖ over the whole matrix (weight_norm, dim=None)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        template = nn.Linear(in_features, out_features)
        self.v = nn.Parameter(template.weight.detach().clone())
        self.g = nn.Parameter(template.weight.detach().norm().reshape(()))
        self.bias = nn.Parameter(template.bias.detach().clone())

    def weight(self) -> torch.Tensor:
        return self.g * self.v / self.v.norm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight(), self.bias)


class GCNLayer(nn.Module):
    """DGL GraphConv(norm='none') + ReLU, plus residual Linear + ReLU, then BatchNorm."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = nn.Linear(in_features, out_features)
        nn.init.xavier_uniform_(self.conv.weight)  # as DGL's GraphConv
        nn.init.zeros_(self.conv.bias)
        self.residual = nn.Linear(in_features, out_features)
        self.bn = nn.BatchNorm1d(out_features)

    def combine(self, aggregated: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(aggregated)) + F.relu(self.residual(h))


class MolecularGCN(nn.Module):
    def __init__(self, config: DrugBANConfig) -> None:
        super().__init__()
        self.config = config
        self.input = nn.Linear(config.node_features, config.drug_embedding, bias=False)
        widths = (config.drug_embedding, *config.drug_hidden)
        self.layers = nn.ModuleList(GCNLayer(a, b) for a, b in itertools.pairwise(widths))

    def _gcn_layers(self) -> list[GCNLayer]:
        return [cast(GCNLayer, layer) for layer in self.layers]

    def forward(self, batch: PairBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Compact form: (N, C) real-atom states and the (C,) state every virtual node shares."""
        h = self.input(batch.node_features)  # (N, 128)
        virtual = self.input.weight[:, -1]  # a virtual node's input is the flag alone
        n_virtual = batch.size * self.config.max_drug_nodes - h.shape[0]
        weights = torch.ones(h.shape[0] + 1, dtype=h.dtype, device=h.device)
        weights[-1] = float(n_virtual)
        for layer in self._gcn_layers():
            # real atoms: two self-loops plus every bonded neighbour; virtual: one self-loop
            aggregated = (2.0 * h).index_add(0, batch.bond_dst, h.index_select(0, batch.bond_src))
            rows = layer.combine(torch.cat([aggregated, virtual[None]]), torch.cat([h, virtual[None]]))
            rows = weighted_batch_norm(rows, weights, layer.bn)  # a weight-0 row changes nothing
            h, virtual = rows[:-1], rows[-1]
        return h, virtual

    def forward_padded(self, features: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """Reference form: (B, 290, 75) features, (B, 290, 290) edge counts → (B, 290, C)."""
        b, n, _ = features.shape
        h = self.input(features)
        for layer in self._gcn_layers():
            rows = layer.combine(adjacency @ h, h)  # sum over incoming edges, self-loops included
            h = layer.bn(rows.reshape(b * n, -1)).reshape(b, n, -1)
        return h


@dataclass(frozen=True)
class PackedProteins:
    """Protein-side rows of a batch, protein after protein: each protein's own positions
    (weight 1), then one tail row standing for its identical padded positions."""

    rows: torch.Tensor  # (M, C)
    weights: torch.Tensor  # (M,)
    sizes: list[int]  # (B,) rows per protein


@dataclass(frozen=True)
class DrugRows:
    """Drug-side rows of a batch, drug after drug: its virtual-node row (standing for its
    max_drug_nodes − n identical virtual nodes), then its n atoms."""

    rows: torch.Tensor  # (B + N, C)
    weights: torch.Tensor  # (B + N,)
    owner: torch.Tensor  # (B + N,) the pair each row belongs to
    starts: list[int]  # (B,) first row of each drug
    sizes: list[int]  # (B,) rows of each drug: n + 1


def drug_rows(atoms: torch.Tensor, virtual: torch.Tensor, n_atoms: torch.Tensor, max_nodes: int) -> DrugRows:
    """The GCN's compact output (atoms drug after drug, the shared virtual state) as ``DrugRows``."""
    counts = n_atoms.cpu().numpy()  # index arithmetic on the host; the rows stay on the atoms' device
    device = atoms.device
    sizes = counts + 1
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    owner = np.repeat(np.arange(len(counts)), sizes)
    source = np.arange(owner.shape[0]) - owner - 1 + len(counts)  # row → atom index, after B virtual copies
    source[starts] = np.arange(len(counts))  # each drug's own copy of the virtual row (its own dropout mask)
    weights = np.ones(owner.shape[0])
    weights[starts] = max_nodes - counts
    rows = torch.cat([virtual.expand(len(counts), -1), atoms]).index_select(0, torch.from_numpy(source).to(device))
    return DrugRows(
        rows=rows,
        weights=torch.from_numpy(weights).to(device, atoms.dtype),
        owner=torch.from_numpy(owner).to(device),
        starts=starts.tolist(),
        sizes=sizes.tolist(),
    )


def _ranges(starts: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Concatenated aranges [start, start + length) as one index tensor."""
    return torch.cat([torch.arange(int(s), int(s) + n) for s, n in zip(starts, lengths, strict=True)])


class ProteinCNN(nn.Module):
    def __init__(self, config: DrugBANConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.protein_alphabet, config.protein_embedding, padding_idx=0)
        widths = (config.protein_embedding, *config.protein_filters)
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel_size=k)
            for a, b, k in zip(widths[:-1], widths[1:], config.protein_kernels, strict=True)
        )
        self.bns = nn.ModuleList(nn.BatchNorm1d(b) for b in config.protein_filters)
        self.config_kernels = config.protein_kernels

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Reference form: (B, 1200) codes → (B, 1185, 128)."""
        x = self.embedding(codes).transpose(1, 2)  # (B, 128, 1200)
        for conv, bn in zip(self.convs, self.bns, strict=True):
            x = bn(F.relu(conv(x)))
        return x.transpose(1, 2)  # (B, 1185, 128): the proper transpose, not DrugBAN's view

    def forward_packed(self, codes: torch.Tensor) -> PackedProteins:
        """Compact form, exact: only each protein's own positions are convolved.

        Past a protein's last residue every position sees padding alone, so at every layer
        they all hold one value (the "tail"). Proteins are packed end to end, each followed
        by enough padding for its last residues' windows, plus one all-padding segment whose
        first position yields the tail value; BatchNorm weighs that position by the number
        of tail positions it stands for.
        """
        lengths = (codes != 0).sum(1).tolist()  # codes hold no 0 before a protein's end
        margin = sum(k - 1 for k in self.config_kernels)
        segments = [codes[b, :n] for b, n in enumerate(lengths)]
        padding = codes.new_zeros(margin)
        packed = torch.cat([t for seg in segments for t in (seg, padding)] + [codes.new_zeros(margin + 1)])
        starts = torch.tensor([0, *itertools.accumulate(n + margin for n in lengths)])  # last: the tail segment
        x = self.embedding(packed).T.unsqueeze(0)  # (1, 128, T)
        reference_length = codes.shape[1]
        for conv, bn, k in zip(self.convs, self.bns, self.config_kernels, strict=True):
            reference_length -= k - 1
            z = F.relu(conv(x))[0].T  # (T', C)
            weights = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
            kept = [min(n, reference_length) for n in lengths]
            weights[_ranges(starts[:-1], kept).to(z.device)] = 1.0
            weights[starts[-1]] = float(sum(reference_length - m for m in kept))
            x = weighted_batch_norm(z, weights, cast(nn.BatchNorm1d, bn)).T.unsqueeze(0)
        out = x[0].T  # (T', C)
        kept = [min(n, reference_length) for n in lengths]
        # one gather (not per-protein slices, whose backward would zero-fill the whole tensor each)
        index = torch.cat(
            [t for b, m in enumerate(kept) for t in (torch.arange(int(starts[b]), int(starts[b]) + m), starts[-1:])]
        )
        weights = torch.cat([t for m in kept for t in (torch.ones(m), torch.tensor([float(reference_length - m)]))]).to(
            out.device, out.dtype
        )
        rows = out.index_select(0, index.to(out.device))
        return PackedProteins(rows=rows, weights=weights, sizes=[m + 1 for m in kept])

    def forward_layout(self, layout: ProteinLayout) -> tuple[torch.Tensor, torch.Tensor]:
        """Compact form for a batch: the kept rows (M, C) of ``layout`` and their pooling weights.

        Exact like ``forward_packed``, with two more savings. The first convolution sees only
        its window of residue codes, so it runs once per distinct window (~7,000 in a batch of
        ~35,000 positions) as a sum of per-code rows of E·W_kᵀ, without any multiplication by
        the embedding. The second convolution's input then has one row per distinct window:
        each row is multiplied by every tap once and a position sums its taps' products.
        """
        dtype, device = self.embedding.weight.dtype, self.embedding.weight.device

        def tensor(array: np.ndarray, as_dtype: torch.dtype | None = None) -> torch.Tensor:
            return torch.from_numpy(array).to(device, as_dtype)  # the layout is NumPy: to the model's device

        convs = [cast(nn.Conv1d, conv) for conv in self.convs]
        bns = [cast(nn.BatchNorm1d, bn) for bn in self.bns]
        weights = [tensor(w, dtype) for w in layout.layer_weights]
        first = convs[0]
        width = first.kernel_size[0]
        columns, ids = window_ids(layout.packed, width)
        table = self.embedding.weight
        pad = self.embedding.padding_idx
        if pad is not None:  # as nn.Embedding(padding_idx=0): the padding row gets no gradient
            table = torch.cat([table[:pad], table[pad : pad + 1].detach(), table[pad + 1 :]])
        per_code = torch.einsum("ac,ock->kao", table, first.weight)  # (k, codes, C): e(a) through tap k
        codes = tensor(columns)
        assert first.bias is not None
        z = first.bias.expand(codes.shape[1], -1)
        for k in range(width):
            z = z + per_code[k].index_select(0, codes[k])
        window_weight = np.bincount(ids, weights=layout.layer_weights[0], minlength=columns.shape[1])
        x = relu_weighted_batch_norm(z, tensor(window_weight, dtype), bns[0])  # (windows, C)
        if len(convs) == 1:
            x = x.index_select(0, tensor(ids))
        else:
            second = convs[1]
            assert second.bias is not None
            taps = second.kernel_size[0]
            products = x @ second.weight.permute(1, 2, 0).reshape(x.shape[1], -1)  # (windows, taps · C)
            index = np.lib.stride_tricks.sliding_window_view(ids, taps) * taps + np.arange(taps)
            z = F.embedding_bag(tensor(index), products.reshape(-1, second.out_channels), mode="sum")
            x = relu_weighted_batch_norm(z + second.bias, weights[1], bns[1])
            for conv, bn, w in zip(convs[2:], bns[2:], weights[2:], strict=True):
                x = relu_weighted_batch_norm(shifted_conv(x, conv), w, bn)
        rows = x.index_select(0, tensor(layout.output_index))
        return rows, tensor(layout.output_weights, dtype)


class BilinearAttention(nn.Module):
    def __init__(self, config: DrugBANConfig) -> None:
        super().__init__()
        self.config = config
        width = config.ban_pooled * config.ban_k  # 768
        self.dropout = nn.Dropout(config.ban_dropout)
        self.drug_projection = WeightNormLinear(config.drug_hidden[-1], width)
        self.protein_projection = WeightNormLinear(config.protein_filters[-1], width)
        self.head_v = nn.Parameter(torch.randn(config.ban_heads, width))  # weight-normed h_mat
        self.head_g = nn.Parameter(self.head_v.detach().norm().reshape(()))
        self.head_bias = nn.Parameter(torch.randn(config.ban_heads))
        self.bn = nn.BatchNorm1d(config.ban_pooled)

    def heads(self) -> torch.Tensor:
        return self.head_g * self.head_v / self.head_v.norm()  # (heads, 768)

    def project_drug(self, v: torch.Tensor) -> torch.Tensor:
        return F.relu(self.drug_projection(self.dropout(v)))

    def project_protein(self, q: torch.Tensor) -> torch.Tensor:
        return F.relu(self.protein_projection(self.dropout(q)))

    def pool(self, fused: torch.Tensor) -> torch.Tensor:
        """Sum-pool (B, 768) → (B, 256) over consecutive groups of k, then BatchNorm."""
        pooled = fused.reshape(fused.shape[0], -1, self.config.ban_k).sum(-1)
        return self.bn(pooled)

    def forward(self, drug: DrugRows, protein_rows: torch.Tensor, layout: ProteinLayout) -> torch.Tensor:
        """Compact form: ``drug``'s rows against the rows of each pair's protein in ``protein_rows``
        (kept rows of ``layout``). Returns (B, 256).

        Per pair, ``pooled_rows`` gives the rows its attention map pools from the protein for
        each drug row; the fused vector sums them times the drug rows' projections and weights.
        """
        v = self.project_drug(drug.rows)  # (B + N, 768)
        q = self.project_protein(protein_rows)  # (M, 768)
        omega = torch.from_numpy(layout.output_weights).to(q.device, q.dtype)
        pair_protein = layout.protein_of_pair
        protein_starts = layout.segment_starts[pair_protein].tolist()
        protein_sizes = layout.segment_sizes[pair_protein].tolist()
        blocks = list(zip(drug.starts, drug.sizes, protein_starts, protein_sizes, strict=True))
        pooled = pooled_rows(v * self.heads().sum(0), q, self.head_bias.sum(), omega, blocks)
        contributions = v * drug.weights[:, None] * pooled  # (float32 under bf16 autocast: ``pooled`` is)
        fused = torch.zeros(len(drug.sizes), v.shape[1], dtype=contributions.dtype, device=v.device)
        fused = fused.index_add(0, drug.owner, contributions)
        return self.pool(fused)

    def forward_padded(self, v: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference form: v (B, 290, 128), q (B, L, 128) → (B, 256) and maps (B, heads, 290, L)."""
        v = self.project_drug(v)
        q = self.project_protein(q)
        maps = torch.einsum("hk,bvk,bqk->bhvq", self.heads(), v, q) + self.head_bias[None, :, None, None]
        fused = sum(torch.einsum("bvk,bvq,bqk->bk", v, maps[:, h], q) for h in range(maps.shape[1]))
        assert isinstance(fused, torch.Tensor)
        return self.pool(fused), maps


class Decoder(nn.Module):
    def __init__(self, config: DrugBANConfig) -> None:
        super().__init__()
        widths = (config.ban_pooled, config.decoder_hidden, config.decoder_hidden, config.decoder_out)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.bns = nn.ModuleList(nn.BatchNorm1d(b) for b in widths[1:])
        self.out = nn.Linear(config.decoder_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear, bn in zip(self.hidden, self.bns, strict=True):
            x = bn(F.relu(linear(x)))
        return self.out(x).squeeze(-1)  # (B,) logits


class DrugBAN(nn.Module):
    def __init__(self, config: DrugBANConfig | None = None) -> None:
        super().__init__()
        self.config = config or DrugBANConfig()
        self.drug = MolecularGCN(self.config)
        self.protein = ProteinCNN(self.config)
        self.fusion = BilinearAttention(self.config)
        self.decoder = Decoder(self.config)

    def forward(self, batch: PairBatch) -> torch.Tensor:
        """Interaction logits (B,) by the compact exact path."""
        atoms, virtual = self.drug(batch)
        layout = protein_layout(batch.proteins.cpu().numpy(), self.config.protein_kernels)
        protein_rows = self.protein.forward_layout(layout)[0]
        fused = self.fusion(drug_rows(atoms, virtual, batch.n_atoms, self.config.max_drug_nodes), protein_rows, layout)
        return self.decoder(fused)

    def reference_forward(
        self, drug_features: torch.Tensor, drug_adjacency: torch.Tensor, proteins: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The literal padded DrugBAN forward: logits (B,) and attention maps (B, heads, 290, L)."""
        v = self.drug.forward_padded(drug_features, drug_adjacency)
        fused, maps = self.fusion.forward_padded(v, self.protein(proteins))
        return self.decoder(fused), maps


def predict_probabilities(
    model: DrugBAN, inputs: DrugBANInputs, batch_size: int = EVAL_BATCH_SIZE, *, precision: Precision = "fp32"
) -> np.ndarray:
    """Interaction probabilities of every pair, in eval mode, by the compact exact path, on the
    model's device (``precision``: see ``model.devices``)."""
    model.eval()
    compute = Compute(model_device(model), precision)
    out = np.empty(len(inputs), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            index = np.arange(start, min(start + batch_size, len(inputs)))
            with compute.autocast():
                logits = model(inputs.batch(index).to(compute.device))
            out[index] = torch.sigmoid(widened(logits)).double().cpu().numpy()
    return out


def model_device(model: nn.Module) -> torch.device:
    """Where a model's parameters are (it computes there)."""
    return next(model.parameters()).device


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
