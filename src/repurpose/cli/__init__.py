"""The ``repurpose`` command. Output is for people; ``--json`` is for machines.

One module per command group registers its commands on ``app``; bad input exits with status 2
and one line on stderr (see ``repurpose.cli.output``).
"""

from __future__ import annotations

import logging
import sys

import typer
from pydantic import ValidationError

from repurpose.cli import (
    alerts,
    cluster,
    datasets,
    feedback,
    keys,
    libraries,
    model_files,
    models,
    monitoring,
    scoring,
    screening,
    targets,
    training,
)
from repurpose.cli.output import fail

app = typer.Typer(
    name="repurpose",
    help="Drug-repurposing cluster: datasets, DrugBAN training, a model registry and virtual screening.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for group in (
    cluster,
    training,
    model_files,
    datasets,
    targets,
    models,
    monitoring,
    feedback,
    alerts,
    scoring,
    screening,
    libraries,
    keys,
):
    group.register(app)


def main() -> None:
    # Ray Serve logs every handle it opens at INFO on the caller's console; a CLI shows only
    # its own lines (Serve's own logs stay in Ray's log folder). Serve resets its logger's level
    # when it connects, so a filter (which it keeps) does the work, the level only until then.
    serve_logger = logging.getLogger("ray.serve")
    serve_logger.setLevel(logging.WARNING)
    serve_logger.addFilter(lambda record: record.levelno >= logging.WARNING)
    sys.exit(run(sys.argv[1:]))


def run(argv: list[str]) -> int:
    """Run the command line ``argv``; the exit status. Usage errors are one line, status 2."""
    try:
        status = app(argv, prog_name="repurpose", standalone_mode=False)
    except typer.TyperException as error:  # Click's usage errors, as Typer vendors them
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare group: Click printed its help already
            return error.exit_code
        # Click's own box (usage, hint, framed message) is several lines; the contract is one.
        ctx = getattr(error, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        fail(f"{error.format_message().rstrip('.')}{where}")
        return error.exit_code
    except typer.Abort:
        fail("aborted")
        return 130
    except ValidationError as error:  # an option value a contract refuses, caught nowhere closer
        first = error.errors()[0]
        fail(f"{'.'.join(str(part) for part in first['loc']) or 'input'}: {first['msg']}")
        return 2
    return status if isinstance(status, int) else 0
