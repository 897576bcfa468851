"""The Markdown model card written into every model directory, and the registry's card of a version
(that card, then the registry's evaluations and retrieval results)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from repurpose.contracts.manifest import Manifest
from repurpose.contracts.training import EpochRecord

if TYPE_CHECKING:
    from repurpose.contracts.models import ModelVersionDetail
    from repurpose.contracts.retrieval import RetrievalResult, RetrievalSummary
    from repurpose.model.drugban import DrugBAN

_ARCHITECTURES = {
    "drugban": "DrugBAN (Bai et al., Nature Machine Intelligence 2023)",
    "rf": "Random Forest (scikit-learn, 500 trees) on a 2048-bit Morgan fingerprint (radius 2) "
    "plus protein amino-acid and dipeptide composition",
    "xgb": "XGBoost (hist, early stopping on validation log-loss) on a 2048-bit Morgan fingerprint "
    "(radius 2) plus protein amino-acid and dipeptide composition",
    "knn": "Nearest known binder: ECFP4 (2048-bit Morgan radius 2) Tanimoto of the compound to the "
    "training binders of the protein (no fitted parameters)",
    "ensemble": "Ensemble: a logistic regression on the scores of member models (each a model directory of its own "
    "in members/), trained on the same pairs",
}

_LIMITATIONS = {
    "drugban": "- Proteins longer than 1200 residues are cut to their first 1200 (DrugBAN).",
    "rf": "- Composition features ignore residue order beyond neighbouring pairs.",
    "xgb": "- Composition features ignore residue order beyond neighbouring pairs.",
    "knn": "- Scores similarity to known binders only: a new chemotype scores low however well it binds,\n"
    "  and a protein with no binder in the training pairs (not the exact sequence) scores 0 for every compound.",
    "ensemble": "- Inherits its members' limitations (see their model cards in members/); the stack was fitted on\n"
    "  the validation pairs that also chose the members' own settings, so its validation figures are optimistic.",
}

_DRUGBAN_NOTES = """\
## Architecture

- Drug: RDKit graph, 74 DGL-LifeSci canonical atom features + a virtual-node flag, padded
  to 290 nodes; Linear 75→128; three GCN layers of 128 (sum aggregation, no normalisation,
  ReLU, residual Linear + ReLU, BatchNorm).
- Protein: DrugBAN's 25-letter integer code, 1200 residues; Embedding(26, 128); Conv1d with
  kernels 3, 6, 9 (ReLU, then BatchNorm).
- Fusion: bilinear attention, 2 heads, k = 3, weight-normalised 128→768 projections with
  dropout 0.2 and ReLU, no softmax, sum-pooling to 256, BatchNorm. Decoder 256→512→512→128→1.

## Differences from the original code

- The protein CNN output is transposed from (batch, channels, length) to (batch, length,
  channels). The original reshapes it with `view`, which mixes channels and positions.
- The decision threshold is chosen on the validation split (F1 maximum), never on test.
- Sensitivity is the true-positive rate and specificity the true-negative rate (the original
  evaluation code swaps the two).
- Training uses an exact compact forward (the 290 − n virtual nodes of a drug as one weighted
  row, attention pooled without materialising the maps). It computes the same function as
  the padded reference; the only difference is that a drug's virtual rows share one dropout
  mask during training.
- The original zeroes one row of the drug input layer's weights when it builds the model
  (`init_transform.weight[-1]`); here that row starts like the others. This touches the
  initialisation only, not the architecture.
"""


def render_model_card(
    name: str, manifest: Manifest, *, drugban: DrugBAN | None = None, history: list[EpochRecord] | None = None
) -> str:
    m = manifest.val_metrics
    t = manifest.training
    lines = [
        f"# Model card: {name}",
        "",
        f"{_ARCHITECTURES[manifest.model_type]}, predicting whether a drug and a target protein interact.",
        "",
        "## Intended use",
        "",
        "Ranking compounds against a protein target (virtual screening) or targets against a",
        "compound (repurposing) for follow-up by a scientist. Not a substitute for an assay; scores",
        "are least reliable for chemistry and proteins unlike the training data.",
        "",
        "## Training",
        "",
        f"- training pairs: {manifest.train_pairs} (sha256 `{manifest.train_data_sha256}`)",
        f"- validation pairs: {manifest.val_pairs} (sha256 `{manifest.val_data_sha256}`)",
        f"- settings: {t.describe()}" + (", BCE loss" if manifest.model_type == "drugban" else ""),
    ]
    if manifest.best_epoch is not None:
        lines.append(f"- best epoch by validation AUROC: {manifest.best_epoch}")
    if manifest.knn is not None:
        knn = manifest.knn
        tried = ", ".join(f"{name} {auroc:.4f}" for name, auroc in knn.val_auroc.items())
        chosen = "the nearest binder's Tanimoto" if knn.aggregate == "max" else f"the mean of the {knn.k} nearest"
        lines += [
            f"- known binders: {knn.binders} of {knn.proteins} proteins (the positive training pairs)",
            f"- score: {chosen}, chosen by validation AUROC ({tried})",
        ]
    if manifest.ensemble is not None:
        stack = manifest.ensemble
        lines += [
            "- stack: probability = sigmoid(intercept + sum of weight x feature), fitted on the validation pairs",
            "",
            "| member | directory | feature | weight | member's val AUROC |",
            "| --- | --- | --- | --- | --- |",
            *(
                f"| {m.model_type} | `{m.path}` | {m.feature} | {m.weight:.4f} | {m.val_auroc:.4f} |"
                for m in stack.members
            ),
            f"| intercept | | | {stack.intercept:.4f} | |",
            "",
        ]
    if drugban is not None:
        from repurpose.model.drugban import count_parameters  # PyTorch: the registry's card needs none

        lines.append(f"- parameters: {count_parameters(drugban):,}")
    lines += [
        f"- created {manifest.created_at} with repurpose {manifest.repurpose_version}",
        "",
        "## Validation metrics",
        "",
        "| AUROC | AUPRC | accuracy | sensitivity | specificity | precision | F1 | threshold | n |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {m.auroc:.4f} | {m.auprc:.4f} | {m.accuracy:.4f} | {m.sensitivity:.4f} | {m.specificity:.4f} "
        f"| {m.precision:.4f} | {m.f1:.4f} | {m.threshold:.4f} | {m.n} |",
        "",
        "The threshold was chosen on these validation pairs, so the thresholded figures above are",
        "optimistic; AUROC and AUPRC do not depend on it. Measure on held-out data before relying on it.",
        "",
    ]
    if history:
        lines += [
            "## Curve",
            "",
            "| epoch | train loss | val AUROC | val AUPRC | seconds |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {h.epoch} | {h.train_loss:.4f} | {h.val_auroc:.4f} | {h.val_auprc:.4f} | {h.seconds:.0f} |"
            for h in history
        ]
        lines.append("")
    if manifest.model_type == "drugban":
        lines.append(_DRUGBAN_NOTES)
    lines += [
        "## Limitations",
        "",
        "- Trained on one benchmark's chemistry and proteins; performance drops on new scaffolds",
        "  and unseen protein families (cold splits).",
        _LIMITATIONS[manifest.model_type],
        "",
    ]
    return "\n".join(lines)


# --- the registry's card: the directory's card, then what the registry learned -------------------


def registry_card(card: str, detail: ModelVersionDetail) -> str:
    """A registered version's card: its directory's ``card``, then its stage, the registry's
    evaluations and its retrieval results (what `repurpose models card` prints)."""
    lineage = detail.lineage
    lines = [
        card.rstrip(),
        "",
        "## In the registry",
        "",
        f"- version {detail.version} of `{detail.name}`, {detail.stage}, registered "
        f"{detail.created_at:%Y-%m-%d %H:%M} UTC from {lineage.source}",
    ]
    if lineage.dataset_id:
        lines.append(f"- trained on dataset {lineage.dataset_id[:12]}, split {lineage.split_id or '-'}")
    lines += ["", "## Evaluations", ""]
    if detail.evaluations:
        lines += [
            "| rows | AUROC | AUPRC | F1 | n | training rows among them |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for e in detail.evaluations:
            rows = "every row" if e.split_id is None else f"{e.split_id} {e.part}"
            overlap = "not checked" if e.training_overlap is None else f"{e.training_overlap:,}"
            m = e.metrics
            lines.append(
                f"| dataset {e.dataset_id[:12]}, {rows} | {_figure(m.auroc)} | {_figure(m.auprc)} | {_figure(m.f1)} "
                f"| {m.n:,} | {overlap} |"
            )
    else:
        lines.append(f"None recorded: `repurpose models evaluate {detail.name} {detail.version} --dataset ID`.")
    lines += ["", *retrieval_section(detail.retrieval, f"{detail.name} {detail.version}")]
    return "\n".join(lines) + "\n"


def retrieval_section(results: Sequence[RetrievalResult], reference: str) -> list[str]:
    """The "Retrieval" section: per held-out set the means, the novel-chemotype means, per target."""
    lines = [
        "## Retrieval",
        "",
        "Held-out (target, active) pairs ranked among a decoy library: per target AUROC, enrichment",
        "factor at 1 % and 5 % (1 is chance), BEDROC (alpha 20: early recognition, 0 to 1), and their",
        "means over targets (each target counts once). Novel chemotypes (the held-out set's `novel`",
        "column) are actives whose ECFP4 Tanimoto to every training binder of their target is below",
        "0.4: similarity search cannot find them.",
        "",
    ]
    if not results:
        return [*lines, f"None recorded: `repurpose models evaluate {reference} --retrieval FILE`.", ""]
    for result in results:
        lines += [
            f"### {result.heldout} among {result.decoy_count:,} decoys ({result.decoys})",
            "",
            "| actives | targets | AUROC | EF 1 % | EF 5 % | BEDROC |",
            "| --- | --- | --- | --- | --- | --- |",
            _means_row("all", result.actives, result.summary),
        ]
        if result.novel is not None:
            lines.append(_means_row("novel chemotypes", result.novel_actives, result.novel))
        lines += [
            "",
            "| target | actives | AUROC | EF 1 % | EF 5 % | BEDROC |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {t.target} | {t.actives} | {t.auroc:.3f} | {t.ef1:.1f} | {t.ef5:.1f} | {t.bedroc:.3f} |"
            for t in result.summary.targets
        ]
        notes = []
        if result.decoys_dropped:
            notes.append(f"{result.decoys_dropped} decoy compound(s) no model can read were left out")
        if result.unscored:
            notes.append(f"{result.unscored} compound(s) the model could not score ranked last")
        lines += ["", *(f"- {note}" for note in notes), ""] if notes else [""]
    return lines


def _means_row(label: str, actives: int, summary: RetrievalSummary) -> str:
    return (
        f"| {label}: {actives} | {len(summary.targets)} | {summary.mean_auroc:.3f} | {summary.mean_ef1:.1f} "
        f"| {summary.mean_ef5:.1f} | {summary.mean_bedroc:.3f} |"
    )


def _figure(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "n/a"
