"""``repurpose screen`` and ``repurpose screens list|show|results|cancel``: virtual screening on the
cluster (libraries: ``repurpose.cli.libraries``)."""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.evidence import EVIDENCE_NOTE, hit_cells, hit_columns, shows_smiles
from repurpose.cli.home import HomeOption
from repurpose.cli.libraries import library_id, register_library_file
from repurpose.cli.output import JsonOption, console, errors, fail, print_json, run_or_exit, say
from repurpose.contracts.scoring import MAX_CHUNK
from repurpose.contracts.screening import MAX_TARGETS, MAX_TOP, ScreenDetail, ScreenResults, validated_request
from repurpose.contracts.targets import check_target_id

if TYPE_CHECKING:
    from repurpose.contracts.client import RepurposeClient

POLL_SECONDS = 0.5
SHOWN_HITS = 10
SHOWN_FAILURES = 5

screens_app = typer.Typer(
    name="screens", help="Inspect, read and cancel screening jobs.", no_args_is_help=True, add_completion=False
)

ScreenArgument = Annotated[str, typer.Argument(help="A job id (scr-…) or a unique prefix of its digits (4+).")]


class ResultsFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    parquet = "parquet"


def register(app: typer.Typer) -> None:
    app.command()(screen)
    app.add_typer(screens_app, name="screens")


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
    if not 1 <= top <= MAX_TOP:
        raise fail(f"--top takes 1 to {MAX_TOP}, not {top}")
    if chunk_size is not None and not 1 <= chunk_size <= MAX_CHUNK:
        raise fail(f"--chunk-size takes 1 to {MAX_CHUNK}, not {chunk_size}")
    if len(set(target)) > MAX_TARGETS:
        raise fail(f"a screen takes at most {MAX_TARGETS} targets, not {len(set(target))}")
    for target_id in target:
        run_or_exit(check_target_id, target_id)
    path = Path(library)
    if name is not None and not path.is_file():
        raise fail("--name names a library registered from a file; --library is not a file here")
    with contextlib.closing(open_client(url, key, home)) as client:
        if path.is_file():
            library_ref = register_library_file(client, path, name, quiet=as_json).library_id
        else:
            library_ref = library_id(client, library)
        detail = _submit(client, library_ref, target, model, top, chunk_size, drug_like)
        if not as_json:
            say(
                f"screen {detail.job_id} started: {detail.compounds:,} compounds × {len(detail.targets)} target(s) "
                f"with {detail.model}",
            )
        if not detach and detail.status == "running":
            detail = _follow(client, detail, quiet=as_json)
    if as_json:
        print_json(detail)
        return
    _print_outcome(detail)
    if detail.status in ("failed", "cancelled"):
        raise typer.Exit(1)


def _submit(
    client: RepurposeClient,
    library: str,
    targets: list[str],
    model: str | None,
    top: int,
    chunk_size: int | None,
    drug_like_only: bool = False,
) -> ScreenDetail:
    request = run_or_exit(
        validated_request,
        {
            "library_id": library,
            "targets": targets,
            "model": model,
            "top": top,
            "chunk_size": chunk_size,
            "drug_like_only": drug_like_only,
        },
    )
    # a retried submit (the CLI retries 429 and 503) must not start a second job
    return run_or_exit(client.submit_screen, request, idempotency_key=uuid.uuid4().hex)


def _follow(client: RepurposeClient, detail: ScreenDetail, *, quiet: bool) -> ScreenDetail:
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
                detail = run_or_exit(client.screen, detail.job_id)
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
        say(
            f"screen {detail.job_id} is running: `repurpose screens show {detail.job_id}`; "
            f"results with `repurpose screens results {detail.job_id}`",
        )
        return
    p = detail.progress
    reason = f": {detail.error}" if detail.error else ""
    say(
        f"screen {detail.job_id} {detail.status}{reason} ({p.pairs_done:,}/{p.pairs_total:,} pairs, "
        f"{detail.attempts} attempt(s))",
    )
    _print_failures(detail)
    if detail.status == "succeeded":
        _print_best(detail)
        say(f"all scores: {detail.results_path}; `repurpose screens results {detail.job_id} --all --format csv`")


def _print_best(detail: ScreenDetail) -> None:
    only = " (drug-like only)" if detail.request.drug_like_only else ""
    for entry in detail.best:
        smiles = shows_smiles(console)
        table = Table(*hit_columns(smiles), title=f"best hits for {entry.target_id}{only}")
        for hit in entry.hits[:SHOWN_HITS]:
            table.add_row(*hit_cells(hit, smiles))
        console.print(table)
    if any(entry.hits for entry in detail.best):
        say(EVIDENCE_NOTE)


def _print_failures(detail: ScreenDetail) -> None:
    if not detail.failures_total:
        return
    say(f"skipped   {detail.failures_total} compound(s) that could not be featurised:")
    for failure in detail.failures[:SHOWN_FAILURES]:
        reason = failure.reason if len(failure.reason) <= 160 else failure.reason[:159] + "…"  # peptides run long
        say(f"  {failure.compound_id}: {reason}")
    if detail.failures_total > SHOWN_FAILURES:
        say(f"  … and {detail.failures_total - SHOWN_FAILURES} more (`repurpose screens show ID --json`)")


# --- repurpose screens ---------------------------------------------------------------------------


@screens_app.command("list")
def list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every screening job, newest first."""
    with contextlib.closing(open_client(url, key, home)) as client:
        jobs = run_or_exit(client.screens)
    if as_json:
        print_json([j.model_dump(mode="json") for j in jobs])
        return
    if not jobs:
        say("no screening jobs yet: `repurpose screen --library FILE --target ID`")
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
    with contextlib.closing(open_client(url, key, home)) as client:
        detail: ScreenDetail = run_or_exit(client.screen, job)
    if as_json:
        print_json(detail)
        return
    p = detail.progress
    say(f"screen    {detail.job_id}")
    say(f"status    {detail.status} (attempts {detail.attempts})")
    say(f"library   {detail.library_name} ({detail.library_id[:12]}, {detail.compounds:,} compounds)")
    say(f"targets   {', '.join(detail.targets)}")
    say(f"model     {detail.model}; top {detail.top}, chunks of {detail.chunk_size}")
    pace = f", {p.pairs_per_second:,.0f} pairs/s" if p.pairs_per_second and detail.status == "running" else ""
    eta = f", ETA {_duration(p.eta_seconds)}" if p.eta_seconds is not None and detail.status == "running" else ""
    say(
        f"progress  {p.pairs_done:,}/{p.pairs_total:,} pairs, chunks {p.chunks_done}/{p.chunks_total}{pace}{eta}",
    )
    if detail.attempts > 1:
        for a in detail.attempt_log:
            say(
                f"attempt {a.attempt}: skipped {a.skipped_chunks} chunk(s), recorded {a.recorded_chunks}"
                + (f"; {a.outcome}" if a.outcome else ""),
            )
    if detail.results_path:
        say(f"results   {detail.results_path}")
    if detail.error:
        say(f"error     {detail.error}")
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
    if top is not None and not 1 <= top <= MAX_TOP:
        raise fail(f"--top takes 1 to {MAX_TOP}, not {top}")
    if every and top is not None:
        raise fail("give --top (the best K per target) or --all (every score), not both")
    if every and output_format is ResultsFormat.table:
        raise fail("--all writes every score as csv, json or parquet: add --format csv (or json, parquet)")
    if output_format is ResultsFormat.parquet and out is None:
        raise fail("--format parquet writes a file: add --out FILE")
    with contextlib.closing(open_client(url, key, home)) as client:
        if every or output_format is ResultsFormat.parquet:
            _write_scores(client, job, target, top, every, output_format, out)
            return
        results: ScreenResults = run_or_exit(client.screen_results, job, target, top)
    if output_format is ResultsFormat.table:
        if out is not None:
            raise fail("--out writes json, csv or parquet: add --format csv (or json, parquet)")
        _print_results_table(results)
        return
    text = results.model_dump_json() + "\n" if output_format is ResultsFormat.json else results.to_csv()
    _write_text(out, text, len(results.rows), results)


def _write_scores(
    client: RepurposeClient,
    job: str,
    target: str | None,
    top: int | None,
    every: bool,
    output_format: ResultsFormat,
    out: Path | None,
) -> None:
    """Every score (``every``), or the best ``top`` as Parquet, written as it is read (a gateway
    streams it; the cluster here reads it from its artifact store)."""
    if output_format is ResultsFormat.json:
        results = _all_scores(client, job, target)
        _write_text(out, results.model_dump_json() + "\n", len(results.rows), results)
        return
    file_format: Literal["csv", "parquet"] = "csv" if output_format is ResultsFormat.csv else "parquet"
    partial = out.with_name(out.name + ".part") if out is not None else None  # renamed once whole
    try:
        with contextlib.ExitStack() as stack:
            sink = sys.stdout.buffer if partial is None else stack.enter_context(partial.open("wb"))
            download = client.download_screen_results
            complete = run_or_exit(download, job, sink, file_format, target, top, every=every)
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
        say(f"wrote {what} ({_rows_in(out, file_format):,} row(s), {file_format}) to {out}{note}")


def _all_scores(client: RepurposeClient, job: str, target: str | None) -> ScreenResults:
    """Every score in one ScreenResults: the pages joined."""
    page = run_or_exit(client.screen_results, job, target, every=True)
    rows = list(page.rows)
    while page.next_offset is not None:
        page = run_or_exit(client.screen_results, job, target, every=True, offset=page.next_offset)
        rows.extend(page.rows)
    return page.model_copy(update={"rows": rows, "offset": 0})


def _write_text(out: Path | None, text: str, rows: int, results: ScreenResults) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text)
    except OSError as error:
        raise fail(f"{out}: cannot write: {error.strerror or error}") from None
    note = "" if results.complete else f" (partial: the job is {results.status})"
    say(f"wrote {rows} row(s) to {out}{note}")


def _rows_in(path: Path, file_format: str) -> int:
    """Rows in a written results file (CSV: lines less the header; no id or SMILES holds a newline)."""
    if file_format == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as f:
        return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1)


def _print_results_table(results: ScreenResults) -> None:
    if not results.complete:
        say(f"partial results: screen {results.job_id} is {results.status}")
    smiles = shows_smiles(console)
    table = Table(Column("target", no_wrap=True), *hit_columns(smiles))
    for r in results.rows:
        table.add_row(Text(r.target_id), *hit_cells(r, smiles))
    console.print(table)
    if results.rows:
        say(EVIDENCE_NOTE)


@screens_app.command("cancel")
def cancel_command(
    job: ScreenArgument,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop a running job; the chunks done so far keep their results."""
    with contextlib.closing(open_client(url, key, home)) as client:
        detail: ScreenDetail = run_or_exit(client.cancel_screen, job)
    if as_json:
        print_json(detail)
        return
    p = detail.progress
    say(f"screen {detail.job_id} {detail.status} ({p.pairs_done:,}/{p.pairs_total:,} pairs)")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
