from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repurpose.contracts.splits import SPLIT_KINDS
from repurpose.data.datasets import build_dataset
from repurpose.data.splits import SplitResult, murcko_scaffold, split_rows
from repurpose.errors import InvalidInput
from tests.helpers import REPO_ROOT, SAMPLE_TRAIN

HUMAN_VAL = REPO_ROOT / "data" / "human" / "random" / "val.csv"


@pytest.fixture(scope="module")
def sample_rows() -> pd.DataFrame:
    return build_dataset(SAMPLE_TRAIN).rows


@pytest.fixture(scope="module")
def human_rows() -> pd.DataFrame:
    return build_dataset(HUMAN_VAL).rows


def group_keys(rows: pd.DataFrame, kind: str) -> list[str]:
    if kind == "cold-target":
        return rows["protein"].tolist()
    if kind == "scaffold":
        return [murcko_scaffold(s) for s in rows["smiles"]]
    return rows["smiles"].tolist()


def pairs_of(count: int, smiles: str, protein: str) -> list[tuple[str, str, int]]:
    """``count`` rows of one compound and protein, labels alternating (as groups, not as data)."""
    return [(smiles, protein, i % 2) for i in range(count)]


def frame(triples: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(triples, columns=["smiles", "protein", "y"])


def assert_partition(result: SplitResult, n: int) -> None:
    indices = [i for part in result.parts() for i in part.indices]
    assert sorted(indices) == list(range(n))
    assert sum(part.size for part in result.parts()) == n
    assert all(part.indices == sorted(part.indices) for part in result.parts())


@pytest.mark.parametrize("kind", SPLIT_KINDS)
def test_split_is_a_partition_close_to_the_fractions(sample_rows: pd.DataFrame, kind: str) -> None:
    result = split_rows(sample_rows, kind=kind, seed=0)

    assert_partition(result, len(sample_rows))
    assert result.kind == kind and result.seed == 0
    assert result.actual.train == pytest.approx(0.8, abs=0.05)
    assert result.actual.val == pytest.approx(0.1, abs=0.05)
    assert result.actual.test == pytest.approx(0.1, abs=0.05)
    for part in result.parts():
        assert part.positives == int(sample_rows["y"].to_numpy()[part.indices].sum())


@pytest.mark.parametrize("kind", ["cold-drug", "cold-target", "scaffold"])
def test_split_group_kinds_share_no_group_between_parts(sample_rows: pd.DataFrame, kind: str) -> None:
    keys = group_keys(sample_rows, kind)

    result = split_rows(sample_rows, kind=kind, seed=3)

    part_keys = [{keys[i] for i in part.indices} for part in result.parts()]
    assert not part_keys[0] & part_keys[1]
    assert not part_keys[0] & part_keys[2]
    assert not part_keys[1] & part_keys[2]
    assert [part.groups for part in result.parts()] == [len(k) for k in part_keys]


@pytest.mark.parametrize("kind", ["cold-drug", "cold-target"])
def test_split_cold_kinds_hold_on_a_larger_set(human_rows: pd.DataFrame, kind: str) -> None:
    keys = group_keys(human_rows, kind)

    result = split_rows(human_rows, kind=kind, seed=11, fractions=(0.7, 0.15, 0.15))

    part_keys = [{keys[i] for i in part.indices} for part in result.parts()]
    assert sum(len(k) for k in part_keys) == len(set(keys))  # no key in two parts
    assert result.actual.val == pytest.approx(0.15, abs=0.03)
    assert result.actual.test == pytest.approx(0.15, abs=0.03)


@pytest.mark.parametrize("kind", SPLIT_KINDS)
def test_split_is_reproducible_for_a_seed_and_differs_across_seeds(sample_rows: pd.DataFrame, kind: str) -> None:
    first = split_rows(sample_rows, kind=kind, seed=7)
    again = split_rows(sample_rows, kind=kind, seed=7)
    other = split_rows(sample_rows, kind=kind, seed=8)

    assert again == first
    assert other.test.indices != first.test.indices


def test_split_does_not_depend_on_the_file_order() -> None:
    frame_ = pd.read_csv(SAMPLE_TRAIN)
    shuffled = frame_.iloc[np.random.default_rng(1).permutation(len(frame_))]
    data = shuffled.to_csv(index=False).encode()

    a = split_rows(build_dataset(SAMPLE_TRAIN).rows, kind="cold-target", seed=5)
    b = split_rows(build_dataset(data).rows, kind="cold-target", seed=5)

    assert a == b


def test_split_random_sizes_are_exact(sample_rows: pd.DataFrame) -> None:
    result = split_rows(sample_rows, kind="random", seed=0)

    # 172 rows: 137.6 / 17.2 / 17.2, the largest remainder goes to train
    assert [part.size for part in result.parts()] == [138, 17, 17]
    assert [part.groups for part in result.parts()] == [138, 17, 17]


def test_split_zero_fraction_leaves_that_part_empty(sample_rows: pd.DataFrame) -> None:
    result = split_rows(sample_rows, kind="cold-drug", seed=0, fractions=(0.9, 0.1, 0.0))

    assert result.test.size == 0
    assert_partition(result, len(sample_rows))


def test_split_few_groups_still_fill_every_part() -> None:
    rows = frame(pairs_of(5, "CCO", "MKV") + pairs_of(5, "CCN", "ACD") + pairs_of(5, "CCC", "LLL"))

    result = split_rows(rows, kind="cold-target", seed=0)

    assert [part.groups for part in result.parts()] == [1, 1, 1]


def test_split_too_few_groups_is_refused() -> None:
    rows = frame(pairs_of(4, "CCO", "MKV") + pairs_of(4, "CCN", "ACD"))

    with pytest.raises(InvalidInput, match="cold-target split of these 8 rows leaves test empty: they hold 2 distinct"):
        split_rows(rows, kind="cold-target", seed=0)


def test_split_scaffold_keeps_acyclic_compounds_together() -> None:
    acyclic = ["CCO", "CCN", "CCCC", "CC(=O)O", "CCOC"]
    ringed = ["c1ccccc1O", "c1ccccc1N", "C1CCCCC1", "c1ccncc1", "C1CCOC1", "c1ccc2ccccc2c1", "C1CC1", "c1ccsc1"]
    rows = frame([(s, "MKV", i % 2) for i, s in enumerate(acyclic + ringed)])

    for seed in range(5):
        result = split_rows(rows, kind="scaffold", seed=seed)
        holding = [part for part in result.parts() if set(part.indices) & set(range(len(acyclic)))]
        assert len(holding) == 1
        assert set(range(len(acyclic))) <= set(holding[0].indices)


def test_murcko_scaffold_of_known_compounds() -> None:
    assert murcko_scaffold("CC(=O)Oc1ccccc1C(=O)O") == "c1ccccc1"  # aspirin: the benzene ring
    assert murcko_scaffold("CCO") == ""
    assert murcko_scaffold("C[C@H](N)c1ccccc1") == murcko_scaffold("C[C@@H](N)c1ccccc1")
    assert murcko_scaffold("c1ccccc1CCc1ccncc1") == "c1ccc(CCc2ccncc2)cc1"  # linker kept


@pytest.mark.parametrize(
    ("kind", "seed", "fractions", "message"),
    [
        ("stratified", 0, (0.8, 0.1, 0.1), "unknown split kind 'stratified'"),
        ("random", -1, (0.8, 0.1, 0.1), "non-negative integer"),
        ("random", 0, (0.8, 0.1), "three non-negative numbers"),
        ("random", 0, (0.8, 0.3, -0.1), "three non-negative numbers"),
        ("random", 0, (0.5, 0.1, 0.1), "must sum to 1"),
        ("random", 0, (0.0, 0.5, 0.5), "non-zero train part"),
    ],
)
def test_split_refuses_bad_parameters(
    sample_rows: pd.DataFrame, kind: str, seed: int, fractions: tuple[float, ...], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        split_rows(sample_rows, kind=kind, seed=seed, fractions=fractions)


def test_split_result_survives_json(sample_rows: pd.DataFrame) -> None:
    result = split_rows(sample_rows, kind="scaffold", seed=2)

    assert SplitResult.model_validate_json(result.model_dump_json()) == result


def test_one_default_split_everywhere() -> None:
    """`datasets split`, `train`, the gateway's split body and a run request mean the same split."""
    from typer.main import get_command

    from repurpose.cli import app
    from repurpose.contracts.splits import DEFAULT_SPLIT_ID, DEFAULT_SPLIT_KIND, DEFAULT_SPLIT_SEED, split_id_for
    from repurpose.contracts.training_runs import RunRequest
    from repurpose.gateway.bodies import SplitBody

    def defaults(*path: str) -> dict[str, object]:
        command = get_command(app)
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        return {p.name: p.default for p in command.params if p.name}

    split_cli = defaults("datasets", "split")
    assert split_id_for(str(split_cli["kind"]), int(str(split_cli["seed"]))) == DEFAULT_SPLIT_ID == "random-42"
    assert split_id_for(SplitBody().kind, SplitBody().seed) == DEFAULT_SPLIT_ID
    assert defaults("train")["split"] == DEFAULT_SPLIT_ID
    assert RunRequest(dataset_id="a" * 64).split_id == DEFAULT_SPLIT_ID
    assert (DEFAULT_SPLIT_KIND, DEFAULT_SPLIT_SEED) == ("random", 42)
