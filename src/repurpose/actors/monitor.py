"""The Monitor grain (kind ``"monitor"``, key = the model name): drift of a model's live traffic.

The scorer sketches the pairs it scores (``monitoring.sketch``) and flushes the sketches here
(``record``), binned on the edges this grain gives it (``edges``). The grain merges them into its
windows (``monitoring.windows``: the last N pairs, the last hour, the last day, each screening
job) and, asked for a window (``report``), compares it with its reference (``monitoring.drift``).

The reference is taken once, on first use (and again after ``reset``): the descriptor profile of
the dataset version the model's version was trained on (the production version's lineage, else
the latest version's), with a seeded sample of that dataset's rows, computed by a Ray task. A
version trained from files (a bundled Human model) names no dataset, in its lineage or in its
manifest: the monitor then says so, keeps counting, and compares nothing until ``reset`` names a
dataset version to compare with. Which version gave the reference is kept; the reference stays
until ``reset`` (after a promotion, reset to compare with the new version's training data).

Score drift compares a window's scores with a baseline: the scores of the monitor's first
``BASELINE_PAIRS`` pairs after its reference was taken (nothing scored the reference rows).

A flush may be sent twice (its answer lost, the host restarted): ``record`` takes a flush id and
adds a flush once among the last ``MAX_FLUSH_IDS``. ``dropped`` counts pairs the scorer scored but
never sketched (its queue was full); callers send it with an idempotency key.

Alerts: a flush recorded schedules an alert check of the model, off the turn and at most once
every ``alert_evaluation_seconds`` (later flushes join the check already scheduled): a task asks
the AlertRules grain which windows the drift rules judge, asks this grain for those windows'
figures (``observations``, a turn of its own) and hands them to the model's Alerts grain. The
record turn never waits for it, and no grain it calls calls back in the same turn.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import re
import time
from typing import cast

import ray
from pydantic import BaseModel, Field
from ray.exceptions import RayTaskError

from repurpose.actors.alert_rules import RULES_KEY, AlertRules
from repurpose.actors.alerts import Alerts
from repurpose.actors.dataset_version import DatasetVersion
from repurpose.actors.model_registry import ModelRegistry
from repurpose.contracts.alerts import ALERT_WINDOWS, AlertObservation
from repurpose.contracts.datasets import DatasetSummary, DescriptorProfile
from repurpose.contracts.ids import SCREEN_ID_PATTERN
from repurpose.contracts.models import ModelVersionDetail, check_model_name
from repurpose.contracts.monitoring import DEFAULT_WINDOW, MonitorReport, ReferenceSource, check_window
from repurpose.data.dataset_paths import check_dataset_id
from repurpose.data.descriptors import PROFILE_FEATURES
from repurpose.errors import DatasetNotFound, InvalidInput, ScreenNotFound
from repurpose.grains import Grain, grain
from repurpose.monitoring.reference import Reference, build_reference
from repurpose.monitoring.sketch import TrafficSketch
from repurpose.monitoring.windows import MAX_JOBS, Windows
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.tasks import await_task, reports_start, task_domain_error

logger = logging.getLogger(__name__)
_alert_checks: set[asyncio.Task[None]] = set()

KIND = "monitor"
BASELINE_PAIRS = 1_000
MAX_FLUSH_IDS = 1_000
MAX_FLUSH_ID_LENGTH = 100


class MissingReference(BaseModel):
    """Why a monitor has no reference, and for which model version that was found."""

    reason: str
    model_version: int


class MonitorState(BaseModel):
    reference: Reference | None = None
    missing: MissingReference | None = None
    given_dataset: str | None = Field(default=None, description="A dataset named at reset, instead of the lineage's.")
    windows: Windows = Field(default_factory=Windows)
    baseline: TrafficSketch | None = Field(default=None, description="The first pairs' sketch: the scores' reference.")
    flush_ids: list[str] = Field(default_factory=list, description="The last flushes recorded, oldest first.")
    dropped_pairs: int = 0
    since: dt.datetime | None = None


@grain(KIND)
class Monitor(Grain[MonitorState]):
    """A model name's live traffic in windows, against the reference of its training data."""

    async def edges(self) -> dict[str, list[float]]:
        """Per feature, the reference's bin edges, on which sketches for this monitor are binned
        (empty without a reference: every feature then has one bin)."""
        reference = await self._reference()
        return reference.edges() if reference is not None else {}

    async def record(self, sketch: TrafficSketch, job_id: str | None, flush_id: str, at: float | None = None) -> bool:
        """Add a flush's sketch, its pairs scored at ``at`` (seconds since the epoch; default now), to
        every window and to its screening job's; False when ``flush_id`` was recorded already."""
        check_model_name(self.key)
        sketch = TrafficSketch.model_validate(sketch)
        if not isinstance(flush_id, str) or not 0 < len(flush_id) <= MAX_FLUSH_ID_LENGTH:
            raise InvalidInput(f"a flush id is 1 to {MAX_FLUSH_ID_LENGTH} characters, not {flush_id!r:.40}")
        if job_id is not None and not (isinstance(job_id, str) and re.fullmatch(SCREEN_ID_PATTERN, job_id)):
            raise InvalidInput(f"{job_id!r:.40} is not a screening job id (scr- and 12 hex digits)")
        if at is not None and not (isinstance(at, int | float) and math.isfinite(at)):
            raise InvalidInput(f"at is a time in seconds since the epoch, not {at!r:.40}")
        if flush_id in self.state.flush_ids:
            return False
        if self.state.reference is None and self.state.missing is None:
            await self._reference()  # never looked for yet: a monitor compares from its first pairs
        expected = self._edges()
        if sketch.edges() != expected:
            raise InvalidInput(
                f"the sketch is binned on other edges than the monitor of {self.key} holds (its reference changed, "
                "or it was reset): take its edges again"
            )
        state = self.state
        state.windows.add(
            sketch,
            job_id=job_id,
            at=time.time() if at is None else float(at),
            window_pairs=self.context.settings.monitor_window_pairs,
        )
        if state.baseline is None:
            state.baseline = sketch
        elif state.baseline.n < BASELINE_PAIRS:
            state.baseline = state.baseline.merge(sketch)
        state.flush_ids = [*state.flush_ids, flush_id][-MAX_FLUSH_IDS:]
        state.since = state.since or dt.datetime.now(dt.UTC)
        self._schedule_alert_check()
        return True

    def dropped(self, pairs: int) -> int:
        """Count ``pairs`` scored pairs the scorer could not sketch; the count since reset."""
        if isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 0:
            raise InvalidInput(f"dropped pairs are a count, not {pairs!r:.40}")
        self.state.dropped_pairs += pairs
        return self.state.dropped_pairs

    async def report(self, window: str = DEFAULT_WINDOW) -> MonitorReport:
        """A window (``pairs``, ``hour``, ``day`` or ``job:<id>``) against the reference."""
        from repurpose.monitoring.drift import monitor_report  # SciPy: loaded by the first report, not the host

        window = check_window(window)
        reference = await self._reference()
        sketch = self.state.windows.sketch_of(window, now=time.time())
        if sketch is None and window.startswith("job:"):
            job_id = window.removeprefix("job:")
            raise ScreenNotFound(
                f"the monitor of {self.key} holds no pairs of screening job {job_id}: it keeps the {MAX_JOBS} jobs "
                "it was fed last",
                job_id=job_id,
            )
        baseline = self.state.baseline
        return monitor_report(
            model=self.key,
            window=window,
            sketch=sketch if sketch is not None else TrafficSketch.empty(reference.edges() if reference else {}),
            reference=reference,
            no_reference=self.state.missing.reason if self.state.missing is not None else None,
            baseline=baseline if baseline is not None and baseline.n >= BASELINE_PAIRS else None,
            dropped=self.state.dropped_pairs,
            since=self.state.since,
        )

    async def observations(self, windows: list[str]) -> list[AlertObservation]:
        """The figures alert rules judge, of each window named (``pairs``, ``hour``, ``day``): the
        drift share and the out-of-domain share, with the pairs behind each."""
        if not isinstance(windows, list) or not all(w in ALERT_WINDOWS for w in windows):
            raise InvalidInput(f"alert windows are {', '.join(ALERT_WINDOWS)}, not {windows!r:.80}")
        observed: list[AlertObservation] = []
        for window in dict.fromkeys(windows):
            report = await self.report(window)
            observed.append(
                AlertObservation(metric="drift_share", window=window, value=report.drift_share, pairs=report.pairs)
            )
            observed.append(
                AlertObservation(
                    metric="out_of_domain_share",
                    window=window,
                    value=report.out_of_domain_share,
                    pairs=report.domain_pairs,
                )
            )
        return observed

    async def reset(self, dataset_id: str | None = None) -> MonitorReport:
        """Forget every window and the reference, and take the reference again: from the model's
        lineage, or from ``dataset_id`` (a dataset version) when given. The empty ``pairs`` report."""
        check_model_name(self.key)
        if dataset_id is not None:
            check_dataset_id(dataset_id)
        self.state = MonitorState(given_dataset=dataset_id, since=dt.datetime.now(dt.UTC))
        return await self.report(DEFAULT_WINDOW)

    # --- the reference ---

    async def _reference(self) -> Reference | None:
        """The reference, taken now if there is none yet (and the model version checked last gave none)."""
        state = self.state
        if state.reference is not None:
            return state.reference
        check_model_name(self.key)
        grains = self.context.grains
        detail = cast(ModelVersionDetail, await grains.acall(ModelRegistry, self.key, "show"))
        if state.given_dataset is None and state.missing is not None and state.missing.model_version == detail.version:
            return None
        source: ReferenceSource = "given" if state.given_dataset is not None else "lineage"
        dataset_id = state.given_dataset or detail.lineage.dataset_id
        if dataset_id is None:
            state.missing = MissingReference(reason=_no_lineage(self.key, detail), model_version=detail.version)
            return None
        try:
            summary = cast(DatasetSummary, await grains.acall(DatasetVersion, dataset_id, "summary"))
            profile = cast(DescriptorProfile, await grains.acall(DatasetVersion, dataset_id, "profile"))
        except DatasetNotFound:
            if source == "given":
                raise
            reason = (
                f"{self.key} v{detail.version} was trained on dataset {dataset_id[:12]}, which is not registered here"
            )
            state.missing = MissingReference(reason=reason, model_version=detail.version)
            return None
        settings = self.context.settings
        task = _reference_task.remote(
            settings.artifact_url,
            dataset_id,
            summary.name,
            profile,
            source,
            detail.version if source == "lineage" else None,
        )
        try:
            reference = cast(Reference, await await_task(task, f"sampling dataset {dataset_id[:12]}", settings))
        except RayTaskError as error:
            raise task_domain_error(error) from None
        # windows binned without these edges cannot be compared with it: monitoring starts afresh
        self.state = MonitorState(
            reference=reference,
            given_dataset=state.given_dataset,
            flush_ids=state.flush_ids,
            dropped_pairs=state.dropped_pairs,
            since=dt.datetime.now(dt.UTC),
        )
        return reference

    def _schedule_alert_check(self) -> None:
        """An alert check of this model soon (off the turn), unless one is scheduled already."""
        if getattr(self, "_alert_check_waiting", False):
            return  # a check waits to run: it reads the windows when it does, this flush in them
        last: float = getattr(self, "_alerts_checked_at", -math.inf)
        delay = max(0.0, last + self.context.settings.alert_evaluation_seconds - time.monotonic())
        self._alert_check_waiting = True
        task = asyncio.get_running_loop().create_task(self._check_alerts(delay))
        _alert_checks.add(task)  # the loop holds tasks weakly
        task.add_done_callback(_alert_checks.discard)

    async def _check_alerts(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._alert_check_waiting = False  # a flush from now on schedules the next check
        self._alerts_checked_at = time.monotonic()
        grains = self.context.grains
        try:
            windows: list[str] = await grains.acall(AlertRules, RULES_KEY, "windows", self.key)
            if windows:
                observed = await grains.acall(Monitor, self.key, "observations", windows)
                await grains.acall(Alerts, self.key, "observe", observed)
        except Exception:  # a task nobody awaits: its failure is logged, the next flush tries again
            logger.exception("alert check of the monitor of %s failed", self.key)

    def _edges(self) -> dict[str, list[float]]:
        """The edges a sketch for this monitor is binned on, per feature ([]: one bin)."""
        edges = self.state.reference.edges() if self.state.reference is not None else {}
        return {name: edges.get(name, []) for name in PROFILE_FEATURES}


def _no_lineage(name: str, detail: ModelVersionDetail) -> str:
    return (
        f"{name} v{detail.version} names no training dataset: it was trained from files ({detail.lineage.source}), "
        f"not on a registered dataset version, and its manifest names none; give one with "
        f"`repurpose monitor reset {name} --reference DATASET`"
    )


@ray.remote(num_cpus=1)
@reports_start
def _reference_task(
    artifact_url: str,
    dataset_id: str,
    dataset_name: str,
    profile: DescriptorProfile,
    source: ReferenceSource,
    model_version: int | None,
) -> Reference:
    from repurpose.data.dataset_access import load_rows  # pandas and RDKit: in the task, not the grain host

    rows = load_rows(ArtifactStore(artifact_url), dataset_id)
    return build_reference(
        rows, profile, dataset_id=dataset_id, dataset_name=dataset_name, source=source, model_version=model_version
    )
