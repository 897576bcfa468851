"""``repurpose profile`` and ``repurpose explain``: questions to the cluster's scorer."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.table import Column, Table

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.evidence import EVIDENCE_NOTE, evidence_cells, evidence_columns, short
from repurpose.cli.home import HomeOption
from repurpose.cli.output import JsonOption, console, fail, print_json, run_or_exit
from repurpose.contracts.scoring import ProfileHit
from repurpose.contracts.targets import check_target_id

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="A model name (its production version), name@version or name@stage "
        "[default: the cluster's default model: the bundled model `up` chose by retrieval merit, or "
        "REPURPOSE_DEFAULT_MODEL where set].",
        show_default=False,
    ),
]

ExplainModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="A DrugBAN model: a name (its production version), name@version or name@stage [default: the "
        "cluster's default model if it is a DrugBAN, else the production (or staging) version of the setting "
        "explain_model, REPURPOSE_EXPLAIN_MODEL, drugban-human unless set].",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(profile)
    app.command()(explain)


def profile(
    smiles: Annotated[list[str] | None, typer.Option("--smiles", help="A compound (repeat for up to 20).")] = None,
    compound: Annotated[
        list[str] | None,
        typer.Option("--compound", help="A compound id of a registered library, e.g. DB00317 (repeatable)."),
    ] = None,
    model: ModelOption = None,
    top: Annotated[int, typer.Option("--top", min=1, max=10_000, help="Targets shown per compound.")] = 20,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rank every registered target for a compound: which proteins might it act on?"""
    smiles, compound = list(smiles or []), list(compound or [])
    if not smiles and not compound:
        raise fail("give a compound: --smiles SMILES or --compound ID (a library compound id), repeatable")
    status = console.status("profiling", spinner="dots") if not as_json else contextlib.nullcontext()
    with contextlib.closing(open_client(url, key, home)) as client, status:
        results = [run_or_exit(client.profile, s, model, top) for s in smiles]
        results += [run_or_exit(client.profile, None, model, top, compound=c) for c in compound]
    if as_json:
        print_json([r.model_dump(mode="json") for r in results])
        return
    for result in results:
        named = f"{result.compound_id} ({short(result.smiles)})" if result.compound_id else short(result.smiles)
        console.print(
            f"{named}: {result.interacting} of {result.targets} targets at or above the threshold "
            f"({result.model}, {result.seconds:.2f}s)",
            highlight=False,
            markup=False,
        )
        if result.hits:
            console.print(_compound_evidence(result.hits[0]), highlight=False, markup=False)
        table = Table(
            "rank", "target", "name", Column("probability", justify="right"), "interacts", *evidence_columns(False)
        )
        for rank, hit in enumerate(result.hits, start=1):
            table.add_row(
                str(rank),
                hit.target_id,
                hit.name or "",
                f"{hit.probability:.4f}",
                "yes" if hit.interacts else "",
                *evidence_cells(hit, drug_like=False),
            )
        console.print(table)
    if any(result.hits for result in results):
        console.print(EVIDENCE_NOTE, highlight=False, markup=False, soft_wrap=True)


def _compound_evidence(hit: ProfileHit) -> str:
    """What holds for the compound on every row: drug-likeness and the applicability domain."""
    drug_like = "yes" if hit.drug_like else f"no ({hit.drug_like_issue})"
    if hit.max_training_tanimoto is None:
        domain = "unknown (the model keeps no training data)"
    else:
        where = "in" if hit.in_domain else "OUT of"
        domain = f"{where} the model's domain (nearest training compound: Tanimoto {hit.max_training_tanimoto:.2f})"
    return f"drug-like: {drug_like}; {domain}"


def explain(
    target: Annotated[str, typer.Option("--target", help="A registered target id.")],
    smiles: Annotated[str | None, typer.Option("--smiles", help="The compound; or give --compound.")] = None,
    compound: Annotated[
        str | None, typer.Option("--compound", help="A compound id of a registered library (e.g. DB00317).")
    ] = None,
    model: ExplainModelOption = None,
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="Atoms and residue windows shown.")] = 10,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The atoms and residues DrugBAN's attention weighs most for one pair."""
    if (smiles is None) == (compound is None):
        raise fail("give the compound as --smiles or --compound (a library compound id), one of them")
    run_or_exit(check_target_id, target)
    with contextlib.closing(open_client(url, key, home)) as client:
        explanation = run_or_exit(client.explain, smiles, target, model, top, compound=compound)
    model_ref, smiles = explanation.model, explanation.smiles or smiles
    if as_json:
        named = {"smiles": smiles, "compound_id": compound}
        print_json({**explanation.model_dump(mode="json"), "model": model_ref, "target": target, **named})
        return
    shown = f"{compound} ({smiles})" if compound is not None else smiles
    console.print(
        f"{target} × {shown}: probability {explanation.probability:.4f} ({model_ref}, reference forward)",
        highlight=False,
        markup=False,
    )
    atoms = Table("atom", "element", "share", title="atoms by attention")
    for atom in explanation.atoms:
        atoms.add_row(str(atom.index), atom.symbol, f"{atom.weight:.3f}")
    residues = Table("residues", "window", "share", title="residue windows by attention")
    for window in explanation.residues:
        residues.add_row(f"{window.start}-{window.end}", window.residues, f"{window.weight:.3f}")
    console.print(atoms)
    console.print(residues)
