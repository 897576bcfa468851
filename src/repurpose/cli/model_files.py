"""``repurpose evaluate`` and ``repurpose predict`` on a model directory (``predict --url``: a registered
model through a gateway)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from repurpose.cli.evidence import short
from repurpose.cli.output import JsonOption, console, run_or_exit
from repurpose.cli.remote import KeyOption, UrlOption, gateway_for

if TYPE_CHECKING:
    from repurpose.contracts.scoring import HitEvidence


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(predict)


def evaluate(
    model: Annotated[Path, typer.Option("--model", help="A model directory.")],
    data: Annotated[Path, typer.Option("--data", help="Labelled pairs (SMILES,Protein,Y).")],
    as_json: JsonOption = False,
) -> None:
    """AUROC, AUPRC and thresholded metrics of a model on labelled pairs."""
    from repurpose.pipeline import evaluate_model

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
        str, typer.Option("--model", help="A model directory; with --url a registered model (name, name@version).")
    ],
    smiles: Annotated[str, typer.Option("--smiles", help="The compound, as SMILES.")],
    protein: Annotated[str, typer.Option("--protein", help="The target's amino-acid sequence.")],
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The interaction probability of one compound–protein pair."""
    gateway = gateway_for(url, key)
    evidence: HitEvidence | None = None  # a model directory here: its training data's evidence
    if gateway is not None:
        answer = run_or_exit(gateway.predict, [{"smiles": smiles, "sequence": protein}], model)
        probability, threshold, interacts = answer.scores[0].probability, answer.threshold, answer.scores[0].interacts
    else:
        from repurpose.model_dir import load_model_dir
        from repurpose.pipeline import predict_pair
        from repurpose.training_evidence import pair_evidence

        loaded = run_or_exit(load_model_dir, Path(model))
        probability = run_or_exit(predict_pair, loaded, smiles, protein)
        threshold, interacts = loaded.threshold, probability >= loaded.threshold
        evidence = run_or_exit(lambda: pair_evidence(loaded.evidence, smiles, protein))
    if as_json:
        answer_json = {"probability": probability, "threshold": threshold, "interacts": bool(interacts)}
        print(json.dumps({**answer_json, **(evidence.model_dump() if evidence is not None else {})}))
        return
    verdict = "interacts" if interacts else "does not interact"
    console.print(f"{probability:.4f}  ({verdict} at threshold {threshold:.4f})")
    if evidence is not None:
        console.print(_evidence_line(evidence), highlight=False, markup=False, soft_wrap=True)


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
