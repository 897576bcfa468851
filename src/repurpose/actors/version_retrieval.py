"""Retrieval evaluation of a registered model version on the cluster (`models evaluate --retrieval`).

A held-out set (a CSV of (target, active) pairs, see ``evaluation.retrieval``) is ranked among
decoys: a registered compound library, or by default the DrugBank compounds of the bundled
library (``<bundled data>/library/compounds.csv``). The work runs as a Ray task
(``retrieval_task``: one CPU, started within ``settings.task_start_timeout_seconds`` or refused
with ``ClusterBusy``) that loads the version's published directory; the service
(``services.models.evaluate_retrieval``) then records the result on the version with the
registry grain's ``record_retrieval``. The grain is not held while the task runs (scoring a
library against every target takes a while), so the version's other calls do not wait on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import ray

from repurpose.bundled_paths import bundled_data_dir
from repurpose.contracts.retrieval import MAX_HELDOUT_BYTES, RetrievalResult
from repurpose.contracts.screening import LibrarySummary
from repurpose.errors import InvalidInput, InvalidTable
from repurpose.plain_text import check_plain_text
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.tasks import reports_start
from repurpose.settings import Settings

if TYPE_CHECKING:
    from repurpose.evaluation.retrieval import DecoyLibrary, HeldOutSet

# The retrieval evaluation and the model (pandas, RDKit, scikit-learn, PyTorch) are imported inside
# the task: the services that check an upload and submit the task import this module.

DEFAULT_DECOY_LIBRARY = Path("library") / "compounds.csv"


def default_decoys_file(settings: Settings) -> Path:
    """The library whose DrugBank compounds are the decoys when none is named."""
    return bundled_data_dir(settings) / DEFAULT_DECOY_LIBRARY


def check_heldout_upload(data: bytes, filename: str | None) -> None:
    """A held-out set's bytes and file name as a retrieval evaluation takes them (before any task)."""
    if not isinstance(data, bytes):
        raise InvalidInput(f"a held-out set is the file's bytes, not {type(data).__name__}")
    if filename is not None and (not isinstance(filename, str) or len(filename) > 500):
        raise InvalidInput("a held-out set's file name is text of at most 500 characters")
    if filename is not None:  # it names the result: stored, listed and printed in the model card
        check_plain_text(filename, "held-out file name")
    if len(data) > MAX_HELDOUT_BYTES:  # refuse before shipping it to a task
        raise InvalidTable(
            f"{filename or 'held-out set'}: {len(data):,} bytes is more than the {MAX_HELDOUT_BYTES:,} accepted"
        )


@ray.remote(num_cpus=1)
@reports_start
def retrieval_task(
    settings: Settings, artifact_path: str, heldout: bytes, filename: str | None, library: LibrarySummary | None
) -> RetrievalResult:
    from repurpose.evaluation.retrieval import evaluate_retrieval, read_heldout
    from repurpose.model.published import load_published_model

    held = read_heldout(heldout, name=Path(filename).name if filename else None)
    decoys = _decoys(settings, library)
    _check_decoys_remain(held, decoys)  # before the model: a refusal is cheap
    model = load_published_model(settings, artifact_path)
    return evaluate_retrieval(model, held, decoys)


def _decoys(settings: Settings, library: LibrarySummary | None) -> DecoyLibrary:
    from repurpose.evaluation.retrieval import drugbank_decoys, readable_decoys

    if library is not None:
        with ArtifactStore.from_settings(settings).open_read(library.compounds_path) as f:
            table = pq.read_table(f, columns=["compound_id", "smiles"])
        ids, smiles = table.column("compound_id").to_pylist(), table.column("smiles").to_pylist()
        return readable_decoys(f"library {library.name} ({library.library_id[:12]})", ids, smiles)
    path = default_decoys_file(settings)
    if not path.is_file():
        raise InvalidInput(
            f"no default decoy library at {path} (bundled_data_dir): name a registered library or a library file "
            "as the decoys (`--decoys`)"
        )
    return drugbank_decoys(path)


def _check_decoys_remain(held: HeldOutSet, decoys: DecoyLibrary) -> None:
    """Every target needs decoys that are not its own actives, or nothing ranks."""
    for target in held.targets:
        actives = set(target.smiles) | set(target.compound_ids)
        if all(c in actives or s in actives for c, s in zip(decoys.compound_ids, decoys.smiles, strict=True)):
            raise InvalidInput(
                f"{held.name}: target {target.target_id} has no decoy left in {decoys.name} "
                f"({len(decoys.smiles):,} readable compounds) once its actives are taken out; use a larger "
                "decoy library"
            )
