"""The in-process client: the client protocol answered by the service layer, on this machine.

The CLI uses it for a cluster ``repurpose up`` started here (``--home``); every method runs one
service call on the client's own event loop and returns what a gateway would have answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from types import CoroutineType
from typing import IO, Any, TypeVar

from repurpose.contracts.alerts import AlertRule, AlertRuleSpec, AlertsOverview
from repurpose.contracts.client import ResultsFormat
from repurpose.contracts.datasets import DatasetDetail, DatasetRegistration, DatasetSummary, SplitSummary
from repurpose.contracts.feedback import FeedbackReceipt, ModelQuality
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
from repurpose.grains import GrainClient
from repurpose.runtime import tracing
from repurpose.services import (
    alerts,
    datasets,
    feedback,
    keys,
    libraries,
    models,
    monitors,
    operations,
    runs,
    scoring,
    screens,
    targets,
)
from repurpose.services.context import Context

T = TypeVar("T")


class InProcessClient:
    def __init__(self, context: Context) -> None:
        self.context = context
        self._loop = asyncio.Runner()
        self._tracer = tracing.tracer(context.settings)

    @classmethod
    def on(cls, grains: GrainClient) -> InProcessClient:
        return cls(Context.on(grains))

    def close(self) -> None:
        self._loop.close()
        self.context.close()

    def __enter__(self) -> InProcessClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        if not tracing.enabled(self._tracer):
            return self._loop.run(call)
        return self._loop.run(self._traced(call))

    async def _traced(self, call: Coroutine[Any, Any, T]) -> T:
        """A service call as a span: here, where its trace starts (``service scoring.predict``)."""
        name = "call"
        if isinstance(call, CoroutineType) and call.cr_frame is not None:  # named by its module and function
            name = f"{call.cr_frame.f_globals.get('__name__', '').rsplit('.', 1)[-1]}.{call.__name__}"
        with self._tracer.start_as_current_span(f"service {name}"):
            return await call

    # --- operations -------------------------------------------------------------------------------

    def readiness(self) -> Readiness:
        return self._run(operations.readiness(self.context))

    # --- datasets ---------------------------------------------------------------------------------

    def register_dataset(self, data: bytes, filename: str, name: str | None = None) -> DatasetRegistration:
        return self._run(datasets.register_dataset(self.context, data=data, filename=filename, name=name))

    def datasets(self) -> list[DatasetSummary]:
        return self._run(datasets.list_datasets(self.context))

    def dataset(self, reference: str) -> DatasetDetail:
        return self._run(datasets.show_dataset(self.context, reference=reference))

    def split_dataset(self, reference: str, kind: str, seed: int, fractions: list[float] | None) -> SplitSummary:
        return self._run(
            datasets.split_dataset(self.context, reference=reference, kind=kind, seed=seed, fractions=fractions)
        )

    # --- training runs ----------------------------------------------------------------------------

    def start_run(self, request: RunRequest) -> RunDetail:
        return self._run(runs.start_run(self.context, request=request))

    def runs(self) -> list[RunSummary]:
        return self._run(runs.list_runs(self.context))

    def run(self, reference: str) -> RunDetail:
        return self._run(runs.show_run(self.context, reference=reference))

    def cancel_run(self, reference: str) -> RunDetail:
        return self._run(runs.cancel_run(self.context, reference=reference))

    # --- models -----------------------------------------------------------------------------------

    def models(self) -> list[ModelSummary]:
        return self._run(models.list_models(self.context))

    def model(self, name: str) -> ModelOverview:
        return self._run(models.show_model(self.context, name=name))

    def model_version(self, name: str, version: str) -> ModelVersionDetail:
        return self._run(models.show_version(self.context, name=name, version=version))

    def promote(
        self, name: str, version: str, stage: str, reason: str | None = None, force: bool = False
    ) -> ModelVersionDetail:
        return self._run(
            models.promote(self.context, name=name, version=version, stage=stage, reason=reason, force=force)
        )

    def rollback(self, name: str, reason: str | None = None) -> ModelVersionDetail:
        return self._run(models.rollback(self.context, name=name, reason=reason))

    def evaluate(
        self,
        name: str,
        version: str,
        dataset: str,
        split: str | None = None,
        part: str | None = None,
        allow_overlap: bool = False,
    ) -> ModelEvaluation:
        return self._run(
            models.evaluate(
                self.context,
                name=name,
                version=version,
                dataset=dataset,
                split=split,
                part=part,
                allow_overlap=allow_overlap,
            )
        )

    def evaluate_retrieval(
        self, name: str, version: str, data: bytes, filename: str, decoys: str | None = None
    ) -> RetrievalResult:
        return self._run(
            models.evaluate_retrieval(
                self.context, name=name, version=version, data=data, filename=filename, decoys=decoys
            )
        )

    def card(self, name: str, version: str) -> str:
        return self._run(models.model_card(self.context, name=name, version=version))

    # --- monitors ---------------------------------------------------------------------------------

    def monitor(self, model: str, window: str = DEFAULT_WINDOW) -> MonitorReport:
        return self._run(monitors.show_monitor(self.context, model=model, window=window))

    def monitor_page(self, model: str, window: str = DEFAULT_WINDOW) -> str:
        return self._run(monitors.monitor_page(self.context, model=model, window=window))

    def reset_monitor(self, model: str, reference: str | None = None) -> MonitorReport:
        return self._run(monitors.reset_monitor(self.context, model=model, reference=reference))

    def model_quality(self, model: str) -> ModelQuality:
        return self._run(feedback.model_quality(self.context, model=model))

    # --- feedback and alerts ----------------------------------------------------------------------

    def send_feedback(
        self,
        data: bytes,
        filename: str,
        model: str | None = None,
        version: str | None = None,
        batch_id: str | None = None,
    ) -> FeedbackReceipt:
        return self._run(
            feedback.record_feedback_file(
                self.context, data=data, filename=filename, model=model, version=version, batch_id=batch_id
            )
        )

    def alerts(self, history: int = 100) -> AlertsOverview:
        return self._run(alerts.list_alerts(self.context, history=history))

    def alert_rules(self) -> list[AlertRule]:
        return self._run(alerts.list_rules(self.context))

    def add_alert_rule(self, rule: AlertRuleSpec) -> AlertRule:
        return self._run(alerts.add_rule(self.context, rule=rule))

    def remove_alert_rule(self, name: str) -> AlertRule:
        return self._run(alerts.remove_rule(self.context, name=name))

    # --- targets ----------------------------------------------------------------------------------

    def register_target(
        self, target_id: str, sequence: str, name: str | None = None, organism: str | None = None
    ) -> TargetRegistration:
        return self._run(
            targets.register_target(self.context, target_id=target_id, sequence=sequence, name=name, organism=organism)
        )

    def targets(self) -> list[TargetSummary]:
        return self._run(targets.list_targets(self.context))

    def target(self, target_id: str) -> TargetDetail:
        return self._run(targets.show_target(self.context, target_id=target_id))

    # --- scoring ----------------------------------------------------------------------------------

    def predict(self, pairs: list[Mapping[str, str]], model: str | None = None) -> Prediction:
        return self._run(scoring.predict(self.context, pairs=pairs, model=model))

    def explain(
        self, smiles: str | None, target: str, model: str | None, top: int, compound: str | None = None
    ) -> ExplanationOut:
        return self._run(
            scoring.explain(self.context, smiles=smiles, compound=compound, target=target, model=model, top=top)
        )

    def profile(self, smiles: str | None, model: str | None, top: int, compound: str | None = None) -> CompoundProfile:
        return self._run(scoring.profile(self.context, smiles=smiles, compound=compound, model=model, top=top))

    # --- libraries and screens --------------------------------------------------------------------

    def register_library(self, data: bytes, filename: str, name: str | None = None) -> LibraryRegistration:
        return self._run(libraries.register_library(self.context, data=data, filename=filename, name=name))

    def libraries(self) -> list[LibrarySummary]:
        return self._run(libraries.list_libraries(self.context))

    def library(self, reference: str) -> LibraryDetail:
        return self._run(libraries.show_library(self.context, reference=reference))

    def submit_screen(self, request: ScreenRequest, idempotency_key: str | None = None) -> ScreenDetail:
        return self._run(screens.submit_screen(self.context, request=request, idempotency_key=idempotency_key))

    def screens(self) -> list[ScreenSummary]:
        return self._run(screens.list_screens(self.context))

    def screen(self, reference: str) -> ScreenDetail:
        return self._run(screens.show_screen(self.context, reference=reference))

    def screen_results(
        self,
        reference: str,
        target: str | None = None,
        top: int | None = None,
        *,
        every: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> ScreenResults:
        return self._run(
            screens.screen_results(
                self.context, reference=reference, target=target, top=top, every=every, offset=offset, limit=limit
            )
        )

    def download_screen_results(
        self,
        reference: str,
        sink: IO[bytes],
        file_format: ResultsFormat,
        target: str | None = None,
        top: int | None = None,
        *,
        every: bool = True,
    ) -> bool:
        return self._run(
            screens.write_screen_results(
                self.context,
                reference=reference,
                sink=sink,
                file_format=file_format,
                target=target,
                top=top,
                every=every,
            )
        )

    def cancel_screen(self, reference: str) -> ScreenDetail:
        return self._run(screens.cancel_screen(self.context, reference=reference))

    # --- keys -------------------------------------------------------------------------------------

    def create_key(self, role: str, name: str | None = None) -> IssuedKey:
        return self._run(keys.create_key(self.context, role=role, name=name))

    def keys(self) -> list[ApiKeySummary]:
        return self._run(keys.list_keys(self.context))

    def revoke_key(self, key_id: str) -> ApiKeySummary:
        return self._run(keys.revoke_key(self.context, key_id=key_id))
