from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repurpose.cli import app
from repurpose.contracts.scoring import HitEvidence
from repurpose.data.pairs import read_pairs
from repurpose.evaluation.classification_metrics import binary_metrics
from repurpose.model.directory import load_model_dir
from repurpose.training.pipeline import predict_pair
from tests.helpers import (
    DRUG_LIKE_SMILES,
    REPO_ROOT,
    SAMPLE_TEST,
    SAMPLE_TRAIN,
    SAMPLE_VAL,
    error_line,
    small_train_file,
)

METRIC_KEYS = {"auroc", "auprc", "accuracy", "sensitivity", "specificity", "precision", "f1", "threshold", "n"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_the_command_line_loads_without_the_ml_stack_ray_or_the_store() -> None:
    # `repurpose --help` and every command sent to a gateway import no more than this (start-up
    # time): Ray, the actors, PyTorch, RDKit, pandas and SQLAlchemy load only where a command runs
    # here. A fresh interpreter: this one has imported everything already.
    code = (
        "import json, sys\n"
        "import repurpose.cli\n"
        "heavy = ('torch', 'rdkit', 'ray', 'pandas', 'sqlalchemy', 'repurpose.actors', 'repurpose.grains')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []


def test_predict_broken_smiles_exits_2_with_one_error_line(tiny_model_dir: Path) -> None:
    # the real console script: nothing else (RDKit or torch noise) may reach stderr
    script = Path(sys.executable).parent / "repurpose"
    assert script.exists(), f"{script}: the package is not installed in this environment"

    result = subprocess.run(
        [str(script), "predict", "--model", str(tiny_model_dir), "--smiles", "C1CC", "--protein", "MKV"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    line = error_line(result.stderr)
    assert "'C1CC'" in line and "unclosed ring" in line


def test_predict_bad_protein_exits_2_naming_character(runner: CliRunner, tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["predict", "--model", str(tiny_model_dir), "--smiles", "CCO", "--protein", "MK*V"])

    assert result.exit_code == 2
    assert "'*' at position 3" in error_line(result.stderr)


@pytest.mark.parametrize("smiles", ["C1CC:x:", "C1CC[bold]N[/bold]"])
def test_error_lines_print_user_text_as_is(runner: CliRunner, tiny_model_dir: Path, smiles: str) -> None:
    # ":x:" is an emoji code and "[bold]" Rich markup: neither may be read in what a user typed
    result = runner.invoke(app, ["predict", "--model", str(tiny_model_dir), "--smiles", smiles, "--protein", "MKV"])

    assert result.exit_code == 2
    line = error_line(result.stderr)
    assert f"'{smiles}'" in line and "\N{CROSS MARK}" not in line


def test_predict_json_gives_probability_and_verdict(runner: CliRunner, tiny_model_dir: Path) -> None:
    result = runner.invoke(
        app, ["predict", "--model", str(tiny_model_dir), "--smiles", DRUG_LIKE_SMILES, "--protein", "MKVL", "--json"]
    )

    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    # the verdict, then the evidence of the model directory's training data (HitEvidence)
    assert set(answer) == {"probability", "threshold", "interacts", *HitEvidence.model_fields}
    assert answer["drug_like"] is True
    model = load_model_dir(tiny_model_dir)
    assert answer["probability"] == pytest.approx(predict_pair(model, DRUG_LIKE_SMILES, "MKVL"), abs=1e-6)
    assert answer["interacts"] == (answer["probability"] >= answer["threshold"])


def test_predict_several_compounds_in_one_call_scores_each_as_alone(runner: CliRunner, tiny_model_dir: Path) -> None:
    compounds = [DRUG_LIKE_SMILES, "CCO", "c1ccccc1O"]
    args = ["predict", "--model", str(tiny_model_dir), "--protein", "MKVL"]
    several = [a for s in compounds for a in ("--smiles", s)]

    answer = runner.invoke(app, [*args, *several, "--json"])
    shown = runner.invoke(app, [*args, *several])
    bad = runner.invoke(app, [*args, "--smiles", "CCO", "--smiles", "C1CC"])

    assert answer.exit_code == 0, answer.stderr
    rows = json.loads(answer.stdout)
    model = load_model_dir(tiny_model_dir)
    assert [row["smiles"] for row in rows] == compounds
    for row, smiles in zip(rows, compounds, strict=True):
        assert row["probability"] == pytest.approx(predict_pair(model, smiles, "MKVL"), abs=1e-6)
        assert row["interacts"] == (row["probability"] >= row["threshold"]) and "in_domain" in row
    assert shown.exit_code == 0 and all(f"{row['probability']:.4f}" in shown.stdout for row in rows)
    assert bad.exit_code == 2 and error_line(bad.stderr).startswith("error: --smiles #2: ")


def test_evaluate_json_prints_one_object_with_metric_keys(runner: CliRunner, tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--model", str(tiny_model_dir), "--data", str(SAMPLE_TEST), "--json"])

    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    metrics = json.loads(result.stdout)
    assert set(metrics) == METRIC_KEYS
    assert metrics["n"] == 49


def test_evaluate_text_lists_every_metric(runner: CliRunner, tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--model", str(tiny_model_dir), "--data", str(SAMPLE_TEST)])

    assert result.exit_code == 0, result.stderr
    for key in METRIC_KEYS:
        assert key in result.stdout


def test_evaluate_missing_model_directory_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "no-model"

    result = runner.invoke(app, ["evaluate", "--model", str(missing), "--data", str(SAMPLE_TEST), "--json"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert error_line(result.stderr) == f"error: {missing}: no such model directory"


def test_evaluate_broken_data_row_exits_2_naming_row(runner: CliRunner, tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "pairs.csv"
    data.write_text("SMILES,Protein,Y\nCCO,MKV,1\nCCN,MKV,2\n")

    result = runner.invoke(app, ["evaluate", "--model", str(tiny_model_dir), "--data", str(data)])

    assert result.exit_code == 2
    assert "row 2: label Y=2 is not 0 or 1" in error_line(result.stderr)


def test_train_rf_writes_model_directory(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "rf"
    train = small_train_file(tmp_path)

    result = runner.invoke(
        app, ["train", "--train", str(train), "--val", str(SAMPLE_VAL), "--out", str(out), "--model-type", "rf"]
    )

    assert result.exit_code == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert (out / "manifest.json").is_file()


def test_train_file_without_label_column_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("SMILES,Protein\nCCO,MKV\n")

    result = runner.invoke(
        app, ["train", "--train", str(train), "--val", str(SAMPLE_VAL), "--out", str(tmp_path / "m")]
    )

    assert result.exit_code == 2
    assert "missing column(s) Y" in error_line(result.stderr)
    assert not (tmp_path / "m").exists()


def test_resume_of_a_baseline_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "rf"
    args = ["train", "--train", str(SAMPLE_VAL), "--val", str(SAMPLE_VAL), "--out", str(out), "--model-type", "rf"]

    result = runner.invoke(app, [*args, "--resume"])

    assert result.exit_code == 2
    assert "rf fits in one step" in error_line(result.stderr)
    assert not out.exists()


def test_train_refuses_a_setting_the_model_type_does_not_use(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "m"
    files = ["train", "--train", str(SAMPLE_VAL), "--val", str(SAMPLE_VAL), "--out", str(out)]
    cases = [
        (["--model-type", "rf", "--epochs", "5"], "--epochs: rf models do not use epochs (only DrugBAN does)"),
        (["--model-type", "xgb", "--batch-size", "8"], "--batch-size: xgb models do not use batch_size"),
        (["--model-type", "knn", "--seed", "3"], "--seed: knn models do not use seed"),
        (["--members", "knn,xgb"], "--members: drugban models have no members"),
        (["--model-type", "ensemble", "--epochs", "2"], "--epochs: ensemble models without a drugban member"),
        (["--model-type", "ensemble", "--members", "knn,svm"], "'svm' is not a member type"),
        (["--model-type", "ensemble", "--members", "knn"], "an ensemble needs two or more different member types"),
        (["--model-type", "ensemble", "--resume"], "ensemble fits in one step"),
        (["--model-type", "ensemble", "--members", "drugban,knn", "--lr", "0"], "--lr: Input should be greater than 0"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*files, *args])
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert message in error_line(result.stderr), (args, result.stderr)
    assert not out.exists()


def test_an_ensemble_trains_evaluates_and_predicts_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "ensemble"
    smiles, protein = next(line.split(",")[:2] for line in SAMPLE_TRAIN.read_text().splitlines()[1:])
    files = ["--train", str(SAMPLE_TRAIN), "--val", str(SAMPLE_VAL), "--out", str(out)]

    trained = runner.invoke(app, ["train", *files, "--model-type", "ensemble", "--members", "knn,rf", "--seed", "5"])
    evaluated = runner.invoke(app, ["evaluate", "--model", str(out), "--data", str(SAMPLE_TEST), "--json"])
    predicted = runner.invoke(app, ["predict", "--model", str(out), "--smiles", smiles, "--protein", protein, "--json"])

    assert trained.exit_code == 0, trained.stderr
    assert "(ensemble; val AUROC" in " ".join(trained.stdout.split())
    training = json.loads((out / "manifest.json").read_text())["training"]
    assert [m["model_type"] for m in training["members"]] == ["knn", "rf"] and training["members"][1]["seed"] == 5
    assert evaluated.exit_code == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["n"] == 49
    assert predicted.exit_code == 0, predicted.stderr
    assert 0.0 < json.loads(predicted.stdout)["probability"] < 1.0


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as a user would."""
    script = Path(sys.executable).parent / "repurpose"
    assert script.exists(), f"{script}: the package is not installed in this environment"
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["targets", "add", "P00533"], "Missing option '--sequence'"),
        (["train", "--train", "a.csv", "--val", "b.csv", "--out", "m", "--epochs", "0"], "'--epochs'"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["predict", "--model", "m", "--smiles", "C", "--protein", "M", "--no-such-flag"], "--no-such-flag"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = _script(*args)

    assert result.returncode == 2
    line = error_line(result.stderr)
    assert expected in line
    assert "--help`" in line  # says where to look


def test_option_value_a_contract_refuses_is_one_line(tmp_path: Path) -> None:
    # --lr 0 passes the option's own bound (min 0) but not the training contract (lr > 0)
    out = tmp_path / "m"
    result = _script("train", "--train", str(SAMPLE_VAL), "--val", str(SAMPLE_VAL), "--out", str(out), "--lr", "0")

    assert result.returncode == 2
    assert "lr" in error_line(result.stderr)
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["drugban-human", "rf-human", "xgb-human"])
def test_bundled_models_evaluate_from_a_fresh_install(model: str) -> None:
    result = _script("evaluate", "--model", f"models/{model}", "--data", str(SAMPLE_TEST), "--json")

    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics) == METRIC_KEYS
    manifest = json.loads((REPO_ROOT / "models" / model / "manifest.json").read_text())
    assert metrics["threshold"] == pytest.approx(manifest["val_metrics"]["threshold"])
    assert metrics["n"] == sum(1 for _ in SAMPLE_TEST.open()) - 1
    loaded, test = load_model_dir(REPO_ROOT / "models" / model), read_pairs(SAMPLE_TEST)
    assert test.labels is not None
    expected = binary_metrics(test.labels, loaded.predict(test), loaded.threshold)
    assert metrics == pytest.approx(expected.model_dump(), abs=1e-9)  # the figures of its scores, here


def test_knn_trains_evaluates_and_predicts_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "knn"
    binder_smiles, binder_protein = next(
        line.split(",")[:2] for line in SAMPLE_TRAIN.read_text().splitlines()[1:] if line.endswith(",1")
    )

    trained = runner.invoke(
        app, ["train", "--train", str(SAMPLE_TRAIN), "--val", str(SAMPLE_VAL), "--out", str(out), "--model-type", "knn"]
    )
    evaluated = runner.invoke(app, ["evaluate", "--model", str(out), "--data", str(SAMPLE_TEST), "--json"])
    predicted = runner.invoke(
        app, ["predict", "--model", str(out), "--smiles", binder_smiles, "--protein", binder_protein, "--json"]
    )

    assert trained.exit_code == 0, trained.stderr
    assert "(knn; val AUROC" in " ".join(trained.stdout.split())  # Rich wraps long paths
    assert evaluated.exit_code == 0, evaluated.stderr
    assert set(json.loads(evaluated.stdout)) == METRIC_KEYS and json.loads(evaluated.stdout)["n"] == 49
    assert predicted.exit_code == 0, predicted.stderr
    answer = json.loads(predicted.stdout)
    assert answer["probability"] == 1.0 and answer["interacts"] is True  # a training binder of that protein


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--ray-port", "16390"], "ray_gcs_port: ray_gcs_port 16390 lies in Ray's worker port range (10002 to 19999)"),
        (["--dashboard-port", "18265"], "ray_dashboard_port: ray_dashboard_port 18265 lies in Ray's worker port range"),
        (["--ray-port", "6379"], "ray_gcs_port: ray_gcs_port must not be 6379: Redis listens there"),
    ],
)
def test_up_refuses_a_head_port_ray_cannot_take_in_one_line(
    runner: CliRunner, tmp_path: Path, option: list[str], message: str
) -> None:
    # before anything starts: `ray start` itself fails only after 4 tries, naming no cause
    result = runner.invoke(app, ["up", "--home", str(tmp_path / "home"), *option])

    assert result.exit_code == 2
    assert error_line(result.stderr).startswith(f"error: {message}")
    assert not (tmp_path / "home" / "cluster.json").exists()
