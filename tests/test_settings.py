from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from repurpose.settings import Settings, get_settings
from tests.helpers import service_missing


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("REPURPOSE_") or name == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(name)
    get_settings.cache_clear()


def test_defaults_derive_from_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'repurpose.db'}"
    assert settings.artifact_url == str(tmp_path / "artifacts")
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.ray_address is None
    assert settings.ray_gcs_port == 6380
    assert settings.gateway_port == 8000
    assert settings.grain_hosts == 2
    assert settings.grain_idle_seconds == 900
    assert settings.database_is_sqlite


def test_home_default_is_under_user_home() -> None:
    assert Settings().home == Path("~/.repurpose").expanduser().resolve()


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REPURPOSE_HOME", str(tmp_path))
    monkeypatch.setenv("REPURPOSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/x")
    monkeypatch.setenv("REPURPOSE_GRAIN_HOSTS", "4")
    monkeypatch.setenv("REPURPOSE_GRAIN_IDLE_SECONDS", "1.5")
    settings = get_settings()
    assert settings.home == tmp_path
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert not settings.database_is_sqlite
    assert (settings.grain_hosts, settings.grain_idle_seconds) == (4, 1.5)
    assert get_settings() is settings


def test_mlflow_tracking_uri_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert Settings(home=tmp_path).mlflow_tracking_uri == "http://mlflow.example:5000"
    monkeypatch.setenv("REPURPOSE_MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert Settings(home=tmp_path).mlflow_tracking_uri == "sqlite:///elsewhere.db"


def test_gcs_port_6379_refused() -> None:
    with pytest.raises(ValidationError, match="Redis"):
        Settings(ray_gcs_port=6379)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("database_url", "mysql://root@localhost/x", "SQLite or PostgreSQL"),
        ("database_url", "not a url", "not a database URL"),
        ("grain_hosts", 0, "greater than or equal to 1"),
        ("grain_idle_seconds", 0, "greater than 0"),
        ("gateway_port", 70000, "less than or equal to 65535"),
        ("grain_pool", "bad name!", "letters, digits"),
        ("unknown_field", 1, "Extra inputs are not permitted"),
        ("alert_webhooks", ["ftp://example.org/hook"], "not a webhook URL"),
        ("alert_rules", [{"name": "a", "metric": "speed", "threshold": 0.5}], "drift_share"),
        ("alert_rules", [{"name": "a", "metric": "drift_share", "threshold": 2}], "less than or equal to 1"),
        (
            "alert_rules",
            [
                {"name": "a", "metric": "drift_share", "threshold": 0.5},
                {"name": "a", "metric": "auroc_drop", "threshold": 0.1},
            ],
            "names a more than once",
        ),
    ],
)
def test_bad_values_refused(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{field: value})


def test_artifact_url_keeps_remote_urls_and_resolves_paths(tmp_path: Path) -> None:
    assert Settings(artifact_url="s3://bucket/prefix").artifact_url == "s3://bucket/prefix"
    assert Settings(artifact_url=str(tmp_path / "a" / ".." / "b")).artifact_url == str(tmp_path / "b")


def test_with_overrides_moves_derived_paths(tmp_path: Path) -> None:
    base = Settings(home=tmp_path / "one", grain_hosts=3)
    moved = base.with_overrides(home=tmp_path / "two", database_url=None)
    assert moved.database_url == f"sqlite:///{tmp_path / 'two' / 'repurpose.db'}"
    assert moved.grain_hosts == 3
    pinned = Settings(home=tmp_path / "one", artifact_url="memory://artifacts").with_overrides(home=tmp_path / "two")
    assert pinned.artifact_url == "memory://artifacts"


def test_settings_are_immutable(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(ValidationError):
        settings.grain_hosts = 5


def test_a_missing_service_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI must not pass with a required service's tests silently skipped."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true"):
        service_missing("PostgreSQL not reachable at nowhere")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        service_missing("PostgreSQL not reachable at nowhere")


def test_the_default_model_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(home=tmp_path).default_model == "drugban-human"
    monkeypatch.setenv("REPURPOSE_DEFAULT_MODEL", "knn-union")
    assert Settings(home=tmp_path).default_model == "knn-union"
    for bad in ("knn-union@3", "KNN", "", "knn union"):  # a name (its production version), nothing else
        with pytest.raises(ValidationError, match=r"default_model .* is not a model name"):
            Settings(home=tmp_path, default_model=bad)


def test_the_explain_model_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(home=tmp_path).explain_model == "drugban-human"  # the DrugBAN explain falls back to
    monkeypatch.setenv("REPURPOSE_EXPLAIN_MODEL", "drugban-union")
    assert Settings(home=tmp_path).explain_model == "drugban-union"
    with pytest.raises(ValidationError, match=r"explain_model 'drugban-human@1' is not a model name"):
        Settings(home=tmp_path, explain_model="drugban-human@1")


def test_alert_rules_and_webhooks_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert [r.name for r in Settings(home=tmp_path).alert_rules] == ["dataset-drift", "out-of-domain", "auroc-drop"]
    monkeypatch.setenv(
        "REPURPOSE_ALERT_RULES",
        '[{"name": "ood", "metric": "out_of_domain_share", "threshold": 0.3, "window": "day", "retrain": true}]',
    )
    monkeypatch.setenv("REPURPOSE_ALERT_WEBHOOKS", '["https://hooks.example.org/repurpose"]')
    monkeypatch.setenv("REPURPOSE_ALERT_WEBHOOK_SECRET", "s3cret")
    settings = Settings(home=tmp_path)
    (rule,) = settings.alert_rules
    assert (rule.name, rule.window, rule.retrain, rule.min_pairs, rule.model) == ("ood", "day", True, 100, None)
    assert settings.alert_webhooks == ["https://hooks.example.org/repurpose"]
    assert settings.alert_webhook_secret is not None and settings.alert_webhook_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.model_dump_json()


def test_alert_webhooks_inside_the_network_need_allow_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    inside = {"name": "r", "metric": "drift_share", "threshold": 0.5, "webhooks": ["http://169.254.169.254/x"]}
    with pytest.raises(ValidationError, match=r"http://127\.0\.0\.1:9 point at a loopback"):
        Settings(home=tmp_path, alert_webhooks=["http://127.0.0.1:9/hook"])
    with pytest.raises(ValidationError, match=r"http://169\.254\.169\.254 point at"):
        Settings(home=tmp_path, alert_rules=[inside])
    monkeypatch.setenv("REPURPOSE_ALERT_WEBHOOKS_ALLOW_PRIVATE", "true")
    allowed = Settings(home=tmp_path, alert_webhooks=["http://127.0.0.1:9/hook"], alert_rules=[inside])
    assert allowed.alert_webhooks_allow_private and allowed.alert_webhooks == ["http://127.0.0.1:9/hook"]


@pytest.mark.parametrize("field", ["ray_gcs_port", "ray_dashboard_port"])
def test_a_head_port_among_rays_worker_ports_is_refused_by_name(field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field} 16390 lies in Ray's worker port range"):
        Settings(**{field: 16390})
    assert getattr(Settings(**{field: 20_000}), field) == 20_000
