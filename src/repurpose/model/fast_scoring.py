"""The exact fast path for scoring: DrugBAN's bilinear attention collapsed to Gram matrices.

With no softmax, the pooled attention of a drug (projected rows V_i, weights w_i) and a protein
(projected rows Q_j, weights ω_j) is, before sum-pooling,

    f[k] = Σ_i w_i V_i[k] (M V_i)[k] + C s_v[k] s_q[k],     M[k, k'] = G[k, k'] H[k'],

with G = Qᵀ diag(ω) Q, H and C the heads' attention vectors and biases summed over heads,
s_v = Σ_i w_i V_i and s_q = Σ_j ω_j Q_j. M and s_q depend on the target and the model only
(``TargetTensors``, computed once per target), and a drug's 290 − n virtual nodes share one row
u, constant per model, so per compound only its n real atoms need ``V @ Mᵀ``: one matrix
product for a whole batch of compounds. The rest of the model (the GCN, the projections,
BatchNorm in eval mode, the decoder) runs as in ``DrugBAN`` itself.

Profiling (one compound against many targets) uses the same identity the other way round:
f[k] = Σ_k' Mᵀ[k', k] S[k', k] with S = Vᵀ diag(w) V per compound, one multiply-add over each
target's cached ``Mᵀ``.

Everything runs in the model's dtype (float32 as trained, like the reference forward): the two
agree to ~1e-5 in probability in float32, and to rounding (~1e-12) in float64.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem

from repurpose.data.drug_graph import MAX_DRUG_NODES, DrugGraph, featurize_drug, graph_of, parse_smiles
from repurpose.data.protein_encoding import encode_protein
from repurpose.errors import RepurposeError
from repurpose.model.drugban import DrugBAN
from repurpose.model.pair_batch import PairBatch, collate_pairs

DEFAULT_COMPOUND_CACHE = 50_000


@dataclass(frozen=True)
class TargetTensors:
    """A target's side of the model, per model: ``m_t`` = Mᵀ (768 × 768), ``s_q`` (768,), and
    ``virtual_term`` = u ⊙ (M u), the contribution of one virtual drug node."""

    m_t: torch.Tensor
    s_q: torch.Tensor
    virtual_term: torch.Tensor

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.m_t, self.s_q, self.virtual_term))


@dataclass(frozen=True)
class CompoundFailure:
    index: int  # position in the input
    smiles: str
    reason: str


@dataclass(frozen=True)
class DrugRows:
    """A batch's drug side: ``v`` holds one projected row per distinct atom state; atom j of the
    batch has state ``inverse[j]`` and belongs to compound ``owner[j]``."""

    v: torch.Tensor  # (S, 768)
    inverse: torch.Tensor  # (N,)
    owner: torch.Tensor  # (N,)
    n_atoms: torch.Tensor  # (B,)


class CompoundCache:
    """Featurised compounds (RDKit's work) by canonical SMILES, least recently used dropped first.

    A graph is also filed under the spelling it was asked by, so a repeat of that spelling skips
    RDKit altogether; another spelling of a cached molecule costs a parse, not a featurisation.
    Atom order follows the first spelling seen, which leaves scores unchanged (DrugBAN pools over
    atoms). Replicas call it from several threads: the dictionary is guarded, RDKit runs outside.
    """

    def __init__(self, capacity: int = DEFAULT_COMPOUND_CACHE) -> None:
        self.capacity = capacity
        self._graphs: OrderedDict[str, DrugGraph] = OrderedDict()  # canonical SMILES and spellings
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._graphs)

    def get(self, smiles: str) -> DrugGraph:
        if self.capacity <= 0:  # no cache: no canonical form to file it under either
            self.misses += 1
            return featurize_drug(smiles)
        graph = self._lookup(smiles)
        if graph is not None:
            return graph
        mol = parse_smiles(smiles)  # raises InvalidSmiles with RDKit's reason
        canonical = str(Chem.MolToSmiles(mol))
        graph = self._lookup(canonical)
        if graph is None:
            graph = graph_of(mol, smiles)
            with self._lock:
                self.misses += 1
                self._file(canonical, graph)
        with self._lock:
            self._file(smiles, graph)
        return graph

    def _lookup(self, key: str) -> DrugGraph | None:
        with self._lock:
            graph = self._graphs.get(key)
            if graph is not None:
                self._graphs.move_to_end(key)
                self.hits += 1
            return graph

    def _file(self, key: str, graph: DrugGraph) -> None:
        self._graphs[key] = graph  # (a cache of capacity 0 never gets here: ``get`` featurises directly)
        self._graphs.move_to_end(key)
        while len(self._graphs) > self.capacity:
            self._graphs.popitem(last=False)


class FastScorer:
    """Scores compounds against targets with a DrugBAN model in eval mode, exactly."""

    def __init__(self, model: DrugBAN, compounds: CompoundCache | None = None) -> None:
        self.model = model.eval()
        self.dtype = next(model.parameters()).dtype  # float32 as trained; float64 in exactness tests
        self.compounds = compounds if compounds is not None else CompoundCache()
        fusion = model.fusion
        with torch.inference_mode():
            self._heads = fusion.heads().sum(0)  # H (768,)
            self._bias = fusion.head_bias.sum()  # C
            # A virtual node's GCN state is the same beside any molecule (eval mode): take methane's.
            _, virtual = model.drug(self._batch([featurize_drug("C")]))
            self._virtual = fusion.project_drug(virtual[None])[0]  # u (768,)

    # --- the target side -----------------------------------------------------------------------

    @torch.inference_mode()
    def target_tensors(self, sequence: str) -> TargetTensors:
        """Everything about one target the scores need (validates the sequence)."""
        codes = torch.from_numpy(encode_protein(sequence, self.model.config.max_protein_length))[None]
        packed = self.model.protein.forward_packed(codes)
        q = self.model.fusion.project_protein(packed.rows)  # (m + 1, 768)
        weights = packed.weights.to(q.dtype)
        gram = (q * weights[:, None]).T @ q  # G = Qᵀ diag(ω) Q, symmetric
        m_t = (self._heads[:, None] * gram).contiguous()  # Mᵀ[k', k] = H[k'] G[k', k]
        u = self._virtual
        return TargetTensors(m_t=m_t, s_q=weights @ q, virtual_term=u * (u @ m_t))

    # --- the compound side ---------------------------------------------------------------------

    def featurize(self, smiles: Sequence[str]) -> tuple[list[int], list[DrugGraph], list[CompoundFailure]]:
        """Graphs of the compounds RDKit can read; the others as failures (index, reason)."""
        kept: list[int] = []
        graphs: list[DrugGraph] = []
        failures: list[CompoundFailure] = []
        for i, text in enumerate(smiles):
            try:
                graphs.append(self.compounds.get(text))
                kept.append(i)
            except RepurposeError as error:
                failures.append(CompoundFailure(i, text, error.message))
        return kept, graphs, failures

    @torch.inference_mode()
    def _drug_rows(self, graphs: Sequence[DrugGraph]) -> DrugRows:
        """The batch's projected atom rows, each distinct GCN state once (see ``DrugRows``)."""
        batch = self._batch(graphs)
        atoms, _ = self.model.drug(batch)
        # Atoms in the same 3-bond environment end the GCN in bit-identical states (a phenyl's
        # CH, a methyl on an amide…): project and multiply each distinct state once.
        first: dict[bytes, int] = {}
        inverse = torch.tensor([first.setdefault(row.tobytes(), len(first)) for row in atoms.numpy()], dtype=torch.long)
        distinct = torch.zeros(len(first), dtype=torch.long).index_copy_(0, inverse, torch.arange(len(inverse)))
        v = self.model.fusion.project_drug(atoms.index_select(0, distinct))
        owner = torch.repeat_interleave(torch.arange(batch.size), batch.n_atoms)
        return DrugRows(v=v, inverse=inverse, owner=owner, n_atoms=batch.n_atoms)

    # --- scores --------------------------------------------------------------------------------

    @torch.inference_mode()
    def score_graphs(self, target: TargetTensors, graphs: Sequence[DrugGraph]) -> np.ndarray:
        """Interaction probabilities of ``graphs`` against one target, (B,) float64."""
        if not graphs:
            return np.zeros(0)
        rows = self._drug_rows(graphs)
        v = rows.v
        per_state = v * (v @ target.m_t)  # V_i ⊙ (M V_i), once per distinct state
        fused = torch.zeros(len(graphs), v.shape[1], dtype=v.dtype)
        fused.index_add_(0, rows.owner, per_state.index_select(0, rows.inverse))
        n_virtual = (MAX_DRUG_NODES - rows.n_atoms).to(v.dtype)[:, None]
        fused += n_virtual * target.virtual_term
        s_v = torch.zeros_like(fused).index_add_(0, rows.owner, v.index_select(0, rows.inverse))
        fused += self._bias * (s_v + n_virtual * self._virtual) * target.s_q
        return self._decode(fused)

    def score(self, target: TargetTensors, smiles: Sequence[str]) -> tuple[np.ndarray, list[CompoundFailure]]:
        """Probabilities for ``smiles`` against one target: NaN where featurisation failed."""
        kept, graphs, failures = self.featurize(smiles)
        scores = np.full(len(smiles), np.nan)
        scores[kept] = self.score_graphs(target, graphs)
        return scores, failures

    @torch.inference_mode()
    def profile_graph(self, graph: DrugGraph, targets: Sequence[TargetTensors]) -> np.ndarray:
        """One compound's probabilities against each of ``targets``, (T,) float64."""
        if not targets:
            return np.zeros(0)
        rows = self._drug_rows([graph])
        counts = torch.bincount(rows.inverse, minlength=rows.v.shape[0]).to(rows.v.dtype)  # atoms per state
        n_virtual = float(MAX_DRUG_NODES - int(rows.n_atoms[0]))
        u = self._virtual
        v = rows.v
        s_matrix = (v * counts[:, None]).T @ v + n_virtual * torch.outer(u, u)  # S = Vᵀ diag(w) V
        s_v = counts @ v + n_virtual * u
        # Per target one multiply-add pass over its cached Mᵀ, into one reused buffer: memory-bound,
        # so no stacking (a copy of every target's 2.3 MiB) and no temporaries.
        buffer = torch.empty_like(s_matrix)
        fused = torch.empty(len(targets), s_matrix.shape[1], dtype=s_matrix.dtype)
        for i, target in enumerate(targets):
            torch.sum(torch.mul(target.m_t, s_matrix, out=buffer), dim=0, out=fused[i])
        fused += self._bias * s_v * torch.stack([t.s_q for t in targets])
        return self._decode(fused)

    def _batch(self, graphs: Sequence[DrugGraph]) -> PairBatch:
        batch = collate_pairs(graphs, np.zeros((len(graphs), 1), np.int64))  # the proteins are not read
        return dataclasses.replace(batch, node_features=batch.node_features.to(self.dtype))

    def _decode(self, fused: torch.Tensor) -> np.ndarray:
        pooled = self.model.fusion.pool(fused)  # sum over groups of k, then BatchNorm (eval)
        return torch.sigmoid(self.model.decoder(pooled)).double().numpy()
