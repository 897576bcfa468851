"""How the CLI's tables show screening hits with their evidence.

A hit's row keeps its rank, score and compound id whole at any terminal width; the SMILES and
the nearest binder are cut ("…"; ``--json`` and CSV have them whole), the drug-like reason
wraps, and below ``WIDE`` columns the SMILES column is left out (the compound id names it).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Column
from rich.text import Text

from repurpose.contracts.scoring import DOMAIN_THRESHOLD, HitEvidence
from repurpose.contracts.screening import RankedHit, ScreenResultRow

SMILES_SHOWN = 28
"""Characters of a SMILES a table shows (a peptide's run to hundreds)."""
WIDE = 110
"""Terminal columns from which a hit table shows the SMILES too."""
EVIDENCE_NOTE = (
    "nearest binder: the target's most similar known binder in the model's training data, Tc its ECFP4 "
    f"Tanimoto; domain: out where no training compound reaches Tanimoto {DOMAIN_THRESHOLD}; whole SMILES: --json"
)


def short(text: str, limit: int = SMILES_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shows_smiles(console: Console) -> bool:
    return console.width >= WIDE


def hit_columns(smiles: bool) -> list[Column]:
    """rank, score, compound (and SMILES), then ``evidence_columns``."""
    columns = [
        Column("rank", justify="right", no_wrap=True),
        Column("score", justify="right", no_wrap=True),
        Column("compound", no_wrap=True),
    ]
    if smiles:  # a SMILES is one word: cut, not wrapped
        columns.append(Column("SMILES", overflow="ellipsis", max_width=SMILES_SHOWN))
    return [*columns, *evidence_columns()]


def hit_cells(hit: RankedHit | ScreenResultRow, smiles: bool) -> list[Text]:
    cells = [Text(str(hit.rank)), Text(f"{hit.score:.4f}"), Text(hit.compound_id)]
    return [*cells, *([Text(short(hit.smiles))] if smiles else []), *evidence_cells(hit)]


def evidence_columns(drug_like: bool = True) -> list[Column]:
    """drug-like (unless the table says it once), nearest binder, Tc, domain."""
    columns = [Column("drug-like", min_width=9, max_width=13)] if drug_like else []
    return [
        *columns,
        Column("nearest binder", overflow="ellipsis", max_width=SMILES_SHOWN),
        Column("Tc", justify="right", no_wrap=True),
        Column("domain", no_wrap=True),
    ]


def evidence_cells(evidence: HitEvidence, drug_like: bool = True) -> list[Text]:
    """The cells of ``evidence_columns``: "yes" or "no: why"; the nearest training binder (its
    id, else its SMILES) and its Tanimoto; "in" or "out" of the applicability domain; "-" where
    the model keeps no training data."""
    cells = [drug_like_cell(evidence)] if drug_like else []
    binder = evidence.nearest_binder_id or evidence.nearest_binder_smiles
    similarity = evidence.nearest_binder_tanimoto
    cells += [Text(short(binder) if binder else "-"), Text(f"{similarity:.2f}" if similarity is not None else "-")]
    if evidence.in_domain is None:
        return [*cells, Text("-")]
    return [*cells, Text("in") if evidence.in_domain else Text("out", style="yellow")]


def drug_like_cell(evidence: HitEvidence) -> Text:
    if evidence.drug_like is None:
        return Text("-")
    return Text("yes") if evidence.drug_like else Text(f"no: {evidence.drug_like_issue}", style="yellow")
