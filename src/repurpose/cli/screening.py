"""``repurpose screen``, ``repurpose screens list|show|results|cancel`` and
``repurpose libraries register|list|show``: virtual screening on the cluster."""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from repurpose.cli.cluster import HomeOption, client_for, store_engine
from repurpose.cli.evidence import EVIDENCE_NOTE, hit_cells, hit_columns, shows_smiles
from repurpose.cli.output import JsonOption, console, errors, fail, print_json, read_capped, run_or_exit
from repurpose.cli.remote import KeyOption, UrlOption, gateway_for, listed

if TYPE_CHECKING:
    from repurpose.contracts.screening import (
        LibraryDetail,
        LibraryRegistration,
        ScreenDetail,
        ScreenResults,
    )
    from repurpose.gateway_client import GatewayClient
    from repurpose.grains import GrainClient

POLL_SECONDS = 0.5
SHOWN_HITS = 10
SHOWN_FAILURES = 5

screens_app = typer.Typer(
    name="screens", help="Inspect, read and cancel screening jobs.", no_args_is_help=True, add_completion=False
)
libraries_app = typer.Typer(
    name="libraries", help="Register and inspect compound libraries.", no_args_is_help=True, add_completion=False
)

ScreenArgument = Annotated[str, typer.Argument(help="A job id (scr-…) or a unique prefix of its digits (4+).")]
LibraryArgument = Annotated[str, typer.Argument(help="A library id, a unique prefix of it (4+ digits) or its name.")]


class ResultsFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    parquet = "parquet"


def register(app: typer.Typer) -> None:
    app.command()(screen)
    app.add_typer(screens_app, name="screens")
    app.add_typer(libraries_app, name="libraries")


# --- repurpose screen ----------------------------------------------------------------------------


def screen(
    library: Annotated[
        str, typer.Option("--library", help="A library file (CSV with compound_id,smiles, or .smi) or a library id.")
    ],
    target: Annotated[list[str], typer.Option("--target", help="A registered target id (repeat for several).")],
    top: Annotated[int, typer.Option("--top", help="Best hits kept per target (1 to 10000).")] = 100,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="name (its production version), name@VERSION or name@STAGE "
            "[default: the cluster's default model: the bundled model `up` chose by retrieval merit, or "
            "REPURPOSE_DEFAULT_MODEL where set].",
            show_default=False,
        ),
    ] = None,
    chunk_size: Annotated[
        int | None, typer.Option("--chunk-size", help="Compounds per scorer call (default: the cluster's).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="With a library file: the library's name.")] = None,
    drug_like: Annotated[
        bool,
        typer.Option(
            "--drug-like",
            help="Keep only drug-like compounds as hits (no inorganics, metals or fragments under 6 heavy atoms); "
            "every score stays in the results, flagged.",
        ),
    ] = False,
    detach: Annotated[bool, typer.Option("--detach", help="Submit the job and return.")] = False,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Screen a compound library against targets with a model; follows the job with a progress bar."""
    from repurpose.actors.target_protein import check_target_id
    from repurpose.contracts.scoring import MAX_CHUNK
    from repurpose.contracts.screening import MAX_TARGETS, MAX_TOP

    if not 1 <= top <= MAX_TOP:
        raise fail(f"--top takes 1 to {MAX_TOP}, not {top}")
    if chunk_size is not None and not 1 <= chunk_size <= MAX_CHUNK:
        raise fail(f"--chunk-size takes 1 to {MAX_CHUNK}, not {chunk_size}")
    if len(set(target)) > MAX_TARGETS:
        raise fail(f"a screen takes at most {MAX_TARGETS} targets, not {len(set(target))}")
    for target_id in target:
        run_or_exit(check_target_id, target_id)
    path = Path(library)
    gateway = gateway_for(url, key, home)
    client = client_for(home) if gateway is None else None
    if path.is_file():
        registration = _register_file(client, gateway, path, name, quiet=as_json)
        library_id = registration.library_id
    else:
        if name is not None:
            raise fail("--name names a library registered from a file; --library is not a file here")
        library_id = _library_id(client, gateway, library)
    detail = _submit(client, gateway, library_id, target, model, top, chunk_size, drug_like)
    if not as_json:
        _say(
            f"screen {detail.job_id} started: {detail.compounds:,} compounds × {len(detail.targets)} target(s) "
            f"with {detail.model}",
        )
    if not detach and detail.status == "running":
        detail = _follow(_screen_reader(client, gateway), detail, quiet=as_json)
    if as_json:
        print_json(detail)
        return
    _print_outcome(detail)
    if detail.status in ("failed", "cancelled"):
        raise typer.Exit(1)


def _submit(
    client: GrainClient | None,
    gateway: GatewayClient | None,
    library_id: str,
    targets: list[str],
    model: str | None,
    top: int,
    chunk_size: int | None,
    drug_like_only: bool = False,
) -> ScreenDetail:
    from repurpose.actors.screening_job import submit_screen, validated_request

    request = run_or_exit(
        validated_request,
        {
            "library_id": library_id,
            "targets": targets,
            "model": model,
            "top": top,
            "chunk_size": chunk_size,
            "drug_like_only": drug_like_only,
        },
    )
    if gateway is not None:
        # a retried submit (the CLI retries 429 and 503) must not start a second job
        return run_or_exit(gateway.submit_screen, request, idempotency_key=uuid.uuid4().hex)
    assert client is not None
    detail: ScreenDetail = run_or_exit(submit_screen, client, request)
    return detail


def _screen_reader(client: GrainClient | None, gateway: GatewayClient | None) -> Callable[[str], ScreenDetail]:
    """How to read a job's detail by id: through the gateway, or from its grain."""
    if gateway is not None:
        return gateway.screen
    from repurpose.actors.screening_job import ScreeningJob

    assert client is not None
    return lambda job_id: client.call(ScreeningJob, job_id, "show")


def _follow(read: Callable[[str], ScreenDetail], detail: ScreenDetail, *, quiet: bool) -> ScreenDetail:
    """Poll the job until it ends, with a bar over its pairs; Ctrl-C leaves it running."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pairs  {task.fields[pace]}  ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or (not sys.stderr.isatty() and not sys.stdout.isatty()),
    )
    try:
        with bar:
            task = bar.add_task("screening", total=detail.progress.pairs_total, pace="-", eta="-")
            while detail.status == "running":
                time.sleep(POLL_SECONDS)
                detail = run_or_exit(read, detail.job_id)
                p = detail.progress
                pace = f"{p.pairs_per_second:,.0f}/s" if p.pairs_per_second else "-"
                eta = _duration(p.eta_seconds) if p.eta_seconds is not None else "-"
                attempt = f" (attempt {detail.attempts})" if detail.attempts > 1 else ""
                bar.update(task, completed=p.pairs_done, pace=pace, eta=eta, description=f"screening{attempt}")
    except KeyboardInterrupt:
        errors.print(
            f"stopped following; screen {detail.job_id} goes on: `repurpose screens show {detail.job_id}`, "
            f"`repurpose screens cancel {detail.job_id}`",
        )
        raise typer.Exit(130) from None
    return detail


def _print_outcome(detail: ScreenDetail) -> None:
    if detail.status == "running":
        _say(
            f"screen {detail.job_id} is running: `repurpose screens show {detail.job_id}`; "
            f"results with `repurpose screens results {detail.job_id}`",
        )
        return
    p = detail.progress
    reason = f": {detail.error}" if detail.error else ""
    _say(
        f"screen {detail.job_id} {detail.status}{reason} ({p.pairs_done:,}/{p.pairs_total:,} pairs, "
        f"{detail.attempts} attempt(s))",
    )
    _print_failures(detail)
    if detail.status == "succeeded":
        _print_best(detail)
        _say(f"all scores: {detail.results_path}; `repurpose screens results {detail.job_id} --all --format csv`")


def _print_best(detail: ScreenDetail) -> None:
    only = " (drug-like only)" if detail.request.drug_like_only else ""
    for entry in detail.best:
        smiles = shows_smiles(console)
        table = Table(*hit_columns(smiles), title=f"best hits for {entry.target_id}{only}")
        for hit in entry.hits[:SHOWN_HITS]:
            table.add_row(*hit_cells(hit, smiles))
        console.print(table)
    if any(entry.hits for entry in detail.best):
        _say(EVIDENCE_NOTE)


def _print_failures(detail: ScreenDetail) -> None:
    if not detail.failures_total:
        return
    _say(f"skipped   {detail.failures_total} compound(s) that could not be featurised:")
    for failure in detail.failures[:SHOWN_FAILURES]:
        reason = failure.reason if len(failure.reason) <= 160 else failure.reason[:159] + "…"  # peptides run long
        _say(f"  {failure.compound_id}: {reason}")
    if detail.failures_total > SHOWN_FAILURES:
        _say(f"  … and {detail.failures_total - SHOWN_FAILURES} more (`repurpose screens show ID --json`)")


# --- repurpose screens ---------------------------------------------------------------------------


def _job_id(client: GrainClient, reference: str) -> str:
    from repurpose.actors.screening_job import resolve_screen

    with store_engine(client) as engine:
        return run_or_exit(resolve_screen, engine, reference)


@screens_app.command("list")
def list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every screening job, newest first."""
    from repurpose.actors.screening_job import list_screens
    from repurpose.gateway_client import GatewayClient

    jobs = listed(url, key, home, GatewayClient.screens, list_screens)
    if as_json:
        print_json([j.model_dump(mode="json") for j in jobs])
        return
    if not jobs:
        _say("no screening jobs yet: `repurpose screen --library FILE --target ID`")
        return
    table = Table(
        Column("job", no_wrap=True),
        Column("status", no_wrap=True),
        Column("library", min_width=7, overflow="fold"),
        Column("targets", min_width=7, overflow="fold"),
        Column("model", min_width=7, overflow="fold"),
        Column("pairs", justify="right", no_wrap=True),
    )
    for j in jobs:
        done = f" {j.pairs_done / j.pairs_total:.0%}" if j.status == "running" and j.pairs_total else ""
        table.add_row(
            j.job_id,
            j.status + done,
            Text(j.library_name),
            ", ".join(j.targets),
            j.model,
            f"{j.pairs_total:,}",
        )
    console.print(table)


@screens_app.command("show")
def show_command(
    job: ScreenArgument,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A job's status, progress, attempts, best hits and skipped compounds."""
    from repurpose.actors.screening_job import ScreeningJob

    gateway = gateway_for(url, key, home)
    detail: ScreenDetail
    if gateway is not None:
        detail = run_or_exit(gateway.screen, job)
    else:
        client = client_for(home)
        detail = run_or_exit(client.call, ScreeningJob, _job_id(client, job), "show")
    if as_json:
        print_json(detail)
        return
    p = detail.progress
    _say(f"screen    {detail.job_id}")
    _say(f"status    {detail.status} (attempts {detail.attempts})")
    _say(f"library   {detail.library_name} ({detail.library_id[:12]}, {detail.compounds:,} compounds)")
    _say(f"targets   {', '.join(detail.targets)}")
    _say(f"model     {detail.model}; top {detail.top}, chunks of {detail.chunk_size}")
    pace = f", {p.pairs_per_second:,.0f} pairs/s" if p.pairs_per_second and detail.status == "running" else ""
    eta = f", ETA {_duration(p.eta_seconds)}" if p.eta_seconds is not None and detail.status == "running" else ""
    _say(
        f"progress  {p.pairs_done:,}/{p.pairs_total:,} pairs, chunks {p.chunks_done}/{p.chunks_total}{pace}{eta}",
    )
    if detail.attempts > 1:
        for a in detail.attempt_log:
            _say(
                f"attempt {a.attempt}: skipped {a.skipped_chunks} chunk(s), recorded {a.recorded_chunks}"
                + (f"; {a.outcome}" if a.outcome else ""),
            )
    if detail.results_path:
        _say(f"results   {detail.results_path}")
    if detail.error:
        _say(f"error     {detail.error}")
    _print_failures(detail)
    if any(entry.hits for entry in detail.best):
        _print_best(detail)


@screens_app.command("results")
def results_command(
    job: ScreenArgument,
    target: Annotated[str | None, typer.Option("--target", help="Only this target's results.")] = None,
    top: Annotated[int | None, typer.Option("--top", help="Best K per target (default: the job's top).")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every score, not the best --top (csv and parquet stream them).")
    ] = False,
    output_format: Annotated[
        ResultsFormat, typer.Option("--format", help="table, json, csv or parquet (with --out).")
    ] = ResultsFormat.table,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of the terminal.")] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """The best hits per target, ranked, or every score with --all (partial while the job runs)."""
    from repurpose.actors.screening_job import ScreeningJob
    from repurpose.contracts.screening import MAX_TOP

    if top is not None and not 1 <= top <= MAX_TOP:
        raise fail(f"--top takes 1 to {MAX_TOP}, not {top}")
    if every and top is not None:
        raise fail("give --top (the best K per target) or --all (every score), not both")
    if every and output_format is ResultsFormat.table:
        raise fail("--all writes every score as csv, json or parquet: add --format csv (or json, parquet)")
    if output_format is ResultsFormat.parquet and out is None:
        raise fail("--format parquet writes a file: add --out FILE")
    gateway = gateway_for(url, key, home)
    if every or output_format is ResultsFormat.parquet:
        _write_scores(gateway, job, target, top, every, output_format, out, home)
        return
    results: ScreenResults
    if gateway is not None:
        results = run_or_exit(gateway.screen_results, job, target, top)
    else:
        client = client_for(home)
        results = run_or_exit(client.call, ScreeningJob, _job_id(client, job), "results", target=target, top=top)
    if output_format is ResultsFormat.table:
        if out is not None:
            raise fail("--out writes json, csv or parquet: add --format csv (or json, parquet)")
        _print_results_table(results)
        return
    text = results.model_dump_json() + "\n" if output_format is ResultsFormat.json else results.to_csv()
    _write_text(out, text, len(results.rows), results)


def _write_scores(
    gateway: GatewayClient | None,
    job: str,
    target: str | None,
    top: int | None,
    every: bool,
    output_format: ResultsFormat,
    out: Path | None,
    home: Path | None,
) -> None:
    """Every score (``every``), or the best ``top`` as Parquet, written as it is read: through the
    gateway's stream, or straight from the local cluster's artifact store."""
    if output_format is ResultsFormat.json:
        results = _all_scores(gateway, job, target, home)
        _write_text(out, results.model_dump_json() + "\n", len(results.rows), results)
        return
    file_format: Literal["csv", "parquet"] = "csv" if output_format is ResultsFormat.csv else "parquet"
    partial = out.with_name(out.name + ".part") if out is not None else None  # renamed once whole
    try:
        with contextlib.ExitStack() as stack:
            sink = sys.stdout.buffer if partial is None else stack.enter_context(partial.open("wb"))
            if gateway is not None:
                download = gateway.download_screen_results
                complete = run_or_exit(download, job, sink, file_format, target, top, every=every)
            else:
                complete = _write_local_scores(job, target, top, every, file_format, sink, home)
        if partial is not None and out is not None:
            partial.replace(out)
    except OSError as error:
        raise fail(f"{out}: cannot write: {error.strerror or error}") from None
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    if out is not None:
        note = "" if complete else " (partial: the job has not finished)"
        what = "every score" if every else "the best hits"
        _say(f"wrote {what} ({_rows_in(out, file_format):,} row(s), {file_format}) to {out}{note}")


def _write_local_scores(
    job: str, target: str | None, top: int | None, every: bool, file_format: str, sink: IO[bytes], home: Path | None
) -> bool:
    from repurpose.actors.screening_job import ScreeningJob
    from repurpose.artifacts import ArtifactStore
    from repurpose.screen_results import csv_stream, parquet_stream, rows_table, score_batches

    client = client_for(home)
    job_id = _job_id(client, job)
    if every:
        source = run_or_exit(client.call, ScreeningJob, job_id, "scores_source", target=target)
        batches = score_batches(ArtifactStore.from_settings(client.settings), source)
        complete = source.complete
    else:
        found = run_or_exit(client.call, ScreeningJob, job_id, "results", target=target, top=top)
        batches = iter(rows_table(found.rows).to_batches())
        complete = found.complete
    for piece in csv_stream(batches) if file_format == "csv" else parquet_stream(batches):
        sink.write(piece)
    return complete


def _all_scores(gateway: GatewayClient | None, job: str, target: str | None, home: Path | None) -> ScreenResults:
    """Every score in one ScreenResults: the gateway's pages joined, or read from the artifact store."""
    if gateway is not None:
        page = run_or_exit(gateway.screen_results, job, target, every=True)
        rows = list(page.rows)
        while page.next_offset is not None:
            page = run_or_exit(gateway.screen_results, job, target, every=True, offset=page.next_offset)
            rows.extend(page.rows)
        return page.model_copy(update={"rows": rows, "offset": 0})
    from repurpose.actors.screening_job import ScreeningJob
    from repurpose.artifacts import ArtifactStore
    from repurpose.screen_results import results_page

    client = client_for(home)
    source = run_or_exit(client.call, ScreeningJob, _job_id(client, job), "scores_source", target=target)
    return results_page(ArtifactStore.from_settings(client.settings), source, 0, sys.maxsize, target)


def _write_text(out: Path | None, text: str, rows: int, results: ScreenResults) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text)
    except OSError as error:
        raise fail(f"{out}: cannot write: {error.strerror or error}") from None
    note = "" if results.complete else f" (partial: the job is {results.status})"
    _say(f"wrote {rows} row(s) to {out}{note}")


def _rows_in(path: Path, file_format: str) -> int:
    """Rows in a written results file (CSV: lines less the header; no id or SMILES holds a newline)."""
    if file_format == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as f:
        return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1)


def _print_results_table(results: ScreenResults) -> None:
    if not results.complete:
        _say(f"partial results: screen {results.job_id} is {results.status}")
    smiles = shows_smiles(console)
    table = Table(Column("target", no_wrap=True), *hit_columns(smiles))
    for r in results.rows:
        table.add_row(Text(r.target_id), *hit_cells(r, smiles))
    console.print(table)
    if results.rows:
        _say(EVIDENCE_NOTE)


@screens_app.command("cancel")
def cancel_command(
    job: ScreenArgument,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop a running job; the chunks done so far keep their results."""
    from repurpose.actors.screening_job import ScreeningJob

    gateway = gateway_for(url, key, home)
    detail: ScreenDetail
    if gateway is not None:
        detail = run_or_exit(gateway.cancel_screen, job)
    else:
        client = client_for(home)
        detail = run_or_exit(client.call, ScreeningJob, _job_id(client, job), "cancel")
    if as_json:
        print_json(detail)
        return
    p = detail.progress
    _say(f"screen {detail.job_id} {detail.status} ({p.pairs_done:,}/{p.pairs_total:,} pairs)")


# --- repurpose libraries -------------------------------------------------------------------------


def _register_file(
    client: GrainClient | None, gateway: GatewayClient | None, path: Path, name: str | None, *, quiet: bool
) -> LibraryRegistration:
    from repurpose.actors.compound_library import MAX_LIBRARY_BYTES, register_library

    data = read_capped(path, MAX_LIBRARY_BYTES, "accepted; split the library")
    # Text: a spinner reads a str as markup whatever the console says, and a file name is not markup
    status = console.status(Text(f"registering {path.name}"), spinner="dots") if not quiet else contextlib.nullcontext()
    registration: LibraryRegistration
    with status:
        if gateway is not None:
            registration = run_or_exit(gateway.register_library, data, path.name, name)
        else:
            assert client is not None
            registration = run_or_exit(register_library, client, data, filename=str(path), name=name)
    if not quiet:
        what = "registered" if registration.created else "already registered:"
        label = f"{registration.name}, {registration.compounds:,} compounds"
        _say(f"{what} library {registration.library_id[:12]} ({label})")
    return registration


def _library_id(client: GrainClient | None, gateway: GatewayClient | None, reference: str) -> str:
    from repurpose.actors.compound_library import resolve_library

    if gateway is not None:
        return run_or_exit(gateway.library, reference).library_id
    assert client is not None
    with store_engine(client) as engine:
        return run_or_exit(resolve_library, engine, reference)


@libraries_app.command("register")
def libraries_register_command(
    file: Annotated[Path, typer.Argument(help="CSV with compound_id (or id, name) and smiles columns, or .smi.")],
    name: Annotated[str | None, typer.Option("--name", help="A name for the library (default: the file stem).")] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store a compound library named by its content (SMILES are checked when screened)."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    gateway = gateway_for(url, key, home)
    client = client_for(home) if gateway is None else None
    registration = _register_file(client, gateway, file, name, quiet=as_json)
    if as_json:
        print_json(registration)
        return
    _say(f"id        {registration.library_id}")
    if registration.extra_columns:
        _say(f"ignored   columns {', '.join(registration.extra_columns)}")


@libraries_app.command("list")
def libraries_list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every registered library."""
    from repurpose.actors.compound_library import list_libraries
    from repurpose.gateway_client import GatewayClient

    libraries = listed(url, key, home, GatewayClient.libraries, list_libraries)
    if as_json:
        print_json([v.model_dump(mode="json") for v in libraries])
        return
    if not libraries:
        _say("no libraries yet: `repurpose libraries register FILE`")
        return
    table = Table(
        Column("id", no_wrap=True),
        "name",
        Column("compounds", justify="right"),
        "source",
        Column("registered", no_wrap=True),
    )
    for v in libraries:
        table.add_row(
            v.library_id[:12],
            Text(", ".join([v.name, *v.aliases])),
            f"{v.compounds:,}",
            Text(v.source),
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@libraries_app.command("show")
def libraries_show_command(
    library: LibraryArgument,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A library's summary and its first compounds."""
    from repurpose.actors.compound_library import CompoundLibrary

    gateway = gateway_for(url, key, home)
    detail: LibraryDetail
    if gateway is not None:
        detail = run_or_exit(gateway.library, library)
    else:
        client = client_for(home)
        detail = run_or_exit(client.call, CompoundLibrary, _library_id(client, None, library), "show")
    if as_json:
        print_json(detail)
        return
    _say(f"library   {detail.library_id}")
    aliases = f"  (also: {', '.join(detail.aliases)})" if detail.aliases else ""
    _say(f"name      {detail.name}{aliases}")
    _say(
        f"source    {detail.source} ({detail.format}), registered {detail.created_at:%Y-%m-%d %H:%M} UTC",
    )
    _say(f"compounds {detail.compounds:,} ({detail.compounds_path})")
    sample = Table("compound", "SMILES", title="first compounds")
    for compound in detail.sample:
        sample.add_row(Text(compound.compound_id), Text(compound.smiles))
    console.print(sample)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _say(text: str) -> None:
    """One line for people: no markup, no highlighting, never wrapped (ids and paths stay whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)
