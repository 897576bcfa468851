"""The client protocol: every use case a caller of Repurpose has, one method each.

Two implementations answer it with the same ``contracts`` models and the same domain errors:
``repurpose.client.GatewayClient`` sends each call to a gateway over HTTP, and
``repurpose.services.in_process.InProcessClient`` runs it through the service layer against the
cluster on this machine. The CLI takes one client and never asks which one it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Literal, Protocol

from repurpose.contracts.datasets import DatasetDetail, DatasetRegistration, DatasetSummary, SplitSummary
from repurpose.contracts.keys import ApiKeySummary, IssuedKey
from repurpose.contracts.models import ModelEvaluation, ModelOverview, ModelSummary, ModelVersionDetail
from repurpose.contracts.monitoring import DEFAULT_WINDOW, MonitorReport
from repurpose.contracts.operations import Readiness
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.contracts.scoring import CompoundProfile, ExplanationOut, Prediction
from repurpose.contracts.screening import (
    LibraryDetail,
    LibraryRegistration,
    LibrarySummary,
    ScreenDetail,
    ScreenRequest,
    ScreenResults,
    ScreenSummary,
)
from repurpose.contracts.targets import TargetDetail, TargetRegistration, TargetSummary
from repurpose.contracts.training_runs import RunDetail, RunRequest, RunSummary

ResultsFormat = Literal["csv", "parquet"]


class RepurposeClient(Protocol):
    """What the CLI (and any Python caller) can ask of a cluster, wherever it runs."""

    def close(self) -> None: ...

    # --- operations
    def readiness(self) -> Readiness: ...

    # --- datasets
    def register_dataset(self, data: bytes, filename: str, name: str | None = None) -> DatasetRegistration: ...
    def datasets(self) -> list[DatasetSummary]: ...
    def dataset(self, reference: str) -> DatasetDetail: ...
    def split_dataset(self, reference: str, kind: str, seed: int, fractions: list[float] | None) -> SplitSummary: ...

    # --- training runs
    def start_run(self, request: RunRequest) -> RunDetail: ...
    def runs(self) -> list[RunSummary]: ...
    def run(self, reference: str) -> RunDetail: ...
    def cancel_run(self, reference: str) -> RunDetail: ...

    # --- models
    def models(self) -> list[ModelSummary]: ...
    def model(self, name: str) -> ModelOverview: ...
    def model_version(self, name: str, version: str) -> ModelVersionDetail: ...
    def promote(
        self, name: str, version: str, stage: str, reason: str | None = None, force: bool = False
    ) -> ModelVersionDetail: ...
    def rollback(self, name: str, reason: str | None = None) -> ModelVersionDetail: ...
    def evaluate(
        self,
        name: str,
        version: str,
        dataset: str,
        split: str | None = None,
        part: str | None = None,
        allow_overlap: bool = False,
    ) -> ModelEvaluation: ...
    def evaluate_retrieval(
        self, name: str, version: str, data: bytes, filename: str, decoys: str | None = None
    ) -> RetrievalResult: ...
    def card(self, name: str, version: str) -> str: ...

    # --- monitors
    def monitor(self, model: str, window: str = DEFAULT_WINDOW) -> MonitorReport: ...
    def monitor_page(self, model: str, window: str = DEFAULT_WINDOW) -> str: ...
    def reset_monitor(self, model: str, reference: str | None = None) -> MonitorReport: ...

    # --- targets
    def register_target(
        self, target_id: str, sequence: str, name: str | None = None, organism: str | None = None
    ) -> TargetRegistration: ...
    def targets(self) -> list[TargetSummary]: ...
    def target(self, target_id: str) -> TargetDetail: ...

    # --- scoring
    def predict(self, pairs: list[Mapping[str, str]], model: str | None = None) -> Prediction: ...
    def explain(
        self, smiles: str | None, target: str, model: str | None, top: int, compound: str | None = None
    ) -> ExplanationOut: ...
    def profile(
        self, smiles: str | None, model: str | None, top: int, compound: str | None = None
    ) -> CompoundProfile: ...

    # --- libraries and screens
    def register_library(self, data: bytes, filename: str, name: str | None = None) -> LibraryRegistration: ...
    def libraries(self) -> list[LibrarySummary]: ...
    def library(self, reference: str) -> LibraryDetail: ...
    def submit_screen(self, request: ScreenRequest, idempotency_key: str | None = None) -> ScreenDetail: ...
    def screens(self) -> list[ScreenSummary]: ...
    def screen(self, reference: str) -> ScreenDetail: ...
    def screen_results(
        self,
        reference: str,
        target: str | None = None,
        top: int | None = None,
        *,
        every: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> ScreenResults: ...
    def download_screen_results(
        self,
        reference: str,
        sink: IO[bytes],
        file_format: ResultsFormat,
        target: str | None = None,
        top: int | None = None,
        *,
        every: bool = True,
    ) -> bool: ...
    def cancel_screen(self, reference: str) -> ScreenDetail: ...

    # --- keys
    def create_key(self, role: str, name: str | None = None) -> IssuedKey: ...
    def keys(self) -> list[ApiKeySummary]: ...
    def revoke_key(self, key_id: str) -> ApiKeySummary: ...
