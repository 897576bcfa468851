"""The ``repurpose`` command. Output is for people; ``--json`` is for machines.

One module per command group registers its commands on ``app``; bad input exits with status 2
and one line on stderr (see ``repurpose.cli.output``).
"""

from __future__ import annotations

import logging

import typer

from repurpose.cli import cluster, datasets, keys, model_files, models, scoring, screening, targets, training

app = typer.Typer(
    name="repurpose",
    help="Drug-repurposing cluster: datasets, DrugBAN training, a model registry and virtual screening.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for group in (cluster, training, model_files, datasets, targets, models, scoring, screening, keys):
    group.register(app)


def main() -> None:
    # Ray Serve logs every handle it opens at INFO on the caller's console; a CLI shows only
    # its own lines (Serve's own logs stay in Ray's log folder).
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    app()
