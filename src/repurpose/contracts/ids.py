"""Every id's pattern, in one place: what names and ids look like at every boundary.

Patterns are regular expressions as text: pydantic fields and FastAPI paths take them as they are
(and show them in the OpenAPI schema), code matches with ``re.match`` / ``re.fullmatch``. Where
``$`` would let a final newline by, checks use ``re.fullmatch``.

An *id* is the whole identifier; a *reference* is what a user may type instead: an id, a unique
prefix of it, or (for some kinds) a name. The two never share a pattern.
"""

from __future__ import annotations

from typing import Final

MAX_TARGET_ID_LENGTH: Final = 32

MODEL_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,63}$"
"""A registered model's name: 1-64 of ``a-z 0-9 . _ -``, starting with a letter or digit."""
MODEL_VERSION_REFERENCE_PATTERN: Final = r"^(?:v?[0-9]{1,9}|latest|candidate|staging|production|archived)$"
"""A version of a registered model: its number (``3``, ``v3``), ``latest`` or a stage."""

DATASET_ID_PATTERN: Final = r"^[0-9a-f]{64}$"
"""A dataset version: the sha256 of its normalised rows."""
LIBRARY_ID_PATTERN: Final = r"^[0-9a-f]{64}$"
"""A compound library: the sha256 of its normalised rows."""
SPLIT_ID_PATTERN: Final = r"^[a-z][a-z0-9.-]{0,79}$"
"""The characters of a split id (never a path); ``contracts.splits.parse_split_id`` checks the rest."""

RUN_REFERENCE_PATTERN: Final = r"^[0-9a-fA-F]{6,64}$"
"""A training run: its id (a sha256) or a unique prefix of it (6+ hex digits)."""

SCREEN_ID_PATTERN: Final = r"^scr-[0-9a-f]{12}$"
"""A screening job: ``scr-`` and 12 hex digits."""
SCREEN_REFERENCE_PATTERN: Final = r"^(?:scr-)?[0-9a-f]{4,12}$"
"""A screening job: its id or a unique prefix of its digits (4+), with or without ``scr-``."""

TARGET_ID_PATTERN: Final = rf"^[A-Za-z](?:[A-Za-z0-9._-]{{0,{MAX_TARGET_ID_LENGTH - 2}}}[A-Za-z0-9])?$"
"""A target id (a gene symbol or UniProt accession): 1 to 32 letters, digits, '.', '_' or '-', starting with a
letter and ending with a letter or digit."""
UNIPROT_ACCESSION_PATTERN: Final = (
    r"^(?:[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9](?:[A-Z][A-Z0-9]{2}[0-9]){1,2})(?:-[0-9]+)?$"
)
"""A UniProt accession (``P00533``), with an isoform suffix (``P00533-2``) or not."""
SEQUENCE_TARGET_ID_PATTERN: Final = r"^seq-[0-9a-f]{16}$"
"""The id of a target known only by its sequence: ``seq-`` and 16 hex digits of its sha256."""

API_KEY_ID_PATTERN: Final = r"^[0-9a-f]{12}$"
"""An API key's public id: 12 hex digits."""
API_KEY_PATTERN: Final = r"^rp_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$"
"""A whole API key: ``rp_<id>_<secret>``."""
