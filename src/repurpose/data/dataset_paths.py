"""Where a dataset version's artifacts live in the artifact store, and what a dataset id looks like.

Apart from ``data.dataset_access`` (which reads and writes those artifacts with pandas and
Arrow) so that grains, which only name the paths, import no table library.
"""

from __future__ import annotations

import re

from repurpose.contracts.ids import DATASET_ID_PATTERN
from repurpose.contracts.splits import parse_split_id
from repurpose.errors import InvalidInput

DATASETS_PREFIX = "datasets"


def check_dataset_id(dataset_id: str) -> str:
    """``dataset_id`` if it is a dataset id (64 lower-case hex digits), else InvalidInput."""
    if not isinstance(dataset_id, str) or not re.match(DATASET_ID_PATTERN, dataset_id):
        raise InvalidInput(f"{dataset_id!r:.80} is not a dataset id: those are 64 hex digits (a sha256)")
    return dataset_id


def dataset_prefix(dataset_id: str) -> str:
    return f"{DATASETS_PREFIX}/{check_dataset_id(dataset_id)}"


def rows_path(dataset_id: str) -> str:
    return f"{dataset_prefix(dataset_id)}/rows.parquet"


def report_path(dataset_id: str) -> str:
    return f"{dataset_prefix(dataset_id)}/report.json"


def split_path(dataset_id: str, split_id: str) -> str:
    parse_split_id(split_id)
    return f"{dataset_prefix(dataset_id)}/splits/{split_id}.parquet"
