"""The model registry: the ModelRegistry grain (kind ``"model"``, key = the model name), how to
register a model directory with it, and how to list the names.

One grain per model name is the single writer of that name's version numbers and stages, which
is what makes "versions 1, 2, 3… without gaps" and "one production version per name" hold
without any locking: calls to a grain take turns.

A version is a *published* model directory (``model.published``: content-addressed, so
publishing again changes nothing and ``add_version`` recognises a directory it has seen: it
answers with the version it has). The grain itself never touches weights: its ``evaluate``
awaits a Ray task (``evaluation.model_evaluation``) that loads the model and the dataset's rows.

Stages and their gates (``promote``; ``PromotionRefused`` names the rule that refused):

    candidate → staging → production        the only way up
    candidate / staging → archived          retire a version
    archived → candidate                    bring it back (it has to climb again)
    production → archived                   only when another version is promoted to
                                            production, or by ``rollback``

Reaching production also takes the metric gates of ``promotion_gates``: a validation AUROC of
at least ``settings.promotion_min_auroc``, and no regression against the version in production
on any evaluation set both were measured on (the same validation pairs, dataset part or
held-out retrieval set); with no such set the gate refuses and says how to make one.
``force=True`` skips the metric gates (never the stage rules) and the stage change's reason says so.

The state holds every version's record (summary, lineage, manifest, stage history, the latest
evaluation per dataset, split and part, and the latest retrieval result per held-out set and
decoys: ``evaluate`` and ``record_retrieval``) and the production history: the versions that
entered production, in order. ``rollback`` archives the current production version, pops it off
that history and puts the one before it back in production.

On ``repurpose up`` the bundled model directories are registered here by ``cluster.bundled_models``
(the one that retrieves best in production), so a fresh cluster can score at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, Field, ValidationError
from ray.exceptions import RayTaskError
from sqlalchemy import Engine

from repurpose.actors.dataset_version import DatasetVersion
from repurpose.actors.promotion_gates import gate_failures
from repurpose.actors.target_protein import registered_targets
from repurpose.contracts.datasets import DatasetSummary
from repurpose.contracts.manifest import Manifest
from repurpose.contracts.models import (
    EVALUATION_PARTS,
    MODEL_STAGES,
    EvaluationPart,
    ModelEvaluation,
    ModelLineage,
    ModelStage,
    ModelSummary,
    ModelVersionDetail,
    ModelVersionSummary,
    StageChange,
    StoredManifest,
    check_model_name,
    parse_version_ref,
)
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.contracts.splits import DEFAULT_SPLIT_ID, parse_split_id
from repurpose.data.dataset_paths import check_dataset_id
from repurpose.errors import (
    ArtifactNotFound,
    InvalidInput,
    ModelNotFound,
    PromotionRefused,
)
from repurpose.evaluation.model_evaluation import TrainingRows, evaluate_task
from repurpose.grains import Grain, GrainClient, grain
from repurpose.model.card import registry_card
from repurpose.model.paths import CARD, MANIFEST, MODEL_DIRS_PREFIX, PUBLISHED_PATH
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.tasks import await_task, task_domain_error
from repurpose.scoring.target_store import schedule_target_tensors
from repurpose.settings import Settings
from repurpose.store import list_states

M = TypeVar("M", bound=BaseModel)
logger = logging.getLogger(__name__)

KIND = "model"
TENSOR_MODEL_TYPES = ("drugban", "ensemble")  # model types whose versions get per-target tensors
MAX_REASON_LENGTH = 500
MAX_EVALUATIONS = 50  # per version: the latest per (dataset, split, part), oldest dropped first
MAX_RETRIEVALS = 20  # per version: the latest per (held-out set, decoys), oldest dropped first

_STAGE_RULES = "the stages run candidate → staging → production; candidate and staging versions can be archived"
_NEXT_STAGES: dict[ModelStage, tuple[ModelStage, ...]] = {
    "candidate": ("staging", "archived"),
    "staging": ("production", "archived"),
    "archived": ("candidate",),
    "production": (),
}


# --- the grain -----------------------------------------------------------------------------------


class VersionRecord(BaseModel):
    version: int
    stage: ModelStage
    created_at: dt.datetime
    artifact_path: str
    manifest: StoredManifest
    lineage: ModelLineage
    stage_history: list[StageChange] = Field(default_factory=list)
    evaluations: list[ModelEvaluation] = Field(default_factory=list)
    retrieval: list[RetrievalResult] = Field(default_factory=list)  # absent in states stored before it


class ModelState(BaseModel):
    versions: list[VersionRecord] = Field(default_factory=list)  # version n at index n - 1
    production_history: list[int] = Field(default_factory=list)  # entered production, in order; last = current


@grain(KIND)
class ModelRegistry(Grain[ModelState]):
    """A model name's versions: numbering, stages with gates, rollback, lineage, evaluations."""

    async def add_version(self, artifact_path: str, manifest: Manifest, lineage: ModelLineage) -> ModelVersionDetail:
        """Register a published model directory as the next version, a candidate.

        A directory registered already (the same ``artifact_path``) gets its version back,
        unchanged. Callers pass an idempotency key (``register_model_dir`` does)."""
        check_model_name(self.key)
        match = PUBLISHED_PATH.match(artifact_path) if isinstance(artifact_path, str) else None
        if match is None:
            raise InvalidInput(
                f"{artifact_path!r:.100} is not a published model directory: publish it with publish_model_dir "
                f"(paths look like {MODEL_DIRS_PREFIX}/<sha256>)"
            )
        manifest = _validated(Manifest, manifest, "manifest")
        lineage = _validated(ModelLineage, lineage, "lineage")
        for record in self.state.versions:
            if record.artifact_path == artifact_path:
                return self._detail(record)
        artifacts = self.context.artifacts
        if not await asyncio.to_thread(artifacts.exists, f"{artifact_path}/{MANIFEST}"):
            raise InvalidInput(
                f"no published model directory at {artifacts.url_for(artifact_path)}: publish it first "
                "(publish_model_dir)"
            )
        now = _now()
        record = VersionRecord(
            version=len(self.state.versions) + 1,
            stage="candidate",
            created_at=now,
            artifact_path=artifact_path,
            manifest=manifest,
            lineage=lineage,
            stage_history=[StageChange(stage="candidate", at=now, reason=f"registered from {lineage.source}")],
        )
        self.state.versions.append(record)
        if manifest.model_type in TENSOR_MODEL_TYPES:  # its target tensors, in the background
            await asyncio.to_thread(_schedule_target_tensors, self.context.settings, self.context.engine, artifact_path)
        return self._detail(record)

    def promote(
        self, version: int, stage: ModelStage, reason: str | None = None, force: bool = False
    ) -> ModelVersionDetail:
        """Move ``version`` to ``stage`` through the gates (see the module's docs).

        Promoting to the stage it has already changes nothing; a refused move raises
        PromotionRefused naming the rule (and, for the metric gates, the numbers)."""
        record = self._version(version)
        stage = _check_stage(stage)
        reason = _check_reason(reason)
        if not isinstance(force, bool):
            raise InvalidInput(f"force is true or false, not {force!r:.40}")
        if record.stage == stage:
            return self._detail(record)
        who = f"version {record.version} of {self.key}"
        if record.stage == "production":
            raise PromotionRefused(
                f"{who} is in production: it leaves production only when another version is promoted to "
                f"production, or by a rollback (`repurpose models rollback {self.key}`)",
                name=self.key,
                version=record.version,
            )
        if stage not in _NEXT_STAGES[record.stage]:
            raise PromotionRefused(_stage_refusal(who, record.stage, stage), name=self.key, version=record.version)
        if stage != "production":
            _change_stage(record, stage, reason)
            return self._detail(record)

        current = self._production()
        failures = gate_failures(self.key, record, current, self.context.settings)
        if failures and not force:
            raise PromotionRefused(
                f"{who} cannot go to production: {'; '.join(failures)}; "
                "pass force=True (`--force`) to promote it anyway",
                name=self.key,
                version=record.version,
            )
        if force:
            forced = f"forced past the metric gates: {'; '.join(failures)}" if failures else "forced (the gates passed)"
            reason = f"{reason} ({forced})" if reason else forced
        if current is not None:
            _change_stage(current, "archived", f"replaced in production by version {record.version}")
        _change_stage(record, "production", reason)
        self.state.production_history.append(record.version)
        return self._detail(record)

    def rollback(self, reason: str | None = None) -> ModelVersionDetail:
        """Archive the production version and put the previous production version back.

        PromotionRefused if nothing is in production or it is the first version ever there."""
        self._registered()
        reason = _check_reason(reason)
        current = self._production()
        if current is None:
            raise PromotionRefused(f"{self.key} has no version in production to roll back", name=self.key)
        history = self.state.production_history
        if len(history) < 2:
            raise PromotionRefused(
                f"version {current.version} is the first production version of {self.key}: "
                "there is no earlier one to roll back to",
                name=self.key,
                version=current.version,
            )
        previous = self.state.versions[history[-2] - 1]
        suffix = f": {reason}" if reason else ""
        _change_stage(current, "archived", f"rolled back to version {previous.version}{suffix}")
        _change_stage(previous, "production", f"rollback from version {current.version}{suffix}")
        history.pop()
        return self._detail(previous)

    def show(self, version: int | None = None) -> ModelVersionDetail:
        """A version's detail; ``None``: the production version, else the latest."""
        if version is None:
            return self._detail(self._production() or self._registered().versions[-1])
        return self._detail(self._version(version))

    def resolve(self, ref: str | int) -> int:
        """The version number ``ref`` names: a number, ``latest``, or a stage (its latest version there)."""
        state = self._registered()
        parsed = parse_version_ref(ref)
        if isinstance(parsed, int):
            return self._version(parsed).version
        if parsed == "latest":
            return state.versions[-1].version
        in_stage = [r.version for r in state.versions if r.stage == parsed]
        if not in_stage:
            raise ModelNotFound(f"model {self.key} has no version in {parsed}", name=self.key)
        return in_stage[-1]

    def resolved(self, ref: str | int) -> ModelVersionDetail:
        """The detail of the version ``ref`` names (``resolve``, then ``show``, in one call)."""
        return self._detail(self._version(self.resolve(ref)))

    def summary(self) -> ModelSummary:
        return _summary_of(self.key, self._registered())

    def versions(self) -> list[ModelVersionSummary]:
        """Every version, oldest first."""
        return [_version_summary(self.key, r) for r in self._registered().versions]

    async def evaluate(
        self,
        version: int,
        dataset_id: str,
        split_id: str | None = None,
        part: str | None = None,
        allow_overlap: bool = False,
    ) -> ModelEvaluation:
        """Metrics of ``version`` at its threshold on a registered dataset version (every row, or
        one part of a split, which is made and stored on the dataset if it is new); the result is
        kept in the version's record, replacing an earlier one on the same rows.

        With neither split nor part, on the dataset the version was trained on (its lineage), it
        is the test part of the version's own split; elsewhere every row (``part`` defaults to
        test with a split, else all). Rows that were training rows of the version (by lineage)
        refuse the evaluation unless ``allow_overlap``; then their count is recorded with it."""
        record = self._version(version)
        check_dataset_id(dataset_id)
        if not isinstance(allow_overlap, bool):
            raise InvalidInput(f"allow_overlap is true or false, not {allow_overlap!r:.40}")
        lineage = record.lineage
        if split_id is None and part is None and lineage.dataset_id == dataset_id and lineage.split_id:
            split_id = lineage.split_id  # the honest default: rows it never saw in training
        checked_part = _check_part(part if part is not None else ("test" if split_id is not None else "all"))
        spec = parse_split_id(split_id) if split_id is not None else None
        if checked_part != "all" and split_id is None:
            raise InvalidInput(
                f"part {checked_part!r} is a part of a split: give the split too (e.g. {DEFAULT_SPLIT_ID})"
            )
        if checked_part == "all":
            split_id = None  # every row, whatever the split
        grains = self.context.grains
        dataset = cast(DatasetSummary, await grains.acall(DatasetVersion, dataset_id, "summary"))
        if spec is not None and split_id is not None and split_id not in dataset.splits:
            await grains.acall(DatasetVersion, dataset_id, "split", spec.kind, spec.seed, list(spec.fractions))
        training = TrainingRows(
            who=f"{self.key} v{version}",
            dataset_id=lineage.dataset_id,
            split_id=lineage.split_id,
            allow_overlap=allow_overlap,
        )
        ref = evaluate_task.remote(
            self.context.settings, record.artifact_path, dataset_id, split_id, checked_part, training
        )
        try:
            metrics, overlap = await await_task(ref, f"evaluating {self.key} v{version}", self.context.settings)
        except RayTaskError as error:
            raise task_domain_error(error) from None
        evaluation = ModelEvaluation(
            dataset_id=dataset_id,
            split_id=split_id,
            part=checked_part,
            metrics=metrics,
            evaluated_at=_now(),
            training_overlap=overlap,
        )
        kept = [
            e for e in record.evaluations if (e.dataset_id, e.split_id, e.part) != (dataset_id, split_id, checked_part)
        ]
        record.evaluations = [*kept, evaluation][-MAX_EVALUATIONS:]
        return evaluation

    def record_retrieval(self, version: int, result: RetrievalResult) -> ModelVersionDetail:
        """Keep a retrieval evaluation of ``version`` (``version_retrieval`` computes one on the
        cluster; bundled models bring theirs), replacing an earlier one on the same held-out set
        and decoys: the same key the promotion gates compare by (``evaluation_set``: by content
        where recorded), so two different sets of one file name are both kept."""
        record = self._version(version)
        result = _validated(RetrievalResult, result, "retrieval result")
        _check_finite(result)
        kept = [r for r in record.retrieval if r.evaluation_set != result.evaluation_set]
        record.retrieval = [*kept, result][-MAX_RETRIEVALS:]
        return self._detail(record)

    async def card(self, version: int) -> str:
        """The version's model card: the one its directory holds, then what the registry knows of it
        (stage, evaluations, retrieval)."""
        record = self._version(version)
        path = f"{record.artifact_path}/{CARD}"
        try:
            stored = (await asyncio.to_thread(self.context.artifacts.get_bytes, path)).decode("utf-8", "replace")
        except ArtifactNotFound:
            stored = f"# Model card: {self.key}\n\n(the model directory holds no {CARD})\n"
        return registry_card(stored, self._detail(record))

    # --- helpers ---

    def _registered(self) -> ModelState:
        check_model_name(self.key)
        if not self.state.versions:
            raise ModelNotFound(f"no model named {self.key!r} is registered", name=self.key)
        return self.state

    def _version(self, version: int) -> VersionRecord:
        state = self._registered()
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidInput(f"a model version is a number, not {version!r:.40}")
        if not 1 <= version <= len(state.versions):
            raise ModelNotFound(
                f"model {self.key} has no version {version} (it has versions 1 to {len(state.versions)})",
                name=self.key,
                version=version,
            )
        return state.versions[version - 1]

    def _production(self) -> VersionRecord | None:
        history = self.state.production_history
        return self.state.versions[history[-1] - 1] if history else None

    def _detail(self, record: VersionRecord) -> ModelVersionDetail:
        return ModelVersionDetail(
            **_version_summary(self.key, record).model_dump(),
            lineage=record.lineage,
            stage_history=list(record.stage_history),
            evaluations=list(record.evaluations),
            retrieval=list(record.retrieval),
            manifest=record.manifest,
        )


def _version_summary(name: str, record: VersionRecord) -> ModelVersionSummary:
    return ModelVersionSummary(
        name=name,
        version=record.version,
        stage=record.stage,
        model_type=record.manifest.model_type,
        created_at=record.created_at,
        threshold=record.manifest.threshold,
        val_metrics=record.manifest.val_metrics,
        artifact_path=record.artifact_path,
    )


def _summary_of(name: str, state: ModelState) -> ModelSummary:
    history = state.production_history
    return ModelSummary(
        name=name,
        versions=len(state.versions),
        production=history[-1] if history else None,
        latest=state.versions[-1].version,
    )


def _change_stage(record: VersionRecord, stage: ModelStage, reason: str | None) -> None:
    record.stage = stage
    record.stage_history.append(StageChange(stage=stage, at=_now(), reason=reason))


def _stage_refusal(who: str, current: ModelStage, target: ModelStage) -> str:
    if current == "candidate" and target == "production":
        return f"{who} is a candidate: promote it to staging first ({_STAGE_RULES})"
    if current == "archived":
        return f"{who} is archived: return it to candidate first, then promote it again ({_STAGE_RULES})"
    allowed = " or ".join(_NEXT_STAGES[current])
    return f"{who} is in {current}: it can go to {allowed}, not back to {target} ({_STAGE_RULES})"


def _check_stage(stage: str) -> ModelStage:
    if stage not in MODEL_STAGES:
        raise InvalidInput(f"{stage!r:.40} is not a model stage: use one of {', '.join(MODEL_STAGES)}")
    return cast(ModelStage, stage)


def _check_part(part: str) -> EvaluationPart:
    if part not in EVALUATION_PARTS:
        raise InvalidInput(f"{part!r:.40} is not a part to evaluate on: use one of {', '.join(EVALUATION_PARTS)}")
    return cast(EvaluationPart, part)


def _check_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise InvalidInput(f"a reason is text, not {type(reason).__name__}")
    text = reason.strip()
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(f"a reason is at most {MAX_REASON_LENGTH} characters, not {len(text)}")
    return text or None


def _validated(model: type[M], value: Any, what: str) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        raise InvalidInput(f"invalid {what}: {where}: {first['msg']}") from None


def _check_finite(result: RetrievalResult) -> None:
    """Refuse figures that are not numbers: JSON (and PostgreSQL's JSONB) cannot hold them."""
    summaries = [result.summary, *([result.novel] if result.novel is not None else [])]
    for summary in summaries:
        values = [summary.mean_auroc, summary.mean_ef1, summary.mean_ef5, summary.mean_bedroc]
        values += [v for t in summary.targets for v in (t.auroc, t.ef1, t.ef5, t.bedroc)]
        if not all(math.isfinite(v) for v in values):
            raise InvalidInput(f"the retrieval result on {result.heldout!r:.80} holds a figure that is not a number")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _schedule_target_tensors(settings: Settings, engine: Engine, artifact_path: str) -> None:
    """Have the background worker compute the new version's tensors for every registered target
    (``scoring.target_store``); a failure only costs the scorer the computation later."""
    try:
        sequences = [sequence for _, sequence, _ in registered_targets(engine)]
        schedule_target_tensors(settings, [artifact_path], sequences)
    except Exception:  # the registration stands: the scorer computes what the worker did not
        logger.exception("could not schedule the target tensors of %s", artifact_path)


def serving_model_paths(engine: Engine) -> list[str]:
    """The artifact paths of every model version in production or staging whose scores use
    target tensors (DrugBAN, or an ensemble that may hold one): what a new target's are computed for."""
    paths = []
    for stored in list_states(engine, KIND):
        for record in ModelState.model_validate(stored.state).versions:
            if record.stage in ("production", "staging") and record.manifest.model_type in TENSOR_MODEL_TYPES:
                paths.append(record.artifact_path)
    return paths


# --- registering a model directory ---------------------------------------------------------------


def register_model_dir(client: GrainClient, name: str, local_dir: Path, lineage: ModelLineage) -> ModelVersionDetail:
    """Publish a local model directory and register it as the next version of ``name`` (a
    candidate); a directory registered already gets its version back. Blocks."""
    check_model_name(name)
    artifact_path, manifest = _publish(client, local_dir)
    detail: ModelVersionDetail = client.call(
        ModelRegistry, name, "add_version", artifact_path, manifest, lineage, idempotency_key=f"add:{artifact_path}"
    )
    return detail


def _publish(client: GrainClient, local_dir: Path) -> tuple[str, Manifest]:
    from repurpose.model.published import publish_model_dir, read_manifest  # the ML stack: only where one publishes

    artifact_path = publish_model_dir(ArtifactStore.from_settings(client.settings), local_dir)
    return artifact_path, read_manifest(Path(local_dir))


# --- reading the store ---------------------------------------------------------------------------


def list_models(engine: Engine) -> list[ModelSummary]:
    """Every registered model name, by name."""
    summaries = []
    for stored in list_states(engine, KIND):
        state = ModelState.model_validate(stored.state)
        if state.versions:
            summaries.append(_summary_of(stored.key, state))
    return summaries
