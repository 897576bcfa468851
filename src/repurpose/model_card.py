"""The Markdown model card written into every model directory."""

from __future__ import annotations

from repurpose.drugban import DrugBAN, count_parameters
from repurpose.model_dir import Manifest
from repurpose.training import EpochRecord

_ARCHITECTURES = {
    "drugban": "DrugBAN (Bai et al., Nature Machine Intelligence 2023)",
    "rf": "Random Forest (scikit-learn, 500 trees) on a 2048-bit Morgan fingerprint (radius 2) "
    "plus protein amino-acid and dipeptide composition",
    "xgb": "XGBoost (hist, early stopping on validation log-loss) on a 2048-bit Morgan fingerprint "
    "(radius 2) plus protein amino-acid and dipeptide composition",
    "knn": "Nearest known binder: ECFP4 (2048-bit Morgan radius 2) Tanimoto of the compound to the "
    "training binders of the protein (no fitted parameters)",
}

_LIMITATIONS = {
    "drugban": "- Proteins longer than 1200 residues are cut to their first 1200 (DrugBAN).",
    "rf": "- Composition features ignore residue order beyond neighbouring pairs.",
    "xgb": "- Composition features ignore residue order beyond neighbouring pairs.",
    "knn": "- Scores similarity to known binders only: a new chemotype scores low however well it binds,\n"
    "  and a protein with no binder in the training pairs (not the exact sequence) scores 0 for every compound.",
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
        f"- seed {t.seed}"
        + (
            f", {t.epochs} epochs, batch {t.batch_size}, Adam lr {t.lr:g}, BCE loss"
            if manifest.model_type == "drugban"
            else ""
        ),
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
    if drugban is not None:
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
