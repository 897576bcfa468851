"""Feedback: measured outcomes of pairs, scored by a model version and kept for its live quality.

A batch (a JSON list of outcomes, or a CSV / Parquet file with the columns SMILES, Protein or
Target, Y) is checked whole before anything happens: a broken SMILES, an unknown target, a label
that is not 0 or 1, a missing column or too large a file is refused and nothing is stored. Then
every pair is scored through the scoring service (the scorer's caches, its batching) by the
version named (default: the name's production version, else its latest), and the outcomes with
their scores are stored once per batch id (``store.feedback``). A batch id stored already is
answered from the store before anything is scored, and every target of a batch is looked up before
its first pair is scored: a batch refused or sent again adds no traffic to the monitor. The version's live quality
(``monitoring.quality``) is answered, and its AUROC drop handed to the model's Alerts grain.

The pairs scored here reach the model's monitor like any scored pair: they are traffic too.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from repurpose.actors.alerts import Alerts
from repurpose.actors.model_registry import ModelRegistry
from repurpose.contracts.alerts import AlertObservation
from repurpose.contracts.feedback import BATCH_ID_PATTERN, FeedbackReceipt, LiveQuality, ModelQuality, Outcome
from repurpose.contracts.models import ModelVersionDetail, ModelVersionSummary, check_model_name, parse_version_ref
from repurpose.contracts.scoring import MAX_PREDICT_PAIRS
from repurpose.data.upload_limits import UploadLimits
from repurpose.errors import InvalidInput, NotFound, blame
from repurpose.monitoring.quality import live_quality
from repurpose.services import scoring
from repurpose.services.context import Context
from repurpose.store import StoredOutcome, VersionOutcomes, batch_recorded, load_outcomes, record_outcomes

if TYPE_CHECKING:  # reading a table takes pandas and RDKit: imported by the calls that read one
    from repurpose.data.feedback import FeedbackTable

logger = logging.getLogger(__name__)


async def record_feedback(
    ctx: Context,
    *,
    pairs: Sequence[Outcome],
    model: str | None = None,
    version: str | int | None = None,
    batch_id: str | None = None,
) -> FeedbackReceipt:
    """Outcomes given as a list (``{"smiles", "target" or "sequence", "label"}``)."""
    from repurpose.data.feedback import feedback_from_outcomes

    with blame("pairs"):
        table = feedback_from_outcomes([Outcome.model_validate(p) for p in pairs])
    return await _record(ctx, table, model, version, batch_id, "pairs")


async def record_feedback_file(
    ctx: Context,
    *,
    data: bytes,
    filename: str | None,
    model: str | None = None,
    version: str | int | None = None,
    batch_id: str | None = None,
) -> FeedbackReceipt:
    """Outcomes in a CSV or Parquet file (columns SMILES, Protein or Target, Y)."""
    from repurpose.data.feedback import read_feedback_table

    limits = UploadLimits.from_settings(ctx.settings)
    with blame("file"):
        table = await asyncio.to_thread(
            read_feedback_table,
            data,
            filename=filename,
            max_bytes=ctx.settings.gateway_max_upload_bytes,
            limits=limits,
        )
    return await _record(ctx, table, model, version, batch_id, "file")


async def model_quality(ctx: Context, *, model: str) -> ModelQuality:
    """The live quality of every version of ``model`` that has outcomes, oldest first."""
    check_model_name(model)
    versions = cast(list[ModelVersionSummary], await ctx.grains.acall(ModelRegistry, model, "versions"))
    stored = await asyncio.to_thread(load_outcomes, ctx.engine, model)
    by_number = {v.version: v for v in versions}
    return ModelQuality(
        model=model,
        versions=[_quality(model, by_number[v], outcomes) for v, outcomes in stored.items() if v in by_number],
    )


async def _record(
    ctx: Context,
    table: FeedbackTable,
    model: str | None,
    version: str | int | None,
    batch_id: str | None,
    where: str,
) -> FeedbackReceipt:
    name = model or ctx.settings.default_model
    with blame("model"):
        check_model_name(name)
    with blame("version"):
        ref = parse_version_ref(version) if version is not None else None
    if batch_id is not None and not (isinstance(batch_id, str) and re.fullmatch(BATCH_ID_PATTERN, batch_id)):
        error = InvalidInput(f"{batch_id!r:.80} is not a batch id: 1 to 128 letters, digits, '.', '_', ':' or '-'")
        error.field = "batch_id"  # type: ignore[attr-defined]
        raise error
    with blame("model"):
        if ref is None:  # the production version, else the latest
            detail = cast(ModelVersionDetail, await ctx.grains.acall(ModelRegistry, name, "show"))
        else:
            detail = cast(ModelVersionDetail, await ctx.grains.acall(ModelRegistry, name, "resolved", ref))
    batch = batch_id or table.batch_id(name, detail.version)
    keys = list(zip(table.compound_keys(), table.target_keys(), table.labels.tolist(), strict=True))
    # a batch sent again is answered from the store: not scored, not fed to the monitor again
    seen = await asyncio.to_thread(
        batch_recorded, ctx.engine, model=name, version=detail.version, batch_id=batch, pairs=keys
    )
    recorded = False
    if not seen:
        scores = await _scores(ctx, table, f"{name}@{detail.version}", where)
        outcomes = [StoredOutcome(c, t, int(y), s) for (c, t, y), s in zip(keys, scores, strict=True)]
        recorded = await asyncio.to_thread(
            record_outcomes, ctx.engine, model=name, version=detail.version, batch_id=batch, outcomes=outcomes
        )
    stored = await asyncio.to_thread(load_outcomes, ctx.engine, name, detail.version)
    quality = _quality(name, detail, stored[detail.version])
    await _judge_alerts(ctx, quality)
    return FeedbackReceipt(
        model=name,
        version=detail.version,
        batch_id=batch,
        outcomes=len(table),
        positives=int(table.labels.sum()),
        recorded=recorded,
        quality=quality,
    )


async def _scores(ctx: Context, table: FeedbackTable, reference: str, where: str) -> list[float]:
    """Every pair's score by ``reference``, in chunks the scoring service takes; every target is
    checked first, so an unknown one refuses the batch before any pair is scored (and reaches the
    monitor). An error names the pair by its place in the whole batch (``pairs[1003]``)."""
    targets = [t for t in table.targets if t is not None]
    try:
        await ctx.lookups.sequences(targets)
    except NotFound as error:
        missing = getattr(error, "target_id", None)
        if missing in table.targets:
            error.field = _field(where, table.targets.index(missing), ".target")  # type: ignore[attr-defined]
        raise
    pairs = table.pairs()
    scores: list[float] = []
    for start in range(0, len(pairs), MAX_PREDICT_PAIRS):
        try:
            prediction = await scoring.predict(ctx, pairs=pairs[start : start + MAX_PREDICT_PAIRS], model=reference)
        except InvalidInput as error:
            raise _in_batch(error, start, where) from None
        scores.extend(s.probability for s in prediction.scores)
    return scores


_CHUNK_FIELD = re.compile(r"^pairs\[(\d+)\](.*)$")
_CHUNK_MESSAGE = re.compile(r"^pairs?(?:\[| )(\d+)\]?: ")  # "pair 3: ..." (the scorer), "pairs[3]: ..."


def _in_batch(error: InvalidInput, start: int, where: str) -> InvalidInput:
    """``error`` of the chunk starting at ``start``, naming its pair by the place in the whole batch."""
    field = _CHUNK_FIELD.match(getattr(error, "field", None) or "")
    message = _CHUNK_MESSAGE.match(error.message)
    index = int(field[1]) if field else int(message[1]) if message else None
    if index is None:
        return error
    error.field = _field(where, start + index, field[2] if field else "")  # type: ignore[attr-defined]
    if message:
        pair = f"pairs[{start + index}]" if where == "pairs" else f"pair {start + index + 1:,} of the file"
        error.message = f"{pair}: {error.message[message.end() :]}"
        error.args = (error.message,)
    return error


def _field(where: str, index: int, part: str) -> str:
    """The field at fault: the pair in a JSON list (``pairs[1003].target``), else the file as a whole."""
    return f"pairs[{index}]{part}" if where == "pairs" else where


def _quality(model: str, version: ModelVersionSummary, outcomes: VersionOutcomes) -> LiveQuality:
    return live_quality(
        model=model,
        version=version.version,
        labels=outcomes.labels,
        scores=outcomes.scores,
        threshold=version.threshold,
        reference_auroc=version.val_metrics.auroc,
        first_at=outcomes.first_at,
        last_at=outcomes.last_at,
    )


async def _judge_alerts(ctx: Context, quality: LiveQuality) -> None:
    """The AUROC drop to the model's Alerts grain; the outcomes are stored already, so a failure here
    is logged, not answered (the next batch judges again)."""
    observation = AlertObservation(
        metric="auroc_drop", window=None, value=quality.auroc_drop, pairs=quality.outcomes, version=quality.version
    )
    try:
        await ctx.grains.acall(Alerts, quality.model, "observe", [observation])
    except Exception:
        logger.exception("judging the alerts of %s after feedback failed", quality.model)
