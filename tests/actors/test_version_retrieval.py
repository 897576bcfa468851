"""Retrieval evaluation of registered versions on a real local Ray cluster (SQLite; the record on PostgreSQL too):
the result recorded with the version and read back from the store, the card, and the gates on it. The evaluation
runs through the service layer (the in-process client), as ``repurpose models evaluate --retrieval`` runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from repurpose.actors.model_registry import KIND, ModelRegistry, ModelState, register_model_dir
from repurpose.contracts.manifest import Manifest
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.errors import InvalidInput, InvalidTable, LibraryNotFound, ModelNotFound, PromotionRefused
from repurpose.evaluation.retrieval import evaluate_retrieval, read_heldout, readable_decoys
from repurpose.grains import GrainClient
from repurpose.model.directory import load_model_dir
from repurpose.services.in_process import InProcessClient
from repurpose.settings import Settings
from repurpose.store import list_states
from tests.helpers import (
    SAMPLE_VAL,
    both_stores,
    lineage,
    model_variant,
    register_dataset,
    register_library,
    sample_decoys_csv,
    sample_heldout_csv,
    to_production,
)

pytestmark = pytest.mark.slow

NAME = "knn-retrieval"


def evaluate_version_retrieval(
    client: GrainClient, name: str, version: int, heldout: bytes, *, filename: str, decoys: str | None = None
) -> RetrievalResult:
    """The retrieval evaluation service on the cluster ``client`` reaches (with its settings)."""
    with InProcessClient.on(client) as services:
        return services.evaluate_retrieval(name, str(version), heldout, filename, decoys)


def stored_retrieval(engine: Engine, name: str, version: int) -> list[RetrievalResult]:
    """What the store holds for the version (the JSON round trip, not the activation's memory)."""
    (stored,) = [s for s in list_states(engine, KIND) if s.key == name]
    return ModelState.model_validate(stored.state).versions[version - 1].retrieval


@both_stores
def test_evaluate_records_the_result_with_the_version(client: GrainClient, engine: Engine, knn_model_dir: Path) -> None:
    register_model_dir(client, NAME, knn_model_dir, lineage())
    library = register_library(client, sample_decoys_csv(), filename="sample-decoys.csv")
    heldout = sample_heldout_csv()

    result = evaluate_version_retrieval(
        client, NAME, 1, heldout, filename="sample-heldout.csv", decoys=library.library_id
    )

    ids, smiles = zip(*(line.split(",") for line in sample_decoys_csv().decode().splitlines()[1:]), strict=True)
    local = evaluate_retrieval(
        load_model_dir(knn_model_dir),
        read_heldout(heldout, name="sample-heldout.csv"),
        readable_decoys(f"library sample-decoys ({library.library_id[:12]})", list(ids), list(smiles)),
    )
    assert result == local  # the cluster ranks as the local code does
    assert (result.heldout, len(result.summary.targets), result.novel_actives) == ("sample-heldout.csv", 2, 2)
    assert result.summary.mean_auroc > 0.9  # the actives are the model's own binders: found first
    assert client.call(ModelRegistry, NAME, "show", 1).retrieval == [result]
    assert stored_retrieval(engine, NAME, 1) == [result]

    again = evaluate_version_retrieval(
        client, NAME, 1, heldout, filename="sample-heldout.csv", decoys=library.library_id
    )
    assert client.call(ModelRegistry, NAME, "show", 1).retrieval == [again]  # the same set: replaced
    # results are kept per set as the gates compare them: by content, whatever the file's name
    other = result.model_copy(update={"heldout_sha256": "f" * 64})  # another set, also sample-heldout.csv
    assert client.call(ModelRegistry, NAME, "record_retrieval", 1, other).retrieval == [again, other]
    renamed = again.model_copy(update={"heldout": "renamed.csv"})  # the first set under another name
    detail = client.call(ModelRegistry, NAME, "record_retrieval", 1, renamed)
    assert detail.retrieval == [other, renamed]
    assert stored_retrieval(engine, NAME, 1) == [other, renamed]

    card: str = client.call(ModelRegistry, NAME, "card", 1)
    assert card.startswith("# Model card: knn-sample")  # the directory's own card first
    assert "## In the registry" in card and "## Retrieval" in card
    assert f"### sample-heldout.csv among {result.decoy_count:,} decoys" in card
    first = result.summary.targets[0]
    assert f"| {first.target} | {first.actives} | {first.auroc:.3f} | {first.ef1:.1f} |" in card
    assert f"| novel chemotypes: 2 | {len(result.novel.targets) if result.novel else 0} |" in card


def test_default_decoys_are_the_drugbank_compounds_of_the_bundled_library(
    client: GrainClient, settings: Settings, knn_model_dir: Path, tmp_path: Path
) -> None:
    register_model_dir(client, NAME, knn_model_dir, lineage())
    data = tmp_path / "data"
    (data / "library").mkdir(parents=True)
    rows = sample_decoys_csv().decode().splitlines()
    drugs = [f"DB{i:05d},{line.split(',', 1)[1]}" for i, line in enumerate(rows[1:100])]
    others = [f"CMPD-{i},{line.split(',', 1)[1]}" for i, line in enumerate(rows[100:])]
    (data / "library" / "compounds.csv").write_text("\n".join([rows[0], *drugs, *others]) + "\n")
    bundled = GrainClient(settings.with_overrides(bundled_data_dir=data))

    result = evaluate_version_retrieval(bundled, NAME, 1, sample_heldout_csv(), filename="heldout.csv")

    assert result.decoys == "DrugBank compounds of compounds.csv"
    assert result.decoy_count == len(drugs)  # the DB… ids only

    missing = GrainClient(settings.with_overrides(bundled_data_dir=tmp_path / "nowhere"))
    with pytest.raises(InvalidInput, match=r"no default decoy library at .*nowhere/library/compounds\.csv"):
        evaluate_version_retrieval(missing, NAME, 1, sample_heldout_csv(), filename="heldout.csv")


def test_bad_held_out_sets_and_decoys_are_refused_and_nothing_is_recorded(
    client: GrainClient, knn_model_dir: Path
) -> None:
    register_model_dir(client, NAME, knn_model_dir, lineage())
    library = register_library(client, sample_decoys_csv(), filename="decoys.csv").library_id
    heldout = sample_heldout_csv()

    cases: list[tuple[bytes, str | None, type[Exception], str]] = [
        (b"SMILES,Protein,Y\nCCO,MKV,1\n", library, InvalidTable, "pairs.csv: missing column"),
        (
            heldout.replace(b",False,", b",maybe,", 1),
            library,
            InvalidTable,
            r"pairs.csv: row 1: novel is true or false",
        ),
        (heldout.replace(_smiles(heldout)[0].encode(), b"C1CC", 1), library, InvalidInput, "pairs.csv .*C1CC"),
        (b"", library, InvalidTable, "pairs.csv: not a readable CSV table"),
        (heldout, "0" * 64, LibraryNotFound, "no compound library 000000000000 is registered"),
    ]
    for data, decoys, error, message in cases:
        with pytest.raises(error, match=message):
            evaluate_version_retrieval(client, NAME, 1, data, filename="pairs.csv", decoys=decoys)
    for hidden in ("held\u202eout.csv", "heldout\x1b[2J.csv"):  # it names the result in the card
        with pytest.raises(InvalidInput, match=r"held-out file name .* holds the (format|control) character"):
            evaluate_version_retrieval(client, NAME, 1, heldout, filename=hidden, decoys=library)
    with pytest.raises(ModelNotFound, match="model knn-retrieval has no version 2"):
        evaluate_version_retrieval(client, NAME, 2, heldout, filename="pairs.csv", decoys=library)
    one_target = sample_heldout_csv(targets=1)
    actives_only = "\n".join(["compound_id,smiles", *(f"A{i},{s}" for i, s in enumerate(_smiles(one_target)))])
    only = register_library(client, actives_only.encode(), filename="actives.csv").library_id
    with pytest.raises(InvalidInput, match="target T1 has no decoy left in library actives"):
        evaluate_version_retrieval(client, NAME, 1, one_target, filename="pairs.csv", decoys=only)
    with pytest.raises(InvalidInput, match="holds a figure that is not a number"):
        nan = _result(0.5, 0.5).model_copy(update={"summary": _result(float("nan"), 0.5).summary})
        client.call(ModelRegistry, NAME, "record_retrieval", 1, nan)
    assert client.call(ModelRegistry, NAME, "show", 1).retrieval == []


def _smiles(heldout: bytes) -> list[str]:
    return [line.split(",")[2] for line in heldout.decode().splitlines()[1:]]


def _result(bedroc: float, auroc: float) -> RetrievalResult:
    """A retrieval result with these means (what a bundled model's retrieval.json holds)."""
    target = {"target": "T1", "actives": 4, "decoys": 200, "auroc": auroc, "ef1": 20.0, "ef5": 10.0, "bedroc": bedroc}
    means = {"mean_auroc": auroc, "mean_ef1": 20.0, "mean_ef5": 10.0, "mean_bedroc": bedroc}
    return RetrievalResult.model_validate(
        {
            "heldout": "heldout.csv",
            "decoys": "DrugBank compounds of compounds.csv",
            "heldout_sha256": "a" * 64,
            "decoys_sha256": "b" * 64,
            "decoy_count": 200,
            "actives": 4,
            "summary": {"targets": [target], **means},
        }
    )


def test_a_second_set_of_the_same_name_does_not_hide_a_regression(client: GrainClient, tmp_path: Path) -> None:
    for i in range(2):  # the same validation pairs: that gate passes, the retrieval gate decides
        register_model_dir(client, NAME, model_variant(tmp_path, 0.95, str(i)), lineage())
    to_production(client, NAME, 1)
    client.call(ModelRegistry, NAME, "record_retrieval", 1, _result(bedroc=0.60, auroc=0.95))
    client.call(ModelRegistry, NAME, "record_retrieval", 2, _result(bedroc=0.30, auroc=0.95))  # worse on that set
    elsewhere = _result(bedroc=0.90, auroc=0.99).model_copy(update={"heldout_sha256": "c" * 64})  # heldout.csv too
    kept = client.call(ModelRegistry, NAME, "record_retrieval", 2, elsewhere).retrieval
    assert [r.heldout_sha256 for r in kept] == ["a" * 64, "c" * 64]  # both kept: the regression stays visible
    with pytest.raises(PromotionRefused, match=r"its retrieval mean BEDROC 0\.3000 is 0\.3000 below production"):
        to_production(client, NAME, 2)


def test_production_gates_compare_versions_on_the_same_set(client: GrainClient, tmp_path: Path) -> None:
    # versions 1-3: the same weights; 3 was validated on other pairs (another content hash)
    for i, auroc in enumerate((0.95, 0.95)):
        register_model_dir(client, NAME, model_variant(tmp_path, auroc, str(i)), lineage())
    third = model_variant(tmp_path, 0.99, "other-validation")
    manifest = Manifest.model_validate_json((third / "manifest.json").read_text())
    manifest.val_data_sha256 = "c" * 64
    (third / "manifest.json").write_text(manifest.model_dump_json())
    register_model_dir(client, NAME, third, lineage())
    to_production(client, NAME, 1)
    client.call(ModelRegistry, NAME, "record_retrieval", 1, _result(bedroc=0.60, auroc=0.95))

    # the retrieval gate: on the same held-out set and decoys, BEDROC 0.20 below production
    client.call(ModelRegistry, NAME, "record_retrieval", 2, _result(bedroc=0.40, auroc=0.94))
    with pytest.raises(PromotionRefused) as refused:
        to_production(client, NAME, 2)
    assert (
        "on held-out set heldout.csv (decoys: DrugBank compounds of compounds.csv) its retrieval mean BEDROC 0.4000 "
        "is 0.2000 below production version 1's 0.6000, more than the 0.0200 allowed (promotion_max_retrieval_drop)"
    ) in refused.value.message
    assert "mean AUROC" not in refused.value.message  # 0.01 below: within the tolerance
    client.call(ModelRegistry, NAME, "record_retrieval", 2, _result(bedroc=0.59, auroc=0.94))
    assert to_production(client, NAME, 2).stage == "production"

    # version 3's validation pairs are not production's, and nothing else was measured on both
    with pytest.raises(PromotionRefused, match="it was never evaluated on the same rows as production version 2"):
        to_production(client, NAME, 3)
    dataset_id = register_dataset(client, SAMPLE_VAL.read_bytes(), filename="val.csv").dataset_id
    client.call(ModelRegistry, NAME, "evaluate", 3, dataset_id)  # every row
    client.call(ModelRegistry, NAME, "evaluate", 2, dataset_id, "random-1", "val")  # other rows
    with pytest.raises(PromotionRefused, match="never evaluated on the same rows"):
        to_production(client, NAME, 3)
    client.call(ModelRegistry, NAME, "evaluate", 2, dataset_id)  # now the same rows
    promoted = to_production(client, NAME, 3)  # the same weights: the same AUROC there
    assert promoted.stage == "production"
    assert json.loads(promoted.model_dump_json())["retrieval"] == []
