"""``repurpose profile`` and ``repurpose explain``: questions to the cluster's scorer."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from repurpose.cli.cluster import HomeOption, client_for, store_engine
from repurpose.cli.output import JsonOption, console, print_json, run_or_exit
from repurpose.cli.remote import KeyOption, UrlOption, gateway_for

if TYPE_CHECKING:
    from repurpose.contracts.scoring import CompoundProfile, ResolvedModel
    from repurpose.explanations import Explanation

ModelOption = Annotated[
    str, typer.Option("--model", help="A model name (its production version), name@version or name@stage.")
]


def register(app: typer.Typer) -> None:
    app.command()(profile)
    app.command()(explain)


def profile(
    smiles: Annotated[list[str], typer.Option("--smiles", help="A compound (repeat for up to 20).")],
    model: ModelOption = "drugban-human",
    top: Annotated[int, typer.Option("--top", min=1, max=10_000, help="Targets shown per compound.")] = 20,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rank every registered target for a compound: which proteins might it act on?"""
    gateway = gateway_for(url, key, home)
    with console.status("profiling", spinner="dots") if not as_json else contextlib.nullcontext():
        if gateway is not None:
            results = [run_or_exit(gateway.profile, compound, model, top) for compound in smiles]
        else:
            results = _profile_here(home, list(smiles), model, top)
    if as_json:
        print_json([r.model_dump(mode="json") for r in results])
        return
    for result in results:
        console.print(
            f"{result.smiles}: {result.interacting} of {result.targets} targets at or above the threshold "
            f"({result.model}, {result.seconds:.2f}s)",
            highlight=False,
            markup=False,
        )
        table = Table("rank", "target", "name", "probability", "interacts")
        for rank, hit in enumerate(result.hits, start=1):
            table.add_row(
                str(rank), hit.target_id, hit.name or "", f"{hit.probability:.4f}", "yes" if hit.interacts else ""
            )
        console.print(table)


def _profile_here(home: Path | None, smiles: list[str], model: str, top: int) -> list[CompoundProfile]:
    from repurpose.scorer_client import ScorerClient
    from repurpose.target_profiling import aprofile_compounds

    client = client_for(home)
    scorer = ScorerClient(client.settings, client)

    async def work() -> list[CompoundProfile]:
        resolved = await scorer.resolve(model)
        with store_engine(client) as engine:
            return await aprofile_compounds(scorer, engine, smiles, resolved, top)

    return run_or_exit(asyncio.run, work())


def explain(
    smiles: Annotated[str, typer.Option("--smiles", help="The compound.")],
    target: Annotated[str, typer.Option("--target", help="A registered target id.")],
    model: ModelOption = "drugban-human",
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="Atoms and residue windows shown.")] = 10,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The atoms and residues DrugBAN's attention weighs most for one pair."""
    from repurpose.actors.target_protein import check_target_id

    run_or_exit(check_target_id, target)
    gateway = gateway_for(url, key, home)
    explanation: Explanation
    if gateway is not None:
        answer = run_or_exit(gateway.explain, smiles, target, model, top)
        model_ref, explanation = answer.model, answer
    else:
        model_ref, explanation = _explain_here(home, smiles, target, model, top)
    if as_json:
        print_json({"model": model_ref, "target": target, **explanation.model_dump(mode="json")})
        return
    console.print(
        f"{target} × {smiles}: probability {explanation.probability:.4f} ({model_ref}, reference forward)",
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


def _explain_here(home: Path | None, smiles: str, target: str, model: str, top: int) -> tuple[str, Explanation]:
    from repurpose.actors.target_protein import TargetProtein
    from repurpose.scorer_client import ScorerClient

    client = client_for(home)
    scorer = ScorerClient(client.settings, client)

    async def work() -> tuple[ResolvedModel, Explanation]:
        resolved = await scorer.resolve(model)
        sequence = await client.acall(TargetProtein, target, "sequence")
        return resolved, await scorer.explain(resolved, smiles, sequence, top)

    resolved, explanation = run_or_exit(asyncio.run, work())
    return resolved.ref, explanation
