"""Where the bundled files are: the checkout's ``models/`` and ``data/`` folders, unless the
settings name others (``bundled_models_dir``, ``bundled_data_dir``).

A leaf module (no Ray, no RDKit), so the CLI can read these for its defaults. What is done
with the files on ``repurpose up`` is ``cluster.bundled_data`` (datasets) and ``cluster.bundled_models``.
"""

from __future__ import annotations

from pathlib import Path

from repurpose.settings import Settings

CHECKOUT = Path(__file__).resolve().parents[2]
"""The repository this package runs from (``src/repurpose/`` lies two levels below it)."""


def bundled_models_dir(settings: Settings) -> Path:
    """``settings.bundled_models_dir``, else the ``models/`` folder of the checkout."""
    return settings.bundled_models_dir if settings.bundled_models_dir is not None else CHECKOUT / "models"


def bundled_data_dir(settings: Settings) -> Path:
    """``settings.bundled_data_dir``, else the ``data/`` folder of the checkout."""
    return settings.bundled_data_dir if settings.bundled_data_dir is not None else CHECKOUT / "data"
