"""The names of a model directory's files that callers without the ML stack need, and the path of
a published directory in the artifact store.

Apart from ``model.directory`` and ``model.published`` (which load the weights with PyTorch,
scikit-learn and XGBoost) so that grains, which only name these paths, import none of them.
"""

from __future__ import annotations

import re

MANIFEST = "manifest.json"
CARD = "MODEL_CARD.md"

MODEL_DIRS_PREFIX = "model-dirs"
PUBLISHED_PATH = re.compile(rf"^{MODEL_DIRS_PREFIX}/(?P<sha>[0-9a-f]{{64}})$")
"""A published directory's path in the artifact store."""
