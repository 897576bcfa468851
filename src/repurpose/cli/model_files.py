"""``repurpose evaluate`` on a model directory, and ``repurpose predict``: one to 1,000 compounds
against one protein, with a model directory here or a registered model (of the cluster under
``--home``, or of a gateway, through the client). A model directory scores here; only a registered
target's sequence comes from the cluster."""

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
from repurpose.contracts.scoring import MAX_PREDICT_PAIRS, HitEvidence, PairScore, Prediction
from repurpose.contracts.targets import check_target_id
from repurpose.errors import RepurposeError


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
    smiles: Annotated[
        list[str],
        typer.Option("--smiles", help="A compound, as SMILES; repeat it for up to 1,000 compounds (one request)."),
    ],
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
    """The interaction probability of a compound–protein pair (or of each compound against the protein)."""
    if (protein is None) == (target is None):
        raise fail("give the protein as --protein SEQUENCE or --target ID (a registered target), one of them")
    if len(smiles) > MAX_PREDICT_PAIRS:
        raise fail(f"give at most {MAX_PREDICT_PAIRS:,} compounds (--smiles), not {len(smiles):,}")
    if target is not None:
        run_or_exit(check_target_id, target)
    evidence: list[HitEvidence] | None = None  # a model directory here: its training data's evidence
    if url or not _is_model_directory(model):  # a gateway is asked whatever --model names
        protein_field = {"target": target} if target is not None else {"sequence": protein or ""}
        with contextlib.closing(open_client(url, key, home)) as client:
            answer = run_or_exit(client.predict, [{"smiles": s, **protein_field} for s in smiles], model)
    else:
        sequence = protein
        if target is not None:  # the cluster's (or the gateway's) registered target
            with contextlib.closing(open_client(url, key, home)) as client:
                sequence = run_or_exit(client.target, target).sequence
        answer, evidence = _predict_with_directory(Path(model), smiles, sequence or "")
    rows = [
        {"probability": score.probability, "threshold": answer.threshold, "interacts": bool(score.interacts)}
        | (evidence[i].model_dump() if evidence is not None else {})
        for i, score in enumerate(answer.scores)
    ]
    if len(smiles) == 1:
        _show_one(rows[0], evidence[0] if evidence is not None else None, as_json)
    elif as_json:  # several: one object per compound, in order, each naming its SMILES
        print(json.dumps([{"smiles": s, **row} for s, row in zip(smiles, rows, strict=True)]))
    else:
        _show_many(smiles, answer, evidence)


def _show_one(row: dict[str, object], evidence: HitEvidence | None, as_json: bool) -> None:
    if as_json:
        print(json.dumps(row))
        return
    verdict = "interacts" if row["interacts"] else "does not interact"
    console.print(f"{row['probability']:.4f}  ({verdict} at threshold {row['threshold']:.4f})")
    if evidence is not None:
        console.print(_evidence_line(evidence), highlight=False, markup=False, soft_wrap=True)


def _show_many(smiles: list[str], answer: Prediction, evidence: list[HitEvidence] | None) -> None:
    console.print(f"{answer.model}, threshold {answer.threshold:.4f}", highlight=False, markup=False)
    table = Table("#", "SMILES", "probability", "interacts", *(["drug-like", "domain"] if evidence else []))
    for i, (text, score) in enumerate(zip(smiles, answer.scores, strict=True)):
        flags = []
        if evidence is not None:
            found = evidence[i]
            domain = "?" if found.in_domain is None else ("in" if found.in_domain else "OUT")
            flags = ["yes" if found.drug_like else "no", domain]
        table.add_row(str(i + 1), short(text), f"{score.probability:.4f}", "yes" if score.interacts else "no", *flags)
    console.print(table)


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


def _predict_with_directory(directory: Path, smiles: list[str], sequence: str) -> tuple[Prediction, list[HitEvidence]]:
    """Each compound against ``sequence`` by a model directory, and what its training data says."""
    from repurpose.contracts.targets import normalize_protein
    from repurpose.data.drug_graph import parse_smiles
    from repurpose.data.pairs import pairs_from_columns
    from repurpose.model.directory import load_model_dir
    from repurpose.model.evidence import pair_evidence

    loaded = run_or_exit(load_model_dir, directory)
    run_or_exit(normalize_protein, sequence)
    for index, text in enumerate(smiles):  # the specific error for a bad compound, not a table row's
        try:
            parse_smiles(text)
        except RepurposeError as error:
            raise fail(f"{_where(index, len(smiles))}{error.message}") from None
    probabilities = run_or_exit(loaded.predict, pairs_from_columns(smiles, [sequence] * len(smiles), source="input"))
    evidence = [run_or_exit(pair_evidence, loaded.evidence, text, sequence) for text in smiles]
    scores = [PairScore(probability=float(p), interacts=bool(p >= loaded.threshold)) for p in probabilities]
    return Prediction(model=str(directory), threshold=loaded.threshold, scores=scores), evidence


def _where(index: int, count: int) -> str:
    """How an error names the compound: not at all for one, by its --smiles position for several."""
    return "" if count == 1 else f"--smiles #{index + 1}: "
