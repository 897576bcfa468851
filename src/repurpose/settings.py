"""Configuration: one ``Settings`` shared by the CLI, the gateway and the grain hosts.

Values come from keyword arguments (CLI flags), then ``REPURPOSE_*`` environment variables,
then the defaults below; ``MLFLOW_TRACKING_URI`` is honoured as MLflow users expect. Nothing
else in the package reads the environment: callers take a ``Settings`` (usually from
``get_settings()``) and grain hosts receive the creator's ``Settings`` when Ray starts them.

Paths derived from ``home`` (database, artifacts, MLflow store) are filled in at validation
time, so a ``Settings(home=...)`` moves all of them at once unless they are set explicitly.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

REDIS_PORT = 6379
"""Taken by Redis on the machines we run on; Ray's GCS must never bind it."""

_SUPPORTED_DATABASES = ("sqlite", "postgresql")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REPURPOSE_", extra="forbid", frozen=True)

    home: Path = Field(default=Path("~/.repurpose"), description="Where local state lives.")
    database_url: str = Field(
        default="",
        validate_default=True,
        description="SQLAlchemy URL; default sqlite:///<home>/repurpose.db. PostgreSQL: postgresql+psycopg://...",
    )
    artifact_url: str = Field(
        default="", validate_default=True, description="Any fsspec URL or local path; default <home>/artifacts."
    )
    mlflow_tracking_uri: str = Field(
        default="",
        validate_default=True,
        validation_alias=AliasChoices("REPURPOSE_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "mlflow_tracking_uri"),
        description="Default: MLFLOW_TRACKING_URI if set, else a file store under <home>/mlruns.",
    )

    ray_address: str | None = Field(default=None, description="Ray cluster to join; None starts a local one.")
    ray_namespace: str = Field(default="repurpose", description="Ray namespace of the named grain hosts.")
    ray_gcs_port: int = Field(default=6380, ge=1024, le=65535, description="GCS port of a head node we start.")
    ray_dashboard_port: int = Field(default=8265, ge=1024, le=65535)

    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)

    grain_pool: str = Field(default="grain-host", description="Name prefix of the grain hosts: <pool>-0, <pool>-1…")
    grain_hosts: int = Field(default=2, ge=1, le=1024, description="How many grain hosts make up the pool.")
    grain_idle_seconds: float = Field(default=900.0, gt=0, description="Idle time after which an activation goes.")
    grain_host_concurrency: int = Field(default=1000, ge=1, description="Concurrent calls a host accepts.")
    grain_restart_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long a caller waits for Ray to restart a dead host."
    )

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        return home.expanduser().resolve()

    @field_validator("database_url", mode="after")
    @classmethod
    def _database_url(cls, url: str, info: ValidationInfo) -> str:
        if not url:
            return f"sqlite:///{_home(info) / 'repurpose.db'}"
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ValueError(f"database_url {url!r} is not a database URL: {exc}") from None
        if parsed.get_backend_name() not in _SUPPORTED_DATABASES:
            raise ValueError(f"database_url must be SQLite or PostgreSQL, not {parsed.get_backend_name()!r}")
        return url

    @field_validator("artifact_url", mode="after")
    @classmethod
    def _artifact_url(cls, url: str, info: ValidationInfo) -> str:
        if not url:
            return str(_home(info) / "artifacts")
        if "://" not in url:  # a local path
            return str(Path(url).expanduser().resolve())
        return url

    @field_validator("mlflow_tracking_uri", mode="after")
    @classmethod
    def _mlflow_uri(cls, uri: str, info: ValidationInfo) -> str:
        return uri or (_home(info) / "mlruns").as_uri()

    @field_validator("ray_gcs_port", mode="after")
    @classmethod
    def _not_redis(cls, port: int) -> int:
        if port == REDIS_PORT:
            raise ValueError(f"ray_gcs_port must not be {REDIS_PORT}: Redis listens there")
        return port

    @field_validator("ray_namespace", "grain_pool", mode="after")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"{name!r} must be 1-63 letters, digits, '_', '.' or '-'")
        return name

    @property
    def database_is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed and re-validated (e.g. from CLI flags).

        Paths derived from ``home`` follow a new ``home`` unless they were set explicitly.
        """
        explicit = {name: getattr(self, name) for name in self.model_fields_set}
        return Settings(**{**explicit, **{k: v for k, v in changes.items() if v is not None}})


def _home(info: ValidationInfo) -> Path:
    home = info.data.get("home")
    if home is None:  # ``home`` itself failed validation; its error is reported already
        raise ValueError("cannot derive a default without a valid home")
    return Path(home)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings from the environment (cached; ``get_settings.cache_clear()`` in tests)."""
    return Settings()
