"""`repurpose screen`, `repurpose screens …`, `repurpose libraries …` and the scorer's questions
(`profile`, `explain`, `predict` with a registered model) against a real local Ray cluster with a
deployed scorer (in-process, through CliRunner)."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from repurpose.cli import app
from repurpose.cluster.bundled_models import BUNDLED_MODEL, register_bundled_models
from repurpose.grains import GrainClient
from repurpose.model.directory import load_model_dir
from repurpose.settings import Settings
from repurpose.training.pipeline import predict_pair
from tests.helpers import BUNDLED_DIR, Scorer, error_line, library_csv, library_targets

pytestmark = pytest.mark.slow

COMPOUNDS = 60
DETACHED_COMPOUNDS = 2000  # one a chunk: thousands of scorer calls, far more than a cancel's moment


@pytest.fixture
def settings(settings: Settings, screening_scorer: Scorer) -> Settings:
    """The test's settings on the module's scorer (``screening_scorer``), chunks of 32."""
    return settings.with_overrides(scorer_app=screening_scorer.app, screening_chunk_size=32)


def setup_cluster(runner: CliRunner, home: list[str], settings: Settings, tmp_path: Path) -> tuple[Path, list[str]]:
    """The bundled model, two targets (through the CLI) and a library file; (file, target ids)."""
    register_bundled_models(GrainClient(settings), names=[BUNDLED_MODEL])
    targets = library_targets()
    for target_id, sequence in targets.items():
        added = runner.invoke(app, ["targets", "add", target_id, "--sequence", sequence, *home])
        assert added.exit_code == 0, added.stderr
    library = tmp_path / "sample.csv"
    library.write_bytes(library_csv(COMPOUNDS))
    return library, list(targets)


def shown(runner: CliRunner, home: list[str], job_id: str) -> dict[str, Any]:
    """`repurpose screens show JOB --json`."""
    result = runner.invoke(app, ["screens", "show", job_id, "--json", *home])
    assert result.exit_code == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_screen_a_file_then_show_results_list_and_cancel(
    runner: CliRunner, cluster_home: Path, settings: Settings, tmp_path: Path
) -> None:
    home = ["--home", str(cluster_home)]
    library, (t1, t2) = setup_cluster(runner, home, settings, tmp_path)

    screened = runner.invoke(
        app, ["screen", "--library", str(library), "--target", t1, "--target", t2, "--top", "5", *home]
    )
    assert screened.exit_code == 0, screened.stderr
    out = screened.stdout
    assert "registered library" in out
    assert f"sample, {COMPOUNDS + 2} compounds" in out
    assert f"{COMPOUNDS + 2} compounds × 2 target(s) with drugban-human@1" in out
    assert "succeeded (124/124 pairs, 1 attempt(s))" in out
    assert "skipped   2 compound(s) that could not be featurised:" in out
    assert "BAD-RING: invalid SMILES 'C1CC': unclosed ring" in out
    assert f"best hits for {t1}" in out and f"best hits for {t2}" in out
    assert "drug-like" in out and "nearest binder" in out and "domain" in out  # the evidence columns
    job_id = out.split("screen ", 1)[1].split(" ", 1)[0]
    assert job_id.startswith("scr-") and len(job_id) == 16

    # A registered library by name; --json prints the final detail only.
    again = runner.invoke(
        app, ["screen", "--library", "sample", "--target", t1, "--chunk-size", "7", "--drug-like", "--json", *home]
    )
    assert again.exit_code == 0, again.stderr
    detail = json.loads(again.stdout)
    assert (detail["status"], detail["targets"], detail["chunk_size"]) == ("succeeded", [t1], 7)
    assert detail["request"]["drug_like_only"] and all(h["drug_like"] for h in detail["best"][0]["hits"])
    assert detail["progress"]["chunks_done"] == 9 and detail["failures_total"] == 2
    second_id = detail["job_id"]

    listed = json.loads(runner.invoke(app, ["screens", "list", "--json", *home]).stdout)
    assert [j["job_id"] for j in listed] == [second_id, job_id]
    table = runner.invoke(app, ["screens", "list", *home]).stdout
    assert job_id in table and "succeeded" in table and " 124 " in table

    shown = runner.invoke(app, ["screens", "show", job_id[4:10], *home])
    assert shown.exit_code == 0, shown.stderr
    assert f"screen    {job_id}" in shown.stdout and "status    succeeded (attempts 1)" in shown.stdout
    assert "progress  124/124 pairs, chunks 4/4" in shown.stdout
    assert f"results   screens/{job_id}/results.parquet" in shown.stdout

    as_csv = runner.invoke(app, ["screens", "results", job_id, "--format", "csv", *home])
    assert as_csv.exit_code == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["target_id"], r["rank"]) for r in rows] == [(t, str(k)) for t in (t1, t2) for k in range(1, 6)]
    scores = [float(r["score"]) for r in rows[:5]]
    assert scores == sorted(scores, reverse=True)
    assert all(r["drug_like"] in ("True", "False") and r["in_domain"] in ("True", "False") for r in rows)

    out_file = tmp_path / "deep.json"
    deep = runner.invoke(
        app,
        [
            "screens",
            "results",
            job_id,
            "--target",
            t2,
            "--top",
            "40",
            "--format",
            "json",
            "--out",
            str(out_file),
            *home,
        ],
    )
    assert deep.exit_code == 0, deep.stderr
    assert f"wrote 40 row(s) to {out_file}" in deep.stdout
    page = json.loads(out_file.read_text())
    assert (page["source"], page["target"], page["complete"]) == ("parquet", t2, True)
    assert [r["rank"] for r in page["rows"]] == list(range(1, 41))
    assert [r["score"] for r in page["rows"][:5]] == [float(r["score"]) for r in rows[5:]]
    shown_table = runner.invoke(app, ["screens", "results", job_id, "--top", "3", *home])
    assert shown_table.exit_code == 0 and shown_table.stdout.count(t1) == 3

    # every score, beyond the job's top 5: streamed as CSV or Parquet, or as one JSON document
    every_csv, every_parquet = tmp_path / "all.csv", tmp_path / "all.parquet"
    for path, fmt in ((every_csv, "csv"), (every_parquet, "parquet")):
        wrote = runner.invoke(app, ["screens", "results", job_id, "--all", "--format", fmt, "--out", str(path), *home])
        assert wrote.exit_code == 0, wrote.stderr
        assert f"wrote every score ({2 * COMPOUNDS} row(s), {fmt}) to {path}" in wrote.stdout
    every = list(csv.DictReader(every_csv.open()))
    assert [(r["target_id"], int(r["rank"])) for r in every] == [(t, k) for t in (t1, t2) for k in range(1, 61)]
    assert every[:5] == rows[:5]  # the best hits, digit for digit
    assert pq.read_table(every_parquet).column("score").to_pylist() == [float(r["score"]) for r in every]
    as_json = json.loads(runner.invoke(app, ["screens", "results", job_id, "--all", "--format", "json", *home]).stdout)
    assert (as_json["total"], len(as_json["rows"]), as_json["next_offset"]) == (2 * COMPOUNDS, 2 * COMPOUNDS, None)

    target = json.loads(runner.invoke(app, ["targets", "show", t1, "--json", *home]).stdout)
    assert [h["job_id"] for h in target["history"]] == [second_id, job_id]

    cancelled = runner.invoke(app, ["screens", "cancel", job_id, *home])
    assert cancelled.exit_code == 2
    assert error_line(cancelled.stderr) == f"error: screening job {job_id} has succeeded already; nothing to cancel"


def test_detach_then_follow_with_show_and_cancel(
    runner: CliRunner, cluster_home: Path, settings: Settings, tmp_path: Path
) -> None:
    home = ["--home", str(cluster_home)]
    _, (t1, _) = setup_cluster(runner, home, settings, tmp_path)
    library = tmp_path / "large.csv"
    library.write_bytes(library_csv(DETACHED_COMPOUNDS))
    detached = runner.invoke(
        app, ["screen", "--library", str(library), "--target", t1, "--chunk-size", "1", "--detach", "--json", *home]
    )
    assert detached.exit_code == 0, detached.stderr
    job = json.loads(detached.stdout)
    assert (job["status"], job["created"], job["progress"]["chunks_total"]) == ("running", True, DETACHED_COMPOUNDS + 2)

    cancelled = runner.invoke(app, ["screens", "cancel", job["job_id"], *home])
    assert cancelled.exit_code == 0, cancelled.stderr
    assert f"screen {job['job_id']} cancelled (" in cancelled.stdout
    partial = runner.invoke(app, ["screens", "results", job["job_id"], *home])
    assert partial.exit_code == 0 and "partial results" in partial.stdout, partial.stderr

    first = shown(runner, home, job["job_id"])
    time.sleep(1.0)  # an attempt that went on would record more chunks meanwhile
    final = shown(runner, home, job["job_id"])
    assert first["status"] == final["status"] == "cancelled"
    assert first["progress"]["chunks_done"] == final["progress"]["chunks_done"] < final["progress"]["chunks_total"]


def test_libraries_register_list_show(runner: CliRunner, cluster_home: Path, tmp_path: Path) -> None:
    home = ["--home", str(cluster_home)]
    library = tmp_path / "mine.smi"
    library.write_text("CCO ethanol\nc1ccccc1 benzene\n")
    registered = runner.invoke(app, ["libraries", "register", str(library), "--name", "tiny", *home])
    assert registered.exit_code == 0, registered.stderr
    assert "registered library" in registered.stdout and "(tiny, 2 compounds)" in registered.stdout
    again = json.loads(runner.invoke(app, ["libraries", "register", str(library), "--json", *home]).stdout)
    assert again["created"] is False and again["name"] == "tiny"

    listed = runner.invoke(app, ["libraries", "list", *home])
    assert again["library_id"][:12] in listed.stdout and "tiny" in listed.stdout
    shown = runner.invoke(app, ["libraries", "show", "tiny", *home])
    assert shown.exit_code == 0, shown.stderr
    assert f"library   {again['library_id']}" in shown.stdout and "benzene" in shown.stdout


def test_profile_and_explain_take_a_library_compound_id(
    runner: CliRunner, cluster_home: Path, settings: Settings, tmp_path: Path
) -> None:
    home = ["--home", str(cluster_home)]
    _, (t1, _) = setup_cluster(runner, home, settings, tmp_path)
    gefitinib = "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1"
    library = tmp_path / "named.smi"
    library.write_text(f"{gefitinib} DB00317\nCCO ethanol\n")
    assert runner.invoke(app, ["libraries", "register", str(library), *home]).exit_code == 0

    by_id = runner.invoke(app, ["profile", "--compound", "DB00317", "--smiles", "CCO", "--top", "2", "--json", *home])
    assert by_id.exit_code == 0, by_id.stderr
    smiles_row, id_row = json.loads(by_id.stdout)
    assert (smiles_row["compound_id"], smiles_row["smiles"]) == (None, "CCO")
    assert (id_row["compound_id"], id_row["smiles"], id_row["model"]) == ("DB00317", gefitinib, "drugban-human@1")
    assert {h["drug_like_issue"] for h in smiles_row["hits"]} == {"3 heavy atoms"}  # ethanol: flagged on every row
    assert all(h["drug_like"] and h["in_domain"] for h in id_row["hits"])  # gefitinib is in Human's training data
    table = runner.invoke(app, ["profile", "--compound", "DB00317", "--top", "2", *home])
    assert table.exit_code == 0 and "drug-like: yes; in the model's domain" in table.stdout, table.stderr
    text = runner.invoke(app, ["explain", "--compound", "DB00317", "--target", t1, "--top", "2", *home])
    assert text.exit_code == 0, text.stderr
    assert f"{t1} × DB00317 ({gefitinib}): probability" in text.stdout

    missing = runner.invoke(app, ["profile", "--compound", "DB99999", *home])
    assert missing.exit_code == 2 and "no compound 'DB99999' in the 1 registered libraries" in error_line(
        missing.stderr
    )
    neither = runner.invoke(app, ["profile", *home])
    assert neither.exit_code == 2 and "give a compound: --smiles SMILES or --compound ID" in error_line(neither.stderr)


def test_bad_input_exits_2_with_one_line(
    runner: CliRunner, cluster_home: Path, settings: Settings, tmp_path: Path
) -> None:
    home = ["--home", str(cluster_home)]
    library, (t1, _) = setup_cluster(runner, home, settings, tmp_path)
    assert runner.invoke(app, ["libraries", "register", str(library), *home]).exit_code == 0
    duplicates = tmp_path / "dups.csv"
    duplicates.write_text("id,smiles\nA,CCO\nA,CCN\n")
    cases = [
        (["screen", "--library", "nothing-like-it", "--target", t1], "no compound library matches 'nothing-like-it'"),
        (["screen", "--library", "sample", "--target", t1, "--top", "0"], "--top takes 1 to 10000, not 0"),
        (["screen", "--library", "sample", "--target", t1, "--chunk-size", "0"], "--chunk-size takes 1 to 10000"),
        (["screen", "--library", "sample", "--target", "bad id!"], "'bad id!' is not a target id"),
        (["screen", "--library", "sample", "--target", "Q99999"], "no target 'Q99999' is registered"),
        (["screen", "--library", "sample", "--target", t1, "--model", "Bad!"], "'Bad!' is not a model name"),
        (["screen", "--library", "sample", "--target", t1, "--name", "x"], "--name names a library registered"),
        (["screen", "--library", str(duplicates), "--target", t1], "1 duplicate compound id(s): A (rows 1, 2)"),
        (["screens", "show", "xy"], "'xy' is not a screening job id"),
        (["screens", "show", "abcd"], "no screening job scr-abcd"),
        (["screens", "results", "abcd", "--top", "0"], "--top takes 1 to 10000, not 0"),
        (["screens", "results", "abcd", "--all", "--top", "3", "--format", "csv"], "give --top (the best K"),
        (["screens", "results", "abcd", "--all"], "--all writes every score as csv, json or parquet"),
        (["screens", "results", "abcd", "--format", "parquet"], "--format parquet writes a file: add --out FILE"),
        (["libraries", "register", str(tmp_path / "missing.csv")], "missing.csv: no such file"),
        (["libraries", "register", str(duplicates)], "every compound needs its own id"),
        (["libraries", "show", "nothing"], "no compound library matches 'nothing'"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, *home])
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert message in error_line(result.stderr), (args, result.stderr)


def test_predict_takes_a_registered_model_and_a_registered_target(
    runner: CliRunner, cluster_home: Path, settings: Settings, tmp_path: Path
) -> None:
    home = ["--home", str(cluster_home)]
    _, (t1, _) = setup_cluster(runner, home, settings, tmp_path)
    sequence = library_targets()[t1]
    gefitinib = "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1"
    bundled = load_model_dir(BUNDLED_DIR)  # what the registry's production version of drugban-human holds
    expected = predict_pair(bundled, gefitinib, sequence)

    def predicted(*args: str) -> dict[str, Any]:
        result = runner.invoke(app, ["predict", "--smiles", gefitinib, *args, "--json", *home])
        assert result.exit_code == 0, (args, result.stderr)
        answer: dict[str, Any] = json.loads(result.stdout)
        return answer

    by_name = predicted("--model", BUNDLED_MODEL, "--target", t1)
    assert set(by_name) == {"probability", "threshold", "interacts"}  # the scorer's answer, as over HTTP
    assert by_name["probability"] == pytest.approx(expected, abs=1e-6)
    assert by_name["threshold"] == pytest.approx(bundled.threshold)
    assert by_name["interacts"] == (expected >= bundled.threshold)
    by_sequence = predicted("--model", f"{BUNDLED_MODEL}@1", "--protein", sequence)
    assert by_sequence["probability"] == pytest.approx(by_name["probability"], abs=1e-6)
    with_directory = predicted("--model", str(BUNDLED_DIR), "--target", t1)  # the target's sequence, from the cluster
    assert with_directory["probability"] == pytest.approx(expected, abs=1e-6)
    assert with_directory["in_domain"] is True  # a model directory here: its training data's evidence too
    text = runner.invoke(app, ["predict", "--model", BUNDLED_MODEL, "--smiles", gefitinib, "--target", t1, *home])
    assert text.exit_code == 0, text.stderr
    verdict = "interacts" if by_name["interacts"] else "does not interact"
    assert text.stdout == f"{by_name['probability']:.4f}  ({verdict} at threshold {by_name['threshold']:.4f})\n"
    several = runner.invoke(
        app,
        [
            "predict",
            "--model",
            BUNDLED_MODEL,
            "--smiles",
            "CCO",
            "--smiles",
            gefitinib,
            "--target",
            t1,
            "--json",
            *home,
        ],
    )
    assert several.exit_code == 0, several.stderr
    rows = json.loads(several.stdout)  # one request to the scorer: each compound scored as alone
    assert [row["smiles"] for row in rows] == ["CCO", gefitinib]
    assert rows[1]["probability"] == pytest.approx(by_name["probability"], abs=1e-6)

    cases = [
        (["--model", BUNDLED_MODEL, "--target", "Q99999"], "no target 'Q99999' is registered"),
        (["--model", BUNDLED_MODEL, "--target", "bad id!"], "'bad id!' is not a target id"),
        (["--model", BUNDLED_MODEL, "--target", t1, "--protein", sequence], "--protein SEQUENCE or --target ID"),
        (["--model", BUNDLED_MODEL], "--protein SEQUENCE or --target ID"),
        (["--model", "no-such-model", "--target", t1], "no model named 'no-such-model' is registered"),
        (["--model", str(tmp_path / "missing"), "--target", t1], "missing: no such model directory"),
        (["--model", f"{BUNDLED_MODEL}@7", "--protein", sequence], f"model {BUNDLED_MODEL} has no version 7"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["predict", "--smiles", gefitinib, *args, *home])
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert message in error_line(result.stderr), (args, result.stderr)
