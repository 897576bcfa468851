"""The ``repurpose`` command. Output is for people; ``--json`` is for machines.

One module per command group registers its commands on ``app``; bad input exits with status 2
and one line on stderr (see ``repurpose.cli.output``).
"""

from __future__ import annotations

import typer

from repurpose.cli import cluster, model_files, training

app = typer.Typer(
    name="repurpose",
    help="Drug-repurposing cluster: datasets, DrugBAN training, a model registry and virtual screening.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for group in (cluster, training, model_files):
    group.register(app)


def main() -> None:
    app()
