"""Device selection and precision: the setting, the resolver, and every path on the CPU (bf16 too);
the same paths on a GPU where PyTorch sees one (skipped, with the reason, where it does not)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from repurpose.data.pairs import read_pairs
from repurpose.errors import InvalidInput
from repurpose.model.devices import CPU, Compute, resolve_compute, resolve_device
from repurpose.model.directory import WEIGHT_FILES, load_model_dir
from repurpose.model.drugban import DrugBAN, predict_probabilities
from repurpose.model.explanations import explain_pair
from repurpose.model.fast_scoring import CompoundCache, FastScorer
from repurpose.model.pair_batch import featurize_pairs
from repurpose.scoring.core import ScoringCore
from repurpose.settings import Settings
from repurpose.training.pipeline import train_on_pairs
from tests.helpers import BUNDLED_DIR, REPO_ROOT, SAMPLE_VAL, assert_same_state, small_train_file, tiny_training_config

HUMAN_VAL = REPO_ROOT / "data" / "human" / "random" / "val.csv"
CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device: PyTorch sees no GPU on this machine")
without_cuda = pytest.mark.skipif(CUDA, reason="a CUDA device is present: the CPU-only outcome cannot be observed")

BF16_BOUND = 0.05
"""Max |Δp| of bf16 autocast against float32 on the bundled model (README: 0.042 measured on the
CPU over 512 Human val pairs by the compact path; bounds the pairs tested here)."""


@pytest.fixture(scope="module")
def bundled() -> DrugBAN:
    model = load_model_dir(BUNDLED_DIR).drugban
    assert model is not None
    return model


@pytest.fixture(scope="module")
def human_pairs() -> tuple[list[str], list[str]]:
    val = read_pairs(HUMAN_VAL)
    return list(val.smiles[:24]), list(val.proteins[:24])


# --- the settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "read"), [("auto", "auto"), ("CPU", "cpu"), ("cuda", "cuda"), (" cuda:1 ", "cuda:1")]
)
def test_device_setting_takes_auto_cpu_cuda_and_cuda_n(given: str, read: str) -> None:
    assert Settings(device=given).device == read


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:-1", "cuda:x", "mps", ""])
def test_a_malformed_device_setting_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"device .* is not a device: give auto, cpu, cuda or cuda:N"):
        Settings(device=bad)


def test_device_and_precision_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPURPOSE_DEVICE", "cpu")
    monkeypatch.setenv("REPURPOSE_PRECISION", "bf16")
    settings = Settings()
    assert (settings.device, settings.precision) == ("cpu", "bf16")


def test_defaults_are_auto_and_float32() -> None:
    assert (Settings().device, Settings().precision) == ("auto", "fp32")


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ValidationError, match="precision"):
        Settings(precision="fp16")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="precision 'fp8' is not a precision"):
        resolve_compute("cpu", "fp8")


# --- the resolver -----------------------------------------------------------------------------------


def test_cpu_is_the_cpu() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("cpu", gpus=1) == CPU  # an explicit cpu wins over declared GPUs


@without_cuda
def test_auto_is_the_cpu_without_cuda() -> None:
    assert resolve_device("auto") == CPU
    assert resolve_device("auto", gpus=1) == CPU


def test_auto_stays_on_the_cpu_when_no_gpu_was_declared() -> None:
    """A worker or replica that reserved no GPU never takes one, even where PyTorch sees some."""
    assert resolve_device("auto", gpus=0) == CPU


@without_cuda
@pytest.mark.parametrize("asked", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_cuda_device_is_a_clear_error(asked: str) -> None:
    with pytest.raises(InvalidInput, match=rf"device '{asked}' asks for a CUDA device PyTorch does not see"):
        resolve_device(asked)


def test_a_malformed_device_is_refused_by_the_resolver_too() -> None:
    with pytest.raises(InvalidInput, match="'gpu0' is not a device"):
        resolve_device("gpu0")


@needs_cuda
def test_auto_is_the_first_assigned_gpu_with_cuda() -> None:
    assert resolve_device("auto", gpus=1) == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    with pytest.raises(InvalidInput, match="does not see"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_the_scorer_resolves_its_device_from_its_settings(tmp_path: Path) -> None:
    core = ScoringCore(Settings(home=tmp_path, device="cpu", precision="bf16"))
    assert core.compute == Compute(CPU, "bf16")
    assert ScoringCore(Settings(home=tmp_path)).compute == Compute(CPU, "fp32")  # no GPU declared: the CPU


# --- training and scoring with device="cpu" given explicitly ----------------------------------------


def test_training_on_an_explicit_cpu_equals_the_default(tmp_path: Path) -> None:
    """An epoch of two batches: the same weights, bit for bit, as with no device given; saved
    as CPU tensors."""
    train, val = read_pairs(small_train_file(tmp_path, rows=24)), read_pairs(SAMPLE_VAL).subset(np.arange(8))
    config = tiny_training_config(epochs=1, batch_size=12)
    train_on_pairs(train, val, tmp_path / "default", config, evidence=False)
    train_on_pairs(train, val, tmp_path / "cpu", config, evidence=False, compute=resolve_compute("cpu", "fp32"))
    default, explicit = load_model_dir(tmp_path / "default"), load_model_dir(tmp_path / "cpu", device=CPU)
    assert default.drugban is not None and explicit.drugban is not None
    assert_same_state(default.drugban.state_dict(), explicit.drugban.state_dict())
    assert explicit.threshold == default.threshold
    saved = torch.load(tmp_path / "cpu" / WEIGHT_FILES["drugban"], weights_only=True)
    assert {tensor.device for tensor in saved.values()} == {CPU}


def test_scoring_on_an_explicit_cpu_equals_the_default(
    bundled: DrugBAN, human_pairs: tuple[list[str], list[str]]
) -> None:
    smiles, proteins = human_pairs
    default = FastScorer(bundled, CompoundCache(0))
    explicit = FastScorer(load_model_dir(BUNDLED_DIR, device=resolve_device("cpu")).drugban, CompoundCache(0))  # type: ignore[arg-type]
    target = default.target_tensors(proteins[0])
    np.testing.assert_array_equal(default.score(target, smiles)[0], explicit.score(target, smiles)[0])


def test_tf32_on_the_cpu_is_float32(bundled: DrugBAN, human_pairs: tuple[list[str], list[str]]) -> None:
    smiles, proteins = human_pairs
    inputs = featurize_pairs(smiles[:8], proteins[:8], None)
    np.testing.assert_array_equal(
        predict_probabilities(bundled, inputs, precision="tf32"), predict_probabilities(bundled, inputs)
    )


# --- bf16 on the CPU (autocast) ----------------------------------------------------------------------


def test_bf16_compact_forward_is_within_its_bound(bundled: DrugBAN, human_pairs: tuple[list[str], list[str]]) -> None:
    inputs = featurize_pairs(human_pairs[0][:12], human_pairs[1][:12], None)
    full = predict_probabilities(bundled, inputs)
    half = predict_probabilities(bundled, inputs, precision="bf16")
    assert np.abs(half - full).max() <= BF16_BOUND
    assert not np.array_equal(half, full)  # bf16 did run: the products lost precision


def test_bf16_fast_path_and_profile_are_within_the_bound(
    bundled: DrugBAN, human_pairs: tuple[list[str], list[str]]
) -> None:
    smiles, proteins = human_pairs
    full, half = FastScorer(bundled, CompoundCache(0)), FastScorer(bundled, CompoundCache(0), "bf16")
    target = full.target_tensors(proteins[0])
    torch.testing.assert_close(half.target_tensors(proteins[0]).gram, target.gram, rtol=0, atol=0)  # kept float32
    difference = np.abs(half.score(target, smiles)[0] - full.score(target, smiles)[0])
    assert difference.max() <= BF16_BOUND
    graph = full.compounds.get(smiles[0])
    targets = [full.target_tensors(p) for p in proteins[:3]]
    assert np.abs(half.profile_graph(graph, targets) - full.profile_graph(graph, targets)).max() <= BF16_BOUND


def test_bf16_explanation_runs_within_the_bound(bundled: DrugBAN, human_pairs: tuple[list[str], list[str]]) -> None:
    smiles, proteins = human_pairs
    full = explain_pair(bundled, smiles[0], proteins[0], top_atoms=3, top_residues=3)
    half = explain_pair(bundled, smiles[0], proteins[0], top_atoms=3, top_residues=3, precision="bf16")
    assert abs(half.probability - full.probability) <= BF16_BOUND
    assert len(half.atoms) == 3 and len(half.residues) == 3


def test_a_bf16_training_step_gives_float32_gradients_near_float32s(
    bundled: DrugBAN, human_pairs: tuple[list[str], list[str]]
) -> None:
    """Autocast reaches the hand-written autograd functions (block_attention, row_ops) in bfloat16;
    they compute in float32 and the step's gradients stay close to the float32 step's."""
    smiles, proteins = human_pairs
    batch = featurize_pairs(smiles[:6], proteins[:6], np.arange(6) % 2).batch(np.arange(6))
    assert batch.labels is not None
    grads = []
    for precision in ("fp32", "bf16"):
        model = copy.deepcopy(bundled).train()
        torch.manual_seed(0)
        with Compute(CPU, precision).autocast():  # type: ignore[arg-type]
            logits = model(batch)
        F.binary_cross_entropy_with_logits(logits.float(), batch.labels).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]))
    assert grads[1].dtype == torch.float32 and torch.isfinite(grads[1]).all()
    cosine = F.cosine_similarity(grads[0], grads[1], dim=0)
    assert cosine > 0.95


# --- on a GPU (skipped without one) ----------------------------------------------------------------------


@needs_cuda
def test_fast_path_and_reference_on_cuda_equal_the_cpu(
    bundled: DrugBAN, human_pairs: tuple[list[str], list[str]]
) -> None:
    smiles, proteins = human_pairs
    gpu_model = load_model_dir(BUNDLED_DIR, device=torch.device("cuda", 0)).drugban
    assert gpu_model is not None
    cpu, gpu = FastScorer(bundled, CompoundCache(0)), FastScorer(gpu_model, CompoundCache(0))
    target = gpu.target_tensors(proteins[0])
    assert target.gram.device == CPU  # kept on the host, moved when used
    np.testing.assert_allclose(gpu.score(target, smiles)[0], cpu.score(target, smiles)[0], atol=1e-5)
    graph = cpu.compounds.get(smiles[0])
    np.testing.assert_allclose(gpu.profile_graph(graph, [target]), cpu.profile_graph(graph, [target]), atol=1e-5)
    inputs = featurize_pairs(smiles, proteins, None)
    np.testing.assert_allclose(
        predict_probabilities(gpu_model, inputs), predict_probabilities(bundled, inputs), atol=1e-5
    )
    on_gpu = explain_pair(gpu_model, smiles[0], proteins[0])
    assert abs(on_gpu.probability - explain_pair(bundled, smiles[0], proteins[0]).probability) <= 1e-5


@needs_cuda
def test_a_training_step_on_cuda_equals_the_cpu_step(
    bundled: DrugBAN, human_pairs: tuple[list[str], list[str]]
) -> None:
    smiles, proteins = human_pairs
    batch = featurize_pairs(smiles[:12], proteins[:12], np.arange(12) % 2).batch(np.arange(12))
    assert batch.labels is not None
    grads = []
    for device in (CPU, torch.device("cuda", 0)):
        model = copy.deepcopy(bundled).to(device)
        model.fusion.dropout.p = 0.0  # the two devices draw different dropout masks
        model.train()
        on_device = batch.to(device)
        assert on_device.labels is not None
        F.binary_cross_entropy_with_logits(model(on_device), on_device.labels).backward()
        grads.append(torch.cat([p.grad.reshape(-1).cpu() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-3, atol=1e-5)


@needs_cuda
def test_a_run_trained_on_cuda_loads_on_the_cpu(tmp_path: Path) -> None:
    train, val = read_pairs(small_train_file(tmp_path, rows=40)), read_pairs(SAMPLE_VAL)
    compute = resolve_compute("cuda", "fp32")
    train_on_pairs(train, val, tmp_path / "gpu", tiny_training_config(batch_size=16), evidence=False, compute=compute)
    loaded = load_model_dir(tmp_path / "gpu")
    assert loaded.drugban is not None and {p.device for p in loaded.drugban.parameters()} == {CPU}
    checkpoint = torch.load(tmp_path / "gpu" / "checkpoints" / "checkpoint.pt", weights_only=False, map_location=None)
    assert {tensor.device for tensor in checkpoint["model"].values()} == {CPU}
