"""``repurpose profile`` and ``repurpose explain``: questions to the cluster's scorer."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column, Table

from repurpose.cli.evidence import EVIDENCE_NOTE, evidence_cells, evidence_columns, short
from repurpose.cli.local import HomeOption, client_for, store_engine
from repurpose.cli.output import JsonOption, console, fail, print_json, run_or_exit
from repurpose.cli.remote import KeyOption, UrlOption, gateway_for
from repurpose.contracts.scoring import CompoundProfile, Explanation, ProfileHit, ResolvedModel
from repurpose.contracts.targets import check_target_id

if TYPE_CHECKING:
    from repurpose.grains import GrainClient

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
    gateway = gateway_for(url, key, home)
    with console.status("profiling", spinner="dots") if not as_json else contextlib.nullcontext():
        if gateway is not None:
            results = [run_or_exit(gateway.profile, s, model, top) for s in smiles]
            results += [run_or_exit(gateway.profile, None, model, top, compound=c) for c in compound]
        else:
            results = _profile_here(home, smiles, compound, model, top)
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
    gateway = gateway_for(url, key, home)
    explanation: Explanation
    if gateway is not None:
        answer = run_or_exit(gateway.explain, smiles, target, model, top, compound=compound)
        model_ref, explanation, smiles = answer.model, answer, answer.smiles or smiles
    else:
        client = client_for(home)
        smiles = _library_smiles(client, compound) if compound is not None else smiles or ""
        model_ref, explanation = _explain_here(client, smiles, target, model, top)
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


# --- the cluster here: the scorer's client, the grains and RDKit load only in these (start-up time) --


def _profile_here(
    home: Path | None, smiles: list[str], compounds: list[str], model: str | None, top: int
) -> list[CompoundProfile]:
    from repurpose.scoring.client import ScorerClient
    from repurpose.scoring.profiling import aprofile_compounds

    client = client_for(home)
    scorer = ScorerClient(client.settings, client)
    found = [_library_smiles(client, c) for c in compounds]
    ids: list[str | None] = [*(None for _ in smiles), *compounds]

    async def work() -> list[CompoundProfile]:
        resolved = await scorer.resolve(model or client.settings.default_model)
        with store_engine(client) as engine:
            return await aprofile_compounds(scorer, engine, [*smiles, *found], resolved, top)

    results = run_or_exit(asyncio.run, work())
    return [r.model_copy(update={"compound_id": i}) for r, i in zip(results, ids, strict=True)]


def _library_smiles(client: GrainClient, compound_id: str) -> str:
    """The SMILES of a compound of the cluster's registered libraries (exit 2 if none holds it)."""
    from repurpose.actors.compound_library import find_compound
    from repurpose.runtime.artifacts import ArtifactStore

    with store_engine(client) as engine:
        return run_or_exit(find_compound, engine, ArtifactStore.from_settings(client.settings), compound_id).smiles


def _explain_here(
    client: GrainClient, smiles: str, target: str, model: str | None, top: int
) -> tuple[str, Explanation]:
    from repurpose.actors.target_protein import TargetProtein
    from repurpose.scoring.client import ScorerClient, resolve_explainer

    scorer = ScorerClient(client.settings, client)

    async def work() -> tuple[ResolvedModel, Explanation]:
        resolved = await resolve_explainer(scorer.resolve, client.settings, model)
        sequence = await client.acall(TargetProtein, target, "sequence")
        return resolved, await scorer.explain(resolved, smiles, sequence, top)

    resolved, explanation = run_or_exit(asyncio.run, work())
    return resolved.ref, explanation
