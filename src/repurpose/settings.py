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
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from repurpose.contracts.alerts import AlertRuleSpec, check_webhook_url, webhook_host_is_private, webhook_origin
from repurpose.contracts.ids import MODEL_NAME_PATTERN

REDIS_PORT = 6379
RAY_WORKER_PORTS = (10_002, 19_999)
"""The ports `ray start` gives its workers by default (--min-worker-port, --max-worker-port)."""
"""Taken by Redis on the machines we run on; Ray's GCS must never bind it."""

_SUPPORTED_DATABASES = ("sqlite", "postgresql")
TRACE_EXPORTERS = ("otlp", "console", "file")
"""Span exporters ``otel_traces_exporter`` may name (``file``: Repurpose's own, JSON lines)."""


def default_alert_rules() -> list[AlertRuleSpec]:
    """The rules a cluster starts with (replaced as a whole by REPURPOSE_ALERT_RULES, a JSON list)."""
    return [
        AlertRuleSpec(name="dataset-drift", metric="drift_share", threshold=0.5, window="pairs", min_pairs=100),
        AlertRuleSpec(name="out-of-domain", metric="out_of_domain_share", threshold=0.5, window="pairs", min_pairs=100),
        AlertRuleSpec(name="auroc-drop", metric="auroc_drop", threshold=0.1, min_pairs=50),
    ]


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
"""What the ``device`` setting takes (``model.devices.resolve_device`` says what each means)."""
Precision = Literal["fp32", "bf16", "tf32"]
"""What the ``precision`` setting takes (``model.devices``)."""


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
        description="Default: MLFLOW_TRACKING_URI if set, else a SQLite store at <home>/mlflow.db.",
    )

    ray_address: str | None = Field(default=None, description="Ray cluster to join; None starts a local one.")
    ray_namespace: str = Field(default="repurpose", description="Ray namespace of the named grain hosts.")
    ray_gcs_port: int = Field(default=6380, ge=1024, le=65535, description="GCS port of a head node we start.")
    ray_dashboard_port: int = Field(default=8265, ge=1024, le=65535)
    ray_num_cpus: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Logical CPUs of a head we start; default: the cores, at least 4 (an idle scorer holds one).",
    )

    gateway_host: str = Field(default="127.0.0.1", description="Where Serve's HTTP proxy (the gateway) listens.")
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    gateway_app: str = Field(default="gateway", description="Ray Serve application name of the HTTP gateway.")
    gateway_auth: bool = Field(
        default=True, description="API keys required; `repurpose up --no-auth` turns this off (local development only)."
    )
    gateway_replicas: int = Field(default=1, ge=1, le=256, description="Gateway replicas.")
    gateway_num_cpus: float = Field(default=0.0, ge=0, description="CPUs per gateway replica (it waits on I/O).")
    gateway_max_ongoing_requests: int = Field(default=1000, ge=1, description="Requests a gateway replica accepts.")
    gateway_rate_per_second: float = Field(
        default=50.0, gt=0, description="Requests per second each API key may make (token bucket refill, per replica)."
    )
    gateway_rate_burst: int = Field(default=100, ge=1, description="Requests a key may make at once (bucket size).")
    gateway_max_body_bytes: int = Field(
        default=2 * 2**20, ge=1024, description="Largest JSON request body (1,000 pairs with sequences fit)."
    )
    gateway_max_upload_bytes: int = Field(
        default=64 * 2**20,
        ge=1024,
        description="Largest file upload (dataset, compound library or held-out retrieval set).",
    )
    max_upload_rows: int = Field(
        default=1_000_000,
        ge=1,
        description="Most rows a dataset or library upload may hold (Parquet: from its metadata; CSV: counted "
        "while read), before decoding: compressed Parquet holds millions of rows in kilobytes.",
    )
    max_upload_columns: int = Field(
        default=1_000, ge=3, description="Most columns a dataset or library upload may hold."
    )
    gateway_key_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a replica trusts a checked API key (a revocation takes this long)."
    )
    gateway_auth_max_failures: int = Field(
        default=20,
        ge=1,
        description="Failed authentications (401s) a client address may have within the window before its "
        "requests get 429 with Retry-After, without a store lookup (per replica).",
    )
    gateway_auth_failure_window_seconds: float = Field(
        default=60.0, gt=0, description="The window over which failed authentications are counted per address."
    )
    gateway_lookup_cache_seconds: float = Field(
        default=1.0, ge=0, description="How long a replica reuses a model reference's resolution."
    )

    grain_pool: str = Field(default="grain-host", description="Name prefix of the grain hosts: <pool>-0, <pool>-1…")
    grain_hosts: int = Field(default=2, ge=1, le=1024, description="How many grain hosts make up the pool.")
    grain_idle_seconds: float = Field(default=900.0, gt=0, description="Idle time after which an activation goes.")
    grain_host_concurrency: int = Field(default=1000, ge=1, description="Concurrent calls a host accepts.")
    grain_restart_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long a caller waits for Ray to restart a dead host."
    )

    training_num_cpus: float = Field(default=1.0, gt=0, description="CPUs a training worker declares to Ray.")
    training_worker_restarts: int = Field(
        default=3, ge=0, description="How often a training run restarts a dead worker (resuming its checkpoint)."
    )
    task_start_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a dataset or library build, split or evaluation waits for a free CPU before the "
        "request is refused with 503 and Retry-After (instead of waiting behind training workers).",
    )
    task_retry_after_seconds: float = Field(
        default=30.0, gt=0, description="The Retry-After a request refused for want of a free CPU suggests."
    )

    promotion_min_auroc: float = Field(
        default=0.7, ge=0, le=1, description="Gate: the validation AUROC a version needs to reach production."
    )
    promotion_max_auroc_drop: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Gate: how far below the current production version's validation AUROC a new one may be.",
    )
    promotion_max_retrieval_drop: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Gate: how far below the production version's mean BEDROC and mean AUROC on the same "
        "held-out retrieval set (and decoys) a new one may be.",
    )
    bundled_models_dir: Path | None = Field(
        default=None,
        description="Model directories registered on `up`, each as version 1 of its folder's name (default: the "
        "checkout's models/).",
    )
    bundled_data_dir: Path | None = Field(
        default=None,
        description="Bundled data: the union dataset and the library whose DrugBank compounds are the default "
        "decoys of retrieval evaluations (default: the checkout's data/).",
    )
    default_model: str = Field(
        default="drugban-human",
        description="The model whose production version `screen`, `profile`, `explain` and the gateway's predict, "
        "explain, profile and screens use when none is named. Unless set, `up` makes it the bundled model with the "
        "best retrieval (mean BEDROC on the held-out set), which it puts in production; drugban-human when no "
        "bundled model has retrieval figures. A default left with no production version gives way on `up` to a "
        "bundled model that has one (it says so).",
    )
    explain_model: str = Field(
        default="drugban-human",
        description="The DrugBAN model `explain` and the gateway's explain use when none is named and the default "
        "model is no DrugBAN (explanations are DrugBAN's attention): its production version, else its staging one.",
    )

    device: str = Field(
        default="auto",
        validate_default=True,
        description="Where models compute (training workers, evaluations, scorer replicas): auto (the GPU Ray "
        "assigned to a worker or replica that declared GPUs, else the CPU), cpu, cuda or cuda:N (refused where "
        "PyTorch sees no such device).",
    )
    precision: Precision = Field(
        default="fp32",
        description="fp32 (float32); bf16 (forwards under bfloat16 autocast, on the CPU too); tf32 (CUDA's TF32 "
        "matrix products; float32 on the CPU).",
    )

    scorer_app: str = Field(default="scorer", description="Ray Serve application name of the scorer.")
    scorer_replicas: int = Field(default=1, ge=1, le=256, description="Scorer replicas (the autoscaling minimum).")
    scorer_max_replicas: int = Field(default=1, ge=1, le=256, description="Autoscaling maximum of scorer replicas.")
    scorer_num_cpus: float = Field(default=1.0, gt=0, description="CPUs per scorer replica.")
    scorer_num_gpus: float = Field(default=0.0, ge=0, description="GPUs per scorer replica (1 where GPUs exist).")
    scorer_max_batch_size: int = Field(default=64, ge=1, le=4096, description="Interactive predictions per batch.")
    scorer_batch_wait_ms: float = Field(default=5.0, ge=0, le=10_000, description="How long a batch waits to fill.")
    scorer_max_ongoing_requests: int = Field(default=512, ge=1, description="Requests a replica accepts at once.")
    scorer_max_models: int = Field(default=3, ge=1, le=64, description="Model versions a replica keeps loaded.")
    scorer_compound_cache: int = Field(default=50_000, ge=0, description="Featurised compounds a replica keeps.")
    scorer_compound_state_mib: int = Field(
        default=128,
        ge=0,
        description="Memory per loaded DrugBAN for its compounds' GCN atom states (about 15 KB a compound; "
        "0: none kept), so a compound predicted again skips the GCN.",
    )
    scorer_target_cache_mib: int = Field(
        default=384,
        ge=16,
        description="Memory for per-(target, model) tensors (1.13 MiB per target for DrugBAN); the rest are read "
        "from the artifact store (a profile's, once: then from the replica's profile slab, a local file).",
    )
    monitoring: bool = Field(
        default=True, description="Scorer replicas feed every scored pair to the Monitor grain of its model."
    )
    monitor_flush_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How often a scorer replica flushes its traffic sketches."
    )
    monitor_queue_pairs: int = Field(
        default=200_000, ge=1, description="Scored pairs a replica holds for its monitors; beyond, batches are dropped."
    )
    screening_worker_restarts: int = Field(
        default=3, ge=0, description="Screening worker replacements in a row that record no chunk before a job fails."
    )
    screening_chunk_size: int = Field(default=1024, ge=1, le=10_000, description="Compounds per screening chunk.")
    monitor_window_pairs: int = Field(
        default=10_000,
        ge=100,
        le=10_000_000,
        description="The monitors' `pairs` window: drift over the last this many pairs a model scored.",
    )
    alert_rules: list[AlertRuleSpec] = Field(
        default_factory=default_alert_rules,
        description="Alert rules from config (a JSON list of {name, metric, threshold, window, model, min_pairs, "
        "webhooks, retrain}); the API adds rules beside them but cannot change or remove these.",
    )
    alert_webhooks: list[str] = Field(
        default_factory=list, description="URLs every alert change is POSTed to (JSON), beside a rule's own."
    )
    alert_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signs every webhook body: X-Repurpose-Signature: sha256=<HMAC-SHA256 of the body, hex>.",
    )
    alert_webhook_tries: int = Field(
        default=4, ge=1, le=10, description="Tries per webhook delivery (backoff 0.5 s, doubling)."
    )
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="Timeout of one webhook try.")
    alert_evaluation_seconds: float = Field(
        default=5.0, ge=0, le=3600, description="A model's drift alerts are judged at most this often (after flushes)."
    )
    alert_history: int = Field(default=200, ge=1, le=10_000, description="State changes kept per model.")
    alert_webhooks_allow_private: bool = Field(
        default=False,
        description="Allow webhooks to loopback, private, link-local or unspecified addresses (and localhost): "
        "off, a rule cannot make the cluster call its own insides (a metadata service, a database).",
    )

    # Traces (repurpose.runtime.tracing): the standard OpenTelemetry variables, read here once and
    # carried with the settings to every process of the cluster.
    otel_exporter_otlp_endpoint: str = Field(
        default="",
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "otel_exporter_otlp_endpoint"),
        description="OTLP/HTTP collector base URL (spans go to <url>/v1/traces); when set, traces go there.",
    )
    otel_exporter_otlp_traces_endpoint: str = Field(
        default="",
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "otel_exporter_otlp_traces_endpoint"),
        description="The full OTLP/HTTP URL spans are POSTed to (wins over the base endpoint).",
    )
    otel_traces_exporter: str = Field(
        default="",
        validate_default=True,
        validation_alias=AliasChoices("OTEL_TRACES_EXPORTER", "otel_traces_exporter"),
        description="Where spans go: none, or a comma list of otlp, console and file (JSON lines under "
        "traces_dir); default: otlp when an OTLP endpoint is set, else none.",
    )
    otel_service_name: str = Field(
        default="repurpose",
        min_length=1,
        validation_alias=AliasChoices("OTEL_SERVICE_NAME", "otel_service_name"),
        description="The service.name of every span.",
    )
    traces_dir: str = Field(
        default="", validate_default=True, description="Where the file exporter writes spans; default <home>/traces."
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
        # MLflow 3 keeps its file store in maintenance mode and refuses it by default: a SQLite
        # database is its recommended local backend (run artifacts go to <home>/mlflow-artifacts).
        return uri or f"sqlite:///{_home(info) / 'mlflow.db'}"

    @field_validator("default_model", "explain_model", mode="after")
    @classmethod
    def _model_name(cls, name: str, info: ValidationInfo) -> str:
        # the registry's name rule (MODEL_NAME_PATTERN): a stage or version here would pin one
        # version, and "production by merit" means following the production one
        if not re.fullmatch(MODEL_NAME_PATTERN, name):
            raise ValueError(
                f"{info.field_name} {name!r:.80} is not a model name: 1 to 64 lower-case letters, digits, '.', '_' "
                "or '-', starting with a letter or digit (its production version is used)"
            )
        return name

    @field_validator("alert_rules", mode="after")
    @classmethod
    def _unique_rule_names(cls, rules: list[AlertRuleSpec]) -> list[AlertRuleSpec]:
        names = [rule.name for rule in rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"alert_rules names {', '.join(repeated)} more than once: name each rule once")
        return rules

    @field_validator("alert_webhooks", mode="after")
    @classmethod
    def _webhook_urls(cls, urls: list[str]) -> list[str]:
        return [check_webhook_url(url) for url in urls]

    @model_validator(mode="after")
    def _public_webhooks(self) -> Settings:
        urls = [*self.alert_webhooks, *(url for rule in self.alert_rules for url in rule.webhooks)]
        inside = [webhook_origin(url) for url in urls if webhook_host_is_private(url)]
        if inside and not self.alert_webhooks_allow_private:
            raise ValueError(
                f"alert webhook(s) {', '.join(inside)} point at a loopback, private or link-local address: "
                "set alert_webhooks_allow_private to allow them"
            )
        return self

    @field_validator("otel_exporter_otlp_endpoint", "otel_exporter_otlp_traces_endpoint", mode="after")
    @classmethod
    def _otlp_url(cls, url: str, info: ValidationInfo) -> str:
        if url and not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"{info.field_name} {url!r:.80} is not an http(s) URL")
        return url

    @field_validator("otel_traces_exporter", mode="after")
    @classmethod
    def _traces_exporter(cls, value: str, info: ValidationInfo) -> str:
        """Normalised: ``none`` or the chosen exporters in order, comma-separated."""
        names = list(dict.fromkeys(name.strip().lower() for name in value.split(",") if name.strip()))
        if not names:
            endpoints = ("otel_exporter_otlp_endpoint", "otel_exporter_otlp_traces_endpoint")
            return "otlp" if any(info.data.get(name) for name in endpoints) else "none"
        unknown = [name for name in names if name not in (*TRACE_EXPORTERS, "none")]
        if unknown:
            known = ", ".join(TRACE_EXPORTERS)
            raise ValueError(f"otel_traces_exporter: unknown exporter {unknown[0]!r:.40}; give none or any of {known}")
        if "none" in names and len(names) > 1:
            raise ValueError("otel_traces_exporter: none cannot be combined with an exporter")
        return ",".join(names)

    @field_validator("traces_dir", mode="after")
    @classmethod
    def _traces_dir(cls, path: str, info: ValidationInfo) -> str:
        return str(Path(path).expanduser().resolve()) if path else str(_home(info) / "traces")

    @field_validator("device", mode="after")
    @classmethod
    def _device(cls, value: str) -> str:
        device = value.strip().lower()
        if not DEVICE_PATTERN.match(device):
            raise ValueError(f"device {value!r:.40} is not a device: give auto, cpu, cuda or cuda:N")
        return device

    @field_validator("ray_gcs_port", mode="after")
    @classmethod
    def _not_redis(cls, port: int) -> int:
        if port == REDIS_PORT:
            raise ValueError(f"ray_gcs_port must not be {REDIS_PORT}: Redis listens there")
        return port

    @field_validator("ray_gcs_port", "ray_dashboard_port", mode="after")
    @classmethod
    def _outside_ray_worker_ports(cls, port: int, info: ValidationInfo) -> int:
        # `ray start` refuses a head whose own ports lie among its workers' (after 4 tries, 40 s, in
        # words that do not name the cause)
        low, high = RAY_WORKER_PORTS
        if low <= port <= high:
            raise ValueError(
                f"{info.field_name} {port} lies in Ray's worker port range ({low} to {high}): choose a port outside it"
            )
        return port

    @field_validator("ray_namespace", "grain_pool", "scorer_app", "gateway_app", mode="after")
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
