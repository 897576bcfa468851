"""Where each protein position of a training batch goes in the compact protein CNN: index arithmetic only.

The distinct proteins of a batch are packed end to end, each followed by ``margin`` padding codes
(enough for its last residues' windows), then one all-padding segment whose first window yields
the "tail" value that every padded position of the reference takes at every layer. A protein
that several pairs of the batch share is convolved once and weighs as many times in BatchNorm.

Everything here is NumPy on integer codes; the model turns it into tensors once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHABET = 26  # residue codes 0..25, 0 = padding


@dataclass(frozen=True)
class ProteinLayout:
    packed: np.ndarray  # (T,) codes: distinct proteins, each + margin padding, then the tail segment
    layer_weights: list[np.ndarray]  # per conv layer, (T_l,) BatchNorm weight of each output position
    output_index: np.ndarray  # (M,) rows kept after the last layer: per protein its positions, then the tail
    output_weights: np.ndarray  # (M,) attention-pooling weight of each kept row (1, or the tail's count)
    segment_starts: np.ndarray  # (P,) first kept row of each distinct protein
    segment_sizes: np.ndarray  # (P,) kept rows of each distinct protein (its positions + 1 tail row)
    protein_of_pair: np.ndarray  # (B,) which distinct protein each pair of the batch holds


def positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ranges [start, start + length), vectorised."""
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return offsets + np.arange(total)


def protein_layout(codes: np.ndarray, kernels: tuple[int, ...]) -> ProteinLayout:
    """The layout of a batch's (B, L) protein codes for convolutions of the given kernel sizes."""
    distinct, protein_of_pair, multiplicity = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    protein_of_pair = protein_of_pair.reshape(-1)
    lengths = (distinct != 0).sum(1)  # codes hold no 0 before a protein's end
    margin = sum(k - 1 for k in kernels)
    spans = lengths + margin
    starts = np.concatenate(([0], np.cumsum(spans)[:-1])).astype(np.int64)
    tail = int(spans.sum())  # first position of the all-padding segment
    padded = np.zeros((distinct.shape[0], codes.shape[1] + margin), dtype=np.int64)
    padded[:, : codes.shape[1]] = distinct
    inside = np.arange(padded.shape[1])[None, :] < spans[:, None]
    packed = np.concatenate([padded[inside], np.zeros(margin + 1, dtype=np.int64)])

    layer_weights = []
    size, reference_length = packed.shape[0], codes.shape[1]
    kept = lengths
    for k in kernels:
        size -= k - 1
        reference_length -= k - 1
        kept = np.minimum(lengths, reference_length)
        weights = np.zeros(size)
        weights[positions(starts, kept)] = np.repeat(multiplicity, kept)
        weights[tail] = float((multiplicity * (reference_length - kept)).sum())
        layer_weights.append(weights)

    sizes = kept + 1
    row_starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    index = np.full(int(sizes.sum()), tail, dtype=np.int64)  # the tail row closes every segment
    index[positions(row_starts, kept)] = positions(starts, kept)
    output_weights = np.ones(index.shape[0])
    output_weights[row_starts + kept] = reference_length - kept
    return ProteinLayout(
        packed=packed,
        layer_weights=layer_weights,
        output_index=index,
        output_weights=output_weights,
        segment_starts=row_starts,
        segment_sizes=sizes,
        protein_of_pair=protein_of_pair,
    )


def window_ids(packed: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``width``-residue windows of ``packed`` (as ``width`` code columns) and each
    window's id in that list.

    A first convolution of kernel ``width`` sees nothing but its window, so its output (and,
    within a batch, the ReLU and BatchNorm after it) is a function of the window alone: a batch
    of ~35,000 positions holds ~7,000 distinct 3-residue windows.
    """
    windows = np.lib.stride_tricks.sliding_window_view(packed, width)
    keys = windows @ ALPHABET ** np.arange(width - 1, -1, -1, dtype=np.int64)
    distinct, ids = np.unique(keys, return_inverse=True)
    columns = np.stack([distinct // ALPHABET**p % ALPHABET for p in range(width - 1, -1, -1)])
    return columns, ids.reshape(-1)
