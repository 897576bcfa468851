"""Retrieval evaluation of a model: rank each target's held-out actives among a decoy library.

A held-out set is a table of (target, active) pairs: ``target_id``, ``protein`` (the sequence),
``compound_id``, ``smiles`` and optionally ``novel`` (true where the active's ECFP4 Tanimoto to
every training binder of the target is below 0.4: similarity search cannot find it) and
``role``: ``active`` (the default: a held-out active, ranked) or ``known`` (a binder of the
target the models may have trained on: never ranked, and never a decoy either, since a known
binder counted as a decoy would punish a model for finding it). The
bundled one is ``data/retrieval/heldout.csv`` (``scripts/build_union_data.py`` says how it was
drawn from the union, whose bundled training data it is kept out of).

Per target the library is the decoys (by default the DrugBank compounds of the bundled
library, ``data/library/compounds.csv``) minus that target's actives and known binders
(matched by compound id or canonical SMILES), plus its actives; the model scores every
compound against the target, and ``evaluation.retrieval_metrics`` says how early the actives come.
Novel chemotypes are reported apart: the same figures with only the novel actives among the
decoys.

Each model type scores a library by its fastest exact path: DrugBAN by ``FastScorer`` (each
compound featurised once for all targets), knn by one Tanimoto product per target, the
baselines by their own ``predict``, an ensemble by each of its members' paths.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase

from repurpose.contracts.retrieval import RetrievalResult, TargetRetrieval
from repurpose.contracts.targets import normalize_protein
from repurpose.data.drug_graph import parse_smiles
from repurpose.data.pairs import pairs_from_columns
from repurpose.errors import InvalidTable, RepurposeError
from repurpose.evaluation.retrieval_metrics import summarise, target_retrieval
from repurpose.model.directory import TrainedModel
from repurpose.model.ensemble import combine
from repurpose.plain_text import check_plain_text

REQUIRED_COLUMNS = ("target_id", "protein", "compound_id", "smiles")
MAX_HELDOUT_ROWS = 100_000
DECOY_ID_PREFIX = "DB"
ROLES = ("active", "known")  # DrugBank identifiers: the approved and investigational drugs


@dataclass(frozen=True)
class HeldOutTarget:
    target_id: str
    sequence: str
    compound_ids: list[str]
    smiles: list[str]
    novel: list[bool] | None  # None: the file does not say
    known_ids: frozenset[str] = frozenset()  # binders that are neither ranked nor decoys
    known_smiles: frozenset[str] = frozenset()  # canonical


@dataclass(frozen=True)
class HeldOutSet:
    name: str
    targets: list[HeldOutTarget]
    sha256: str | None = None  # of its pairs (content_digest): the same set under any name or row order

    @property
    def actives(self) -> int:
        return sum(len(t.smiles) for t in self.targets)


@dataclass(frozen=True)
class DecoyLibrary:
    name: str
    compound_ids: list[str]
    smiles: list[str]
    dropped: int = 0  # compounds of the source no model can read
    sha256: str | None = None  # of the compounds ranked (content_digest), in any order


def read_heldout(source: str | Path | bytes, *, name: str | None = None) -> HeldOutSet:
    """Read a held-out set (CSV); InvalidTable says what is wrong with it."""
    label = name or (Path(source).name if not isinstance(source, bytes) else "held-out set")
    try:
        frame = pd.read_csv(
            io.BytesIO(source) if isinstance(source, bytes) else source, dtype=str, nrows=MAX_HELDOUT_ROWS + 1
        )
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise InvalidTable(f"{label}: not a readable CSV table ({error})") from error
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidTable(
            f"{label}: missing column(s) {', '.join(missing)}; a held-out set has {', '.join(REQUIRED_COLUMNS)}"
        )
    if len(frame) > MAX_HELDOUT_ROWS:
        raise InvalidTable(f"{label}: more than {MAX_HELDOUT_ROWS:,} rows")
    if frame.empty:
        raise InvalidTable(f"{label}: no rows")
    for column in REQUIRED_COLUMNS:
        empty = frame[column].isna() | (frame[column].str.strip() == "")
        if empty.any():
            raise InvalidTable(
                f"{label}: row {int(np.flatnonzero(empty)[0]) + 1} has an empty {column}",
                row=int(np.flatnonzero(empty)[0]) + 1,
            )
    roles = frame["role"].fillna("active").str.strip().str.lower() if "role" in frame.columns else None
    if roles is not None and not roles.isin(ROLES).all():
        bad = int(np.flatnonzero(~roles.isin(ROLES))[0]) + 1
        raise InvalidTable(f"{label}: row {bad}: role is {' or '.join(ROLES)}", row=bad)
    known = frame[roles == "known"] if roles is not None else frame.iloc[:0]
    frame = frame[roles == "active"] if roles is not None else frame
    if frame.empty:
        raise InvalidTable(f"{label}: no row with role active: nothing to rank")
    novel_column = frame["novel"].str.strip().str.lower() if "novel" in frame.columns else None
    if novel_column is not None and not novel_column.isin(["true", "false"]).all():
        bad = int(frame.index[np.flatnonzero(~novel_column.isin(["true", "false"]))[0]]) + 1
        raise InvalidTable(f"{label}: row {bad}: novel is true or false", row=bad)
    targets: list[HeldOutTarget] = []
    for target_id, rows in frame.groupby("target_id", sort=False):
        target = check_plain_text(str(target_id).strip(), "target_id")
        sequences = {normalize_protein(s) for s in rows["protein"]}
        if len(sequences) != 1:
            raise InvalidTable(f"{label}: target {target} has {len(sequences)} different sequences")
        smiles = [s.strip() for s in rows["smiles"]]
        pairs_from_columns(smiles, [next(iter(sequences))] * len(smiles), source=f"{label} ({target})")
        binders = known[known["target_id"].str.strip() == target]
        targets.append(
            HeldOutTarget(
                target_id=target,
                sequence=next(iter(sequences)),
                compound_ids=[c.strip() for c in rows["compound_id"]],
                smiles=smiles,
                novel=None if novel_column is None else (novel_column[rows.index] == "true").tolist(),
                known_ids=frozenset(c.strip() for c in binders["compound_id"]),
                known_smiles=frozenset(canonical_smiles(s.strip()) for s in binders["smiles"]),
            )
        )
    pairs = [
        (t.target_id, t.sequence, c, s, None if t.novel is None else t.novel[i])
        for t in targets
        for i, (c, s) in enumerate(zip(t.compound_ids, t.smiles, strict=True))
    ]
    pairs += [
        (str(t), "known", str(c), str(s), None)
        for t, c, s in known[["target_id", "compound_id", "smiles"]].itertuples(index=False)
    ]
    return HeldOutSet(name=label, targets=targets, sha256=content_digest(pairs))


def canonical_smiles(smiles: str) -> str:
    """RDKit's canonical form, so that one compound written two ways is one compound (the text
    itself where RDKit cannot read it: such a compound is not ranked anyway)."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    return smiles if mol is None else Chem.MolToSmiles(mol)


def drugbank_decoys(library_csv: Path) -> DecoyLibrary:
    """The DrugBank compounds (ids ``DB…``) of a library file with compound_id and smiles columns."""
    frame = pd.read_csv(library_csv, dtype=str)
    drugs = frame[frame["compound_id"].str.startswith(DECOY_ID_PREFIX)]
    return readable_decoys(
        f"DrugBank compounds of {library_csv.name}", drugs["compound_id"].tolist(), drugs["smiles"].tolist()
    )


def readable_decoys(name: str, compound_ids: list[str], smiles: list[str]) -> DecoyLibrary:
    """The compounds every model can read (DrugBAN's parser: no over-valent atoms, at most 290
    heavy atoms); the others are counted in ``dropped``, not ranked."""
    kept = [i for i, text in enumerate(smiles) if _readable(text)]
    return DecoyLibrary(
        name=name,
        compound_ids=[compound_ids[i] for i in kept],
        smiles=[smiles[i] for i in kept],
        dropped=len(smiles) - len(kept),
        sha256=content_digest((compound_ids[i], smiles[i]) for i in kept),
    )


def content_digest(rows: Iterable[tuple[object, ...]]) -> str:
    """sha256 of rows in sorted order (one JSON array a row): the same rows give the same digest
    whatever their order or the file's name, so results on the same set can be compared."""
    digest = hashlib.sha256()
    for line in sorted(json.dumps(row, ensure_ascii=False) for row in rows):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def _readable(smiles: str) -> bool:
    try:
        parse_smiles(smiles)
    except RepurposeError:
        return False
    return True


# --- scoring a library against targets ------------------------------------------------------------

LibraryScorer = Callable[[str, Sequence[str]], np.ndarray]


def library_scorer(model: TrainedModel) -> LibraryScorer:
    """``score(sequence, smiles) -> probabilities`` by the model type's fastest exact path; NaN
    where a compound cannot be scored. An ensemble combines its members' scores, each by its own path."""
    if model.members:
        members = [library_scorer(member) for member in model.members]
        stack = model.stack
        return lambda sequence, smiles: combine(stack, [score(sequence, smiles) for score in members])
    if model.drugban is not None:
        from repurpose.model.fast_scoring import FastScorer

        fast = FastScorer(model.drugban)
        return lambda sequence, smiles: fast.score(fast.target_tensors(sequence), smiles)[0]
    if model.knn is not None:
        from repurpose.model.similarity import packed_fingerprints

        knn = model.knn
        prints: dict[str, np.ndarray] = {}

        def knn_scores(sequence: str, smiles: Sequence[str]) -> np.ndarray:
            missing = [s for s in dict.fromkeys(smiles) if s not in prints]
            prints.update(zip(missing, packed_fingerprints(missing), strict=True))
            return knn.score_target(sequence, np.stack([prints[s] for s in smiles]))

        return knn_scores
    return lambda sequence, smiles: model.predict(
        pairs_from_columns(list(smiles), [sequence] * len(smiles), source="retrieval library")
    )


def evaluate_retrieval(
    model: TrainedModel,
    heldout: HeldOutSet,
    decoys: DecoyLibrary,
    *,
    on_target: Callable[[int, int], None] | None = None,
    scorer: LibraryScorer | None = None,
) -> RetrievalResult:
    """Rank every target's actives among the decoys (minus its actives) with ``model``, scored by
    ``scorer`` (default: ``library_scorer(model)``; a benchmark passes it wrapped in a timer)."""
    score = scorer or library_scorer(model)
    per_target: list[TargetRetrieval] = []
    novel_per_target: list[TargetRetrieval] = []
    unscored = 0
    decoy_canonical = [canonical_smiles(s) for s in decoys.smiles]
    for done, target in enumerate(heldout.targets):
        excluded_ids = set(target.compound_ids) | target.known_ids
        excluded_smiles = {canonical_smiles(s) for s in target.smiles} | target.known_smiles
        keep = [
            i
            for i, (c, s) in enumerate(zip(decoys.compound_ids, decoy_canonical, strict=True))
            if c not in excluded_ids and s not in excluded_smiles
        ]
        library = [decoys.smiles[i] for i in keep] + target.smiles
        is_active = np.zeros(len(library), dtype=bool)
        is_active[len(keep) :] = True
        scores = score(target.sequence, library)
        failed = np.isnan(scores)
        unscored += int(failed.sum())
        # a compound the model cannot read ranks last (below every score; sklearn refuses infinities)
        scores = np.where(failed, np.nanmin(scores, initial=0.0) - 1.0, scores)
        per_target.append(target_retrieval(target.target_id, scores, is_active))
        if target.novel is not None and any(target.novel):
            novel = np.concatenate([np.ones(len(keep), dtype=bool), np.asarray(target.novel, dtype=bool)])
            novel_per_target.append(target_retrieval(target.target_id, scores[novel], is_active[novel]))
        if on_target is not None:
            on_target(done + 1, len(heldout.targets))
    novel_actives = sum(sum(t.novel) for t in heldout.targets if t.novel is not None)
    return RetrievalResult(
        heldout=heldout.name,
        decoys=decoys.name,
        heldout_sha256=heldout.sha256,
        decoys_sha256=decoys.sha256,
        decoy_count=len(decoys.smiles),
        decoys_dropped=decoys.dropped,
        actives=heldout.actives,
        summary=summarise(per_target),
        novel=summarise(novel_per_target) if novel_per_target else None,
        novel_actives=novel_actives,
        unscored=unscored,
    )
