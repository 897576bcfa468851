"""``repurpose evaluate`` on a model directory, and ``repurpose predict``: one pair, with a model
directory here or a registered model (of the cluster under ``--home``, or of a gateway, through the
client). A model directory scores here; only a registered target's sequence comes from the cluster."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.evidence import short
from repurpose.cli.home import HomeOption
from repurpose.cli.output import JsonOption, console, fail, run_or_exit
from repurpose.contracts.scoring import HitEvidence, PairScore, Prediction
from repurpose.contracts.targets import check_target_id


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(predict)


def evaluate(
    model: Annotated[Path, typer.Option("--model", help="A model directory.")],
    data: Annotated[Path, typer.Option("--data", help="Labelled pairs (SMILES,Protein,Y).")],
    as_json: JsonOption = False,
) -> None:
    """AUROC, AUPRC and thresholded metrics of a model on labelled pairs."""
    from repurpose.training.pipeline import evaluate_model  # PyTorch and RDKit load only here (start-up time)

    metrics = run_or_exit(evaluate_model, model, data)
    if as_json:
        print(metrics.model_dump_json())
        return
    console.print(f"{model} on {data}", highlight=False, markup=False)
    table = Table("metric", "value")
    for key in ("auroc", "auprc", "accuracy", "sensitivity", "specificity", "precision", "f1", "threshold"):
        table.add_row(key, f"{getattr(metrics, key):.4f}")
    table.add_row("n", str(metrics.n))
    console.print(table)


def predict(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="A model directory, or a registered model (name, name@version or name@stage) of the cluster "
            "(with --url: of the gateway).",
        ),
    ],
    smiles: Annotated[str, typer.Option("--smiles", help="The compound, as SMILES.")],
    protein: Annotated[
        str | None, typer.Option("--protein", help="The target's amino-acid sequence; or give --target.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="A registered target id (its sequence is the cluster's).")
    ] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The interaction probability of one compound–protein pair."""
    if (protein is None) == (target is None):
        raise fail("give the protein as --protein SEQUENCE or --target ID (a registered target), one of them")
    if target is not None:
        run_or_exit(check_target_id, target)
    evidence: HitEvidence | None = None  # a model directory here: its training data's evidence
    if url or not _is_model_directory(model):  # a gateway is asked whatever --model names
        protein_field = {"target": target} if target is not None else {"sequence": protein or ""}
        with contextlib.closing(open_client(url, key, home)) as client:
            answer = run_or_exit(client.predict, [{"smiles": smiles, **protein_field}], model)
    else:
        sequence = protein
        if target is not None:  # the cluster's (or the gateway's) registered target
            with contextlib.closing(open_client(url, key, home)) as client:
                sequence = run_or_exit(client.target, target).sequence
        answer, evidence = _predict_with_directory(Path(model), smiles, sequence or "")
    probability, threshold, interacts = answer.scores[0].probability, answer.threshold, answer.scores[0].interacts
    if as_json:
        answer_json = {"probability": probability, "threshold": threshold, "interacts": bool(interacts)}
        print(json.dumps({**answer_json, **(evidence.model_dump() if evidence is not None else {})}))
        return
    verdict = "interacts" if interacts else "does not interact"
    console.print(f"{probability:.4f}  ({verdict} at threshold {threshold:.4f})")
    if evidence is not None:
        console.print(_evidence_line(evidence), highlight=False, markup=False, soft_wrap=True)


def _is_model_directory(model: str) -> bool:
    """Whether ``--model`` names a model directory rather than a registered model: a directory, or
    anything path-like (a registry reference never holds a '/'), so a mistyped path says so."""
    path = Path(model)
    return path.is_dir() or path.name != model or model.startswith(".")


def _evidence_line(evidence: HitEvidence) -> str:
    drug_like = "yes" if evidence.drug_like else f"no ({evidence.drug_like_issue})"
    binder = evidence.nearest_binder_id or evidence.nearest_binder_smiles
    nearest = f"{short(binder)} (Tanimoto {evidence.nearest_binder_tanimoto:.2f})" if binder else "none known"
    domain = (
        "unknown"
        if evidence.max_training_tanimoto is None
        else f"{'in' if evidence.in_domain else 'OUT'} (nearest training compound {evidence.max_training_tanimoto:.2f})"
    )
    return f"drug-like: {drug_like}; nearest known binder: {nearest}; applicability domain: {domain}"


# --- here: PyTorch and RDKit load only for a model directory (start-up time) ---------------------


def _predict_with_directory(directory: Path, smiles: str, sequence: str) -> tuple[Prediction, HitEvidence | None]:
    """One pair by a model directory, and what its training data says about the pair."""
    from repurpose.model.directory import load_model_dir
    from repurpose.model.evidence import pair_evidence
    from repurpose.training.pipeline import predict_pair

    loaded = run_or_exit(load_model_dir, directory)
    probability = run_or_exit(predict_pair, loaded, smiles, sequence)
    evidence = run_or_exit(lambda: pair_evidence(loaded.evidence, smiles, sequence))
    score = PairScore(probability=float(probability), interacts=bool(probability >= loaded.threshold))
    return Prediction(model=str(directory), threshold=loaded.threshold, scores=[score]), evidence
