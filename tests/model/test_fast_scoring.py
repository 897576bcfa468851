"""The exact fast path equals DrugBAN's reference forward; its caches behave."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch

from repurpose.data.drug_graph import featurize_drug
from repurpose.data.protein_encoding import encode_protein
from repurpose.model.compound_states import CompoundStateCache
from repurpose.model.directory import load_model_dir
from repurpose.model.drugban import DrugBAN, DrugBANConfig
from repurpose.model.fast_scoring import CompoundCache, FastScorer, GramLayout, TargetTensors
from repurpose.model.pair_batch import padded_drug_inputs
from repurpose.scoring.core import TargetCache
from tests.helpers import BUNDLED_DIR, DRUG_LIKE_SMILES, REPO_ROOT, model_inputs, random_protein

BUNDLED = BUNDLED_DIR
HUMAN_VAL = REPO_ROOT / "data" / "human" / "random" / "val.csv"

MOLECULES = [
    "C",  # one atom
    "CCO",
    DRUG_LIKE_SMILES,
    "O=C(O)c1ccccc1OC(C)=O",
    "[Na+].[Cl-]",  # two fragments, no bonds between them
    "C" * 290,  # the largest molecule DrugBAN takes
]
PROTEINS = [
    random_protein(30, seed=1),
    random_protein(700, seed=2),
    random_protein(1200, seed=3),
    random_protein(1500, seed=4),
]


def random_model(seed: int, dtype: torch.dtype = torch.float32) -> DrugBAN:
    """A model with random weights whose BatchNorm statistics come from real pairs, as a trained
    model's do (so activations keep a trained model's scale), in eval mode."""
    torch.manual_seed(seed)
    model = DrugBAN(DrugBANConfig()).to(dtype)
    calibration = model_inputs(MOLECULES[:4] * 2, PROTEINS * 2, dtype=dtype)
    model.train()
    with torch.no_grad():
        model(calibration.batch)  # BatchNorm momentum=None: the running stats are this batch's
    return model.eval()


def reference_probabilities(model: DrugBAN, smiles: list[str], proteins: list[str]) -> np.ndarray:
    dtype = next(model.parameters()).dtype
    out = []
    with torch.inference_mode():
        for start in range(0, len(smiles), 32):
            graphs = [featurize_drug(s) for s in smiles[start : start + 32]]
            features, adjacency = padded_drug_inputs(graphs)
            codes = torch.from_numpy(np.stack([encode_protein(p) for p in proteins[start : start + 32]]))
            logits, _ = model.reference_forward(features.to(dtype), adjacency.to(dtype), codes)
            out.append(torch.sigmoid(logits).double().numpy())
    return np.concatenate(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_path_is_the_reference_forward_in_float64(seed: int) -> None:
    """The algebra is exact: in float64 the two paths agree to rounding, for 1 to 290 atoms and
    proteins shorter and longer than 1200 residues."""
    model = random_model(seed, torch.float64)
    scorer = FastScorer(model)
    for protein in PROTEINS:
        fast, failures = scorer.score(scorer.target_tensors(protein), MOLECULES)
        reference = reference_probabilities(model, MOLECULES, [protein] * len(MOLECULES))
        assert failures == []
        np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9, err_msg=f"seed {seed}, {len(protein)} residues")


@pytest.mark.parametrize("seed", [3, 4])
def test_fast_path_matches_the_reference_in_float32(seed: int) -> None:
    model = random_model(seed)
    scorer = FastScorer(model)
    for protein in PROTEINS:
        fast, _ = scorer.score(scorer.target_tensors(protein), MOLECULES)
        reference = reference_probabilities(model, MOLECULES, [protein] * len(MOLECULES))
        assert np.abs(fast - reference).max() <= 1e-4, (seed, len(protein))


def test_profile_equals_scoring_target_by_target() -> None:
    model = random_model(5)
    scorer = FastScorer(model)
    targets = [scorer.target_tensors(p) for p in PROTEINS]
    graph = featurize_drug(DRUG_LIKE_SMILES)
    profiled = scorer.profile_graph(graph, targets)
    one_by_one = [scorer.score_graphs(t, [graph])[0] for t in targets]
    np.testing.assert_allclose(profiled, one_by_one, atol=1e-6)


def test_bad_compounds_are_reported_and_skipped() -> None:
    scorer = FastScorer(random_model(0))
    target = scorer.target_tensors(PROTEINS[0])
    scores, failures = scorer.score(target, ["CCO", "C1CC", "", "CCN"])
    assert [(f.index, f.smiles) for f in failures] == [(1, "C1CC"), (2, "")]
    assert "unclosed ring" in failures[0].reason and "empty" in failures[1].reason.lower()
    assert np.isnan(scores[[1, 2]]).all() and np.isfinite(scores[[0, 3]]).all()
    alone, _ = scorer.score(target, ["CCO", "CCN"])
    np.testing.assert_allclose(scores[[0, 3]], alone, atol=1e-7)  # neighbours never change a score


def test_kept_gcn_states_give_the_reference_forward_in_float64() -> None:
    """A compound's GCN states kept from an earlier call score as a fresh run does: in a batch of
    kept and new compounds (atom states shared between them multiplied once), against the reference."""
    model = random_model(6, torch.float64)
    kept = FastScorer(model, states=CompoundStateCache(2**20))
    graphs = [kept.compounds.get(s) for s in MOLECULES]
    target = kept.target_tensors(PROTEINS[1])
    first = kept.score_graphs(target, graphs[::2], reuse_states=True)  # half of them, kept
    mixed = kept.score_graphs(target, graphs, reuse_states=True)
    again = kept.score_graphs(target, graphs[::-1], reuse_states=True)[::-1]
    reference = reference_probabilities(model, MOLECULES, [PROTEINS[1]] * len(MOLECULES))

    np.testing.assert_allclose(mixed, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(first, mixed[::2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(again, mixed, rtol=0, atol=1e-12)
    assert kept.states is not None
    assert (kept.states.hits, kept.states.misses, len(kept.states)) == (3 + 6, 3 + 3, 6)


def test_the_kept_gcn_states_stay_within_their_budget_and_drop_the_oldest() -> None:
    model = random_model(7)
    scorer = FastScorer(model, states=CompoundStateCache(2**20))
    target = scorer.target_tensors(PROTEINS[0])
    graphs = [scorer.compounds.get(s) for s in ("CCO", "CCN", DRUG_LIKE_SMILES)]
    sizes = [entry.nbytes for entry in scorer._compound_states(graphs)]
    assert sizes[2] > 5 * sizes[0]  # a drug-like compound holds many distinct atom states
    scorer.states = CompoundStateCache(budget_bytes=sizes[0] + sizes[1] + 10)
    plain = scorer.score_graphs(target, graphs)
    scores = scorer.score_graphs(target, graphs, reuse_states=True)  # the largest does not fit: not kept
    assert len(scorer.states) == 2 and scorer.states.bytes <= scorer.states.budget_bytes
    np.testing.assert_allclose(scores, plain, atol=1e-6)
    scorer.score_graphs(target, [graphs[0]], reuse_states=True)  # CCO is now the most recent
    scorer.score_graphs(target, [scorer.compounds.get("CCC")], reuse_states=True)  # kept: CCN, the oldest, goes
    kept = scorer.states.get_many(["CCO", "CCN", "CCC"])
    assert [entry is not None for entry in kept] == [True, False, True]
    assert scorer.states.bytes <= scorer.states.budget_bytes


def test_compound_cache_is_lru() -> None:
    cache = CompoundCache(capacity=2)
    cache.get("CCO")
    cache.get("CCN")
    cache.get("CCO")  # hit: CCO is now the most recent
    cache.get("CCC")  # evicts CCN
    assert (cache.hits, cache.misses, len(cache)) == (1, 3, 2)
    cache.get("CCN")
    assert cache.misses == 4


def test_compound_cache_knows_a_molecule_by_its_canonical_smiles() -> None:
    cache = CompoundCache(capacity=10)
    first = cache.get("OCC")
    again = cache.get("C(O)C")  # another spelling of ethanol: parsed, not featurised again
    assert again is first and (cache.hits, cache.misses) == (1, 1)
    assert cache.get("C(O)C") is first and cache.hits == 2  # that spelling is now filed too
    assert cache.get("CCO") is first and cache.misses == 1  # the canonical form itself


def test_compound_cache_is_safe_under_threads() -> None:
    cache = CompoundCache(capacity=8)
    smiles = [f"C{'C' * (i % 12)}O" for i in range(400)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        graphs = list(pool.map(cache.get, smiles))
    assert [g.n_atoms for g in graphs] == [len(s) for s in smiles]
    assert len(cache) <= 8 and cache.hits + cache.misses == len(smiles)  # one or the other per call


def test_target_cache_stays_within_its_budget() -> None:
    scorer = FastScorer(random_model(0))
    one = scorer.target_tensors(PROTEINS[0])
    cache = TargetCache(budget_bytes=2 * one.nbytes + 10)
    for i, protein in enumerate(PROTEINS):
        _, fresh = cache.get(("m", f"t{i}"), lambda p=protein: scorer.target_tensors(p))
        assert fresh
    assert len(cache) == 2 and cache.bytes <= cache.budget_bytes
    _, fresh = cache.get(("m", "t3"), lambda: pytest.fail("t3 is cached"))
    assert not fresh and cache.hits == 1


@pytest.mark.slow
def test_fast_path_equals_reference_on_the_human_val_pairs_with_the_bundled_model() -> None:
    model = load_model_dir(BUNDLED).drugban
    assert model is not None
    # every third val pair: 200 pairs over most of the val proteins; the padded reference is the slow side
    pairs = pd.read_csv(HUMAN_VAL).iloc[::3].reset_index(drop=True)
    scorer = FastScorer(model)
    fast = np.empty(len(pairs))
    for protein, rows in pairs.groupby("Protein").groups.items():
        index = np.asarray(list(rows))
        scores, failures = scorer.score(scorer.target_tensors(str(protein)), pairs.SMILES[index].tolist())
        assert failures == []
        fast[index] = scores
    reference = reference_probabilities(model, pairs.SMILES.tolist(), pairs.Protein.tolist())
    assert len(pairs) == 200 and pairs.Protein.nunique() == 181
    assert np.abs(fast - reference).max() <= 1e-4


def test_gram_layout_packs_and_unpacks_a_symmetric_matrix() -> None:
    layout = GramLayout(5)
    half = torch.randn(5, 5, dtype=torch.float64)
    symmetric = half + half.T
    packed = layout.pack(symmetric)
    assert packed.shape == (15,)
    assert torch.equal(layout.unpack(packed), symmetric)
    out = torch.empty(5, 5, dtype=torch.float64)
    assert layout.unpack(packed, out=out) is out and torch.equal(out, symmetric)


def test_target_tensors_round_trip_through_one_vector() -> None:
    scorer = FastScorer(random_model(0))
    tensors = scorer.target_tensors(PROTEINS[1])
    again = TargetTensors.from_flat(tensors.flat(), scorer.width)
    assert all(torch.equal(a, b) for a, b in zip(again.flat(), tensors.flat(), strict=True))
    assert tensors.nbytes == (768 * 769 // 2 + 2 * 768) * 4  # float32: G's upper triangle and two vectors
    with pytest.raises(ValueError, match="no target's tensors"):
        TargetTensors.from_flat(tensors.flat()[:-1], scorer.width)


def test_the_sparse_gcn_is_the_models_gcn_in_eval_mode() -> None:
    model = random_model(6, torch.float64)
    scorer = FastScorer(model)
    batch = scorer._batch([featurize_drug(s) for s in MOLECULES])
    with torch.inference_mode():
        expected, _ = model.drug(batch)
        torch.testing.assert_close(scorer.atom_states(batch), expected, rtol=0, atol=1e-12)


def test_a_profile_in_blocks_equals_one_pass() -> None:
    scorer = FastScorer(random_model(7))
    targets = [scorer.target_tensors(p) for p in PROTEINS]
    graph = featurize_drug(DRUG_LIKE_SMILES)
    compound = scorer.profile_compound(graph)
    blocks = np.concatenate(
        [scorer.profile_targets(compound, targets[:1]), scorer.profile_targets(compound, targets[1:])]
    )
    np.testing.assert_allclose(blocks, scorer.profile_graph(graph, targets), rtol=0, atol=1e-12)
