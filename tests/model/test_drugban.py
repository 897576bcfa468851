from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from repurpose.data.pairs import read_pairs
from repurpose.model.directory import load_model_dir
from repurpose.model.drugban import DrugBAN, DrugBANConfig, predict_probabilities, weighted_batch_norm
from repurpose.model.pair_batch import featurize_pairs
from tests.helpers import BUNDLED_DIR, DRUG_LIKE_SMILES, REPO_ROOT, ModelInputs, model_inputs, random_protein

HUMAN_TRAIN = REPO_ROOT / "data" / "human" / "random" / "train.csv"

# Pairs that exercise the compact path's edge cases: a one-atom drug, a drug of exactly 290
# atoms (no virtual nodes), proteins of 1 residue (shorter than the CNN's receptive field),
# just under, exactly at and over 1200 residues (no padded tail).
CASES = {
    "small": (["C", "CCO", "c1ccncc1"], [random_protein(5, 1), random_protein(300, 2), random_protein(1199, 3)]),
    "edges": (
        ["C[N+](C)(C)C", DRUG_LIKE_SMILES, "C" * 290, "O"],
        ["M", random_protein(1200, 4), random_protein(1500, 5), random_protein(40, 6)],
    ),
    # one protein in two pairs: convolved once, weighed twice, its gradient from both pairs
    "shared": (
        ["CCO", DRUG_LIKE_SMILES, "c1ccncc1"],
        [random_protein(400, 7), random_protein(90, 8), random_protein(400, 7)],
    ),
}


def double_model(seed: int = 0) -> DrugBAN:
    torch.manual_seed(seed)
    return DrugBAN(DrugBANConfig(ban_dropout=0.0)).double()


def warm_up(model: DrugBAN, inputs: ModelInputs) -> None:
    """One train-mode reference forward, so that eval mode uses non-trivial running statistics."""
    model.train()
    with torch.no_grad():
        model.reference_forward(inputs.drug_features, inputs.drug_adjacency, inputs.proteins)


@pytest.fixture(params=sorted(CASES))
def case_inputs(request: pytest.FixtureRequest) -> ModelInputs:
    smiles, proteins = CASES[request.param]
    return model_inputs(smiles, proteins)


def test_forward_output_shapes() -> None:
    torch.manual_seed(0)
    model = DrugBAN().eval()
    inputs = model_inputs(["CCO", "c1ccncc1", "C"], ["MKV", random_protein(1300), "A"], dtype=torch.float32)

    with torch.no_grad():
        logits = model(inputs.batch)
        reference, maps = model.reference_forward(inputs.drug_features, inputs.drug_adjacency, inputs.proteins)

    assert logits.shape == (3,)
    assert reference.shape == (3,)
    assert maps.shape == (3, 2, 290, 1185)
    assert model.config.protein_positions == 1185


def test_forward_equals_reference_in_eval_mode(case_inputs: ModelInputs) -> None:
    model = double_model()
    warm_up(model, case_inputs)
    model.eval()

    with torch.no_grad():
        compact = model(case_inputs.batch)
        reference, _ = model.reference_forward(
            case_inputs.drug_features, case_inputs.drug_adjacency, case_inputs.proteins
        )

    torch.testing.assert_close(compact, reference, rtol=1e-9, atol=1e-9)


def test_forward_equals_reference_in_train_mode(case_inputs: ModelInputs) -> None:
    compact_model = double_model().train()
    reference_model = copy.deepcopy(compact_model)

    compact = compact_model(case_inputs.batch)
    reference, _ = reference_model.reference_forward(
        case_inputs.drug_features, case_inputs.drug_adjacency, case_inputs.proteins
    )

    torch.testing.assert_close(compact, reference, rtol=1e-9, atol=1e-9)
    # BatchNorm recorded the statistics of the full padded batch, and the gradients agree
    compact_state, reference_state = compact_model.state_dict(), reference_model.state_dict()
    for key in compact_state:
        torch.testing.assert_close(compact_state[key], reference_state[key], rtol=1e-7, atol=1e-9, msg=key)
    compact.sum().backward()
    reference.sum().backward()
    for (name, p), q in zip(compact_model.named_parameters(), reference_model.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-7, atol=1e-9, msg=name)


def test_forward_same_pair_scores_same_in_any_batch() -> None:
    model = double_model()
    inputs = model_inputs(["CCO", DRUG_LIKE_SMILES], ["MKV", random_protein(800)])
    warm_up(model, inputs)
    model.eval()
    alone = model_inputs([DRUG_LIKE_SMILES], [random_protein(800)])

    with torch.no_grad():
        together, single = model(inputs.batch), model(alone.batch)

    torch.testing.assert_close(together[1:], single, rtol=1e-9, atol=1e-9)


def test_weighted_batch_norm_equals_batchnorm_on_expanded_rows_in_training() -> None:
    torch.manual_seed(0)
    x = torch.randn(5, 4, dtype=torch.float64)
    weights = torch.tensor([1.0, 3.0, 0.0, 2.0, 7.0], dtype=torch.float64)
    weighted = nn.BatchNorm1d(4).double().train()
    with torch.no_grad():
        weighted.weight.uniform_(0.5, 1.5)
        weighted.bias.uniform_(-1.0, 1.0)
    expanded = copy.deepcopy(weighted)

    out = weighted_batch_norm(x, weights, weighted)
    reference = expanded(x.repeat_interleave(weights.long(), dim=0))

    torch.testing.assert_close(out.repeat_interleave(weights.long(), dim=0), reference)
    torch.testing.assert_close(weighted.running_mean, expanded.running_mean)
    torch.testing.assert_close(weighted.running_var, expanded.running_var)
    assert weighted.num_batches_tracked.item() == expanded.num_batches_tracked.item() == 1


def test_weighted_batch_norm_uses_running_statistics_in_eval() -> None:
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(4).double()
    bn.train()
    bn(torch.randn(16, 4, dtype=torch.float64) * 3 + 1)  # non-trivial running statistics
    bn.eval()
    x = torch.randn(3, 4, dtype=torch.float64)

    out = weighted_batch_norm(x, torch.tensor([1.0, 100.0, 5.0], dtype=torch.float64), bn)

    torch.testing.assert_close(out, bn(x))


def test_config_round_trips_through_json() -> None:
    config = DrugBANConfig(ban_dropout=0.1, protein_kernels=(3, 5, 7))

    restored = DrugBANConfig.from_dict(json.loads(json.dumps(config.to_dict())))

    assert restored == config
    assert restored.protein_positions == 1200 - 2 - 4 - 6


@dataclass(frozen=True)
class HumanBatch:
    inputs32: ModelInputs
    labels: torch.Tensor
    exact: DrugBAN  # the reference model in float64 after one forward and backward on the batch
    exact_logits: torch.Tensor


def _loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


@pytest.fixture(scope="module")
def human_batch() -> HumanBatch:
    """16 pairs of the Human training split and the padded reference's float64 step on them."""
    pairs = read_pairs(HUMAN_TRAIN)
    assert pairs.labels is not None
    index = np.random.default_rng(0).permutation(len(pairs))[:16]
    smiles, proteins = [pairs.smiles[i] for i in index], [pairs.proteins[i] for i in index]
    exact = double_model()
    inputs64 = model_inputs(smiles, proteins)
    labels = torch.from_numpy(pairs.labels[index])
    logits, _ = exact.train().reference_forward(inputs64.drug_features, inputs64.drug_adjacency, inputs64.proteins)
    _loss(logits, labels).backward()
    return HumanBatch(model_inputs(smiles, proteins, dtype=torch.float32), labels, exact, logits.detach())


@pytest.mark.slow
def test_training_step_equals_reference_on_human_pairs(human_batch: HumanBatch) -> None:
    """In float64 the compact step is the padded one: logits, every gradient, BatchNorm's statistics."""
    model = double_model().train()
    batch = dataclasses.replace(
        human_batch.inputs32.batch, node_features=human_batch.inputs32.batch.node_features.double()
    )

    logits = model(batch)
    _loss(logits, human_batch.labels).backward()

    torch.testing.assert_close(logits.detach(), human_batch.exact_logits, rtol=0, atol=1e-9)
    for (name, p), q in zip(model.named_parameters(), human_batch.exact.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-7, atol=1e-10, msg=name)
    exact_state = human_batch.exact.state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, exact_state[key], rtol=1e-7, atol=1e-9, msg=key)


@pytest.mark.slow
def test_float32_training_step_is_within_float_tolerance_on_human_pairs(human_batch: HumanBatch) -> None:
    """As trained (float32), the compact step's logits are within 1e-5 of the exact (float64)
    padded function's and every gradient within 1e-3 of its largest entry (on this batch: logits
    3e-6 and gradients 3e-4 at most; the float32 padded forward itself is off by 3e-4 and 1e-2)."""
    model = double_model().float().train()

    logits = model(human_batch.inputs32.batch)
    _loss(logits, human_batch.labels).backward()

    torch.testing.assert_close(logits.detach().double(), human_batch.exact_logits, rtol=0, atol=1e-5)
    for (name, p), q in zip(model.named_parameters(), human_batch.exact.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        scale = float(q.grad.abs().max())
        torch.testing.assert_close(p.grad.double(), q.grad, rtol=0, atol=1e-3 * scale, msg=name)


def test_bundled_model_scores_as_its_reference_forward() -> None:
    """models/drugban-human loads as before and the compact path scores as the padded forward."""
    model = load_model_dir(BUNDLED_DIR).drugban
    assert model is not None
    pairs = read_pairs(REPO_ROOT / "data" / "human" / "random" / "val.csv")
    index = np.arange(12)
    smiles, proteins = [pairs.smiles[i] for i in index], [pairs.proteins[i] for i in index]
    inputs = model_inputs(smiles, proteins, dtype=torch.float32)

    compact = predict_probabilities(model, featurize_pairs(smiles, proteins, None))
    with torch.inference_mode():
        logits, _ = model.reference_forward(inputs.drug_features, inputs.drug_adjacency, inputs.proteins)

    np.testing.assert_allclose(compact, torch.sigmoid(logits).double().numpy(), rtol=0, atol=1e-5)
