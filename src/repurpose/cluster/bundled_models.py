"""The bundled models: registered on ``repurpose up``, the one that retrieves best in production.

Every model directory under ``models/`` (``settings.bundled_models_dir``) becomes version 1 of
the folder's name: ``drugban-human``, ``rf-human`` and ``xgb-human`` (trained on the Human
benchmark) and, where present, the union models (``knn-union``, ``xgb-union``, ``rf-union``,
``drugban-union``, ``ensemble-union``). A folder that is no finished model directory (no
``manifest.json``: a DrugBAN still training) is skipped with a line.

Lineage. A version names its training rows when they are a split of a bundled dataset: a
model directory's manifest holds the sha256 of its training pairs, compared here with the train
part of every bundled split (``cluster.bundled_data``). The union models, trained on the union's
``random-42`` split (``scripts/train_bundled_models.py``), so name the registered ``union``
version and ``random-42``: ``models evaluate`` then refuses (or counts) rows they learned from
and defaults to that split's test part. Models trained from files (the Human ones) name no
dataset, as before.

Production by merit. A model directory may hold ``retrieval.json`` (a ``RetrievalResult``: how
the held-out actives of ``data/retrieval/heldout.csv`` rank among the DrugBank decoys; the
training script writes it). The model with the best mean BEDROC (α = 20: how early the actives
come, which is what a chemist reads off a screen's top) goes to production, ties broken by mean
AUROC; figures are compared only on the same held-out set and decoys. The others go to
staging, not candidate: they are checked and ready (``models promote NAME 1 --stage
production``) and servable as ``NAME@staging``; candidate would add a step with no check
behind it. With no retrieval figures at all, the default model (``drugban-human`` unless set)
goes to production, as before.

The configure step ``default_model_by_merit`` (``cluster.up``) makes that best model the
cluster's default model (``settings.default_model``: what ``screen``, ``profile``, ``predict``
and the gateway use when no model is named) unless the user named one; a user's default that is a bundled model goes to
production as well, or those commands would find no production version of it. That choice is
made before anything is registered, so the start step settles it after registering: a default
with no production version (its promotion failed, a model of the user's holds the name, it was
never registered) gives way to a name that has one, with a line (``_settle_default``).

Once per name: a name with versions is left as it is, except that a bundled version 1 still in
candidate or staging moves on (an earlier start stopped halfway, or it is the best now), and
its retrieval figures are recorded with it (``record_retrieval``) while the directory is the
one registered (the same manifest) and the version holds no figures on that held-out set yet
(a user's re-evaluation on it stays).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from repurpose.actors.model_registry import ModelRegistry, register_model_dir
from repurpose.bundled_paths import bundled_models_dir
from repurpose.cluster.bundled_data import BundledSplit, bundled_train_parts
from repurpose.cluster.lifecycle import settle
from repurpose.contracts.manifest import Manifest
from repurpose.contracts.models import (
    ModelLineage,
    ModelStage,
    ModelSummary,
    ModelVersionDetail,
    ModelVersionSummary,
    check_model_name,
)
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.errors import InvalidInput, ModelNotFound, RepurposeError
from repurpose.grains import GrainClient
from repurpose.model.paths import MANIFEST
from repurpose.settings import Settings

RETRIEVAL_FILE: Final = "retrieval.json"
BUNDLED_MODEL: Final = "drugban-human"
"""The flagship: DrugBAN trained on Human, with its benchmark figures (``settings.default_model``'s default)."""


@dataclass(frozen=True)
class BundledModel:
    """A finished model directory under the bundled models folder."""

    name: str
    directory: Path
    manifest: Manifest
    retrieval: RetrievalResult | None

    @property
    def source(self) -> str:
        return f"bundled:{self.name}"


@dataclass(frozen=True)
class MeritChoice:
    """Which bundled model goes to production by retrieval, and what it was compared with."""

    best: BundledModel | None  # None: no model has retrieval figures
    ranked: list[BundledModel]  # best first: the models measured on the same held-out set and decoys
    set_aside: list[BundledModel]  # measured on another set: not comparable


class _Unfinished(Exception):
    """A folder that is not a readable model directory (the reason is the message)."""


def find_bundled_models(directory: Path, names: Collection[str] | None = None) -> tuple[list[BundledModel], list[str]]:
    """The finished model directories under ``directory`` (only ``names``, if given), by name, and
    a line for each folder skipped."""
    if not directory.is_dir():
        return [], [f"no bundled models at {directory}: the cluster starts without them"]
    models: list[BundledModel] = []
    lines: list[str] = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if names is not None and folder.name not in names:
            continue
        try:
            models.append(_read_bundled_model(folder))
        except (InvalidInput, _Unfinished) as error:
            lines.append(f"skipped {folder}: {error}")
    for name in sorted(set(names or ()) - {m.name for m in models} - {f.name for f in directory.iterdir()}):
        lines.append(f"no bundled model at {directory / name}: the cluster starts without {name}")
    return models, lines


def _read_bundled_model(folder: Path) -> BundledModel:
    """The model directory ``folder`` with its retrieval figures; InvalidInput for a folder name
    that is no model name, _Unfinished for a folder that is no readable model directory."""
    check_model_name(folder.name)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise _Unfinished(f"no {MANIFEST} (not a finished model directory)")
    try:
        manifest = Manifest.model_validate_json(manifest_path.read_text())
    except (ValidationError, OSError, UnicodeDecodeError) as error:
        raise _Unfinished(f"unreadable {MANIFEST} ({_reason(error)})") from None
    retrieval_path = folder / RETRIEVAL_FILE
    retrieval = None
    if retrieval_path.is_file():
        try:
            retrieval = RetrievalResult.model_validate_json(retrieval_path.read_text())
        except (ValidationError, OSError, UnicodeDecodeError) as error:
            raise _Unfinished(
                f"unreadable {RETRIEVAL_FILE} ({_reason(error)}): write it again with "
                "`scripts/train_bundled_models.py --retrieval-only`"
            ) from None
    return BundledModel(name=folder.name, directory=folder, manifest=manifest, retrieval=retrieval)


def choose_production(models: list[BundledModel]) -> MeritChoice:
    """The model with the best mean BEDROC (ties: mean AUROC, then name) among those measured on
    the held-out set and decoys most of them were measured on."""
    measured = [m for m in models if m.retrieval is not None]
    if not measured:
        return MeritChoice(best=None, ranked=[], set_aside=[])
    groups: dict[tuple[str, str, str], list[BundledModel]] = {}
    for model in measured:
        groups.setdefault(_evaluation_set(model), []).append(model)
    compared = max(groups.values(), key=len)  # the first of equals: models come sorted by name
    ranked = sorted(compared, key=lambda m: (*(-x for x in _merit(m)), m.name))
    return MeritChoice(best=ranked[0], ranked=ranked, set_aside=[m for m in measured if m not in compared])


def default_model_by_merit(settings: Settings) -> Settings:
    """The bundled model with the best retrieval as the default model, unless the user named one."""
    if "default_model" in settings.model_fields_set:
        return settings
    models, _ = find_bundled_models(bundled_models_dir(settings))
    best = choose_production(models).best
    return settings if best is None else settings.with_overrides(default_model=best.name)


def register_bundled_models(client: GrainClient, names: Collection[str] | None = None) -> list[str]:
    """Register every bundled model (only ``names``, if given) as version 1 of its name, the best by
    retrieval in production and the others in staging. Returns the lines to print (none when
    everything was there already)."""
    models, lines = find_bundled_models(bundled_models_dir(client.settings), names)
    choice = choose_production(models)
    default = client.settings.default_model
    production = {choice.best.name} if choice.best is not None else set()
    if any(m.name == default for m in models):  # the default must have a production version to serve
        production.add(default)
    lineages = _Lineages(client)
    for model in models:
        lines.extend(_settle(client, model, model.name in production, lineages, choice))
    lines.extend(
        f"{m.name}'s {RETRIEVAL_FILE} is on another held-out set or decoys than the others': not compared"
        for m in choice.set_aside
    )
    lines.extend(_settle_default(client, models, choice))
    return lines


def _settle_default(client: GrainClient, models: list[BundledModel], choice: MeritChoice) -> list[str]:
    """Make sure the default model has a production version, or every screen, profile and
    prediction that names no model fails. Chosen before anything was registered, it may have none:
    its promotion or retrieval record failed, a model of the user's holds the name, or it is not
    registered. Then the default becomes (``cluster.lifecycle.settle``) the first of these that has one: the
    bundled models by merit, the flagship, the other bundled models; failing that, the first of
    their bundled versions 1 that goes to production. The lines to print."""
    default = client.settings.default_model
    if _production_version(client, default) is not None:
        return []
    order = [*(m.name for m in choice.ranked), BUNDLED_MODEL, *(m.name for m in models)]
    candidates = [name for name in dict.fromkeys(order) if name != default]
    for name in candidates:
        version = _production_version(client, name)
        if version is not None:
            return [_fall_back(client, default, name, version)]
    lines: list[str] = []
    bundled = {m.name: m for m in models}
    for model in (bundled[name] for name in candidates if name in bundled):
        try:
            if _promote_in_place_of(client, model, default):
                return [
                    *lines,
                    f"moved the bundled model {model.name} v1 to production",
                    _fall_back(client, default, model.name, 1),
                ]
        except RepurposeError as error:
            lines.append(f"the bundled model {model.name} cannot stand in as the default model: {error.message}")
    lines.append(
        f"the cluster's default model {default} (setting default_model) has no production version, nor has any "
        "bundled model: `screen`, `profile`, `explain` and `predict` need --model until one is promoted"
    )
    return lines


def _production_version(client: GrainClient, name: str) -> int | None:
    try:
        summary: ModelSummary = client.call(ModelRegistry, name, "summary")
    except ModelNotFound:
        return None
    return summary.production


def _promote_in_place_of(client: GrainClient, model: BundledModel, default: str) -> bool:
    """Move ``model``'s bundled version 1 to production as the default model in place of
    ``default``; False when the name holds anything else (the user's versions, an archived one)."""
    try:
        versions: list[ModelVersionSummary] = client.call(ModelRegistry, model.name, "versions")
    except ModelNotFound:
        return False  # its registration failed (a line says why)
    if len(versions) != 1 or versions[0].stage not in ("candidate", "staging"):
        return False
    detail: ModelVersionDetail = client.call(ModelRegistry, model.name, "show", 1)
    if detail.lineage.source != model.source or detail.manifest.model_dump_json() != model.manifest.model_dump_json():
        return False
    reason = f"bundled model, the cluster's default model in place of {default} (no production version)"
    for stage in ("staging", "production"):
        if detail.stage != stage:
            detail = client.call(ModelRegistry, model.name, "promote", 1, stage, reason)
    return True


def _fall_back(client: GrainClient, default: str, name: str, version: int) -> str:
    settle(client, default_model=name)
    return (
        f"the cluster's default model is {name} (v{version} in production) in place of {default}, which has no "
        "production version (setting default_model)"
    )


def _settle(
    client: GrainClient, model: BundledModel, production: bool, lineages: _Lineages, choice: MeritChoice
) -> list[str]:
    """Register ``model`` if its name has no versions, record its retrieval figures and move a
    bundled version 1 on to staging or production; the lines to print."""
    try:
        existing: list[ModelVersionSummary] = client.call(ModelRegistry, model.name, "versions")
    except ModelNotFound:
        existing = []
    split: BundledSplit | None = None
    try:
        if existing:
            detail: ModelVersionDetail = client.call(ModelRegistry, model.name, "show", 1)
            if detail.lineage.source != model.source:
                return []  # a model of the user's under that name
            if detail.manifest.model_dump_json() != model.manifest.model_dump_json():
                return [
                    f"{model.directory} is not the directory registered as {model.name} v1 (trained again?): "
                    f"left as it is; register it as a new version to use it"
                ]
        else:
            lineage, split = lineages.of(model)
            detail = register_model_dir(client, model.name, model.directory, lineage)
        # once per held-out set: a later evaluation on it (`models evaluate --retrieval` on the
        # cluster) replaced the bundled figures on purpose, and a second `up` must not undo that
        measured = model.retrieval
        if measured is not None and all(r.evaluation_set != measured.evaluation_set for r in detail.retrieval):
            detail = client.call(ModelRegistry, model.name, "record_retrieval", 1, measured)
        moved = False
        settled = len(existing) > 1 or any(v.stage in ("production", "archived") for v in existing)
        if not settled:  # ours, alone, in candidate or staging: an earlier start stopped, or it is the best now
            stages: tuple[ModelStage, ...] = ("staging", "production") if production else ("staging",)
            for stage in stages:
                if detail.stage != stage:
                    reason = _production_reason(model, choice) if stage == "production" else "bundled model"
                    detail = client.call(ModelRegistry, model.name, "promote", 1, stage, reason)
                    moved = True
    except RepurposeError as error:
        return [f"the bundled model {model.name} is not in {_target(production)}: {error.message}"]
    lines = []
    if not existing:
        trained_on = f", trained on the {split.split_id} split of {split.name}" if split is not None else ""
        lines.append(f"registered the bundled model {model.name} v1 ({detail.stage}){trained_on}")
    elif moved:
        lines.append(f"moved the bundled model {model.name} v1 to {detail.stage}")
    if moved and detail.stage == "production":
        lines.append(_production_line(model, choice, client.settings.default_model))
    return lines


class _Lineages:
    """Lineages of bundled models; the bundled splits' train parts are hashed once, when needed."""

    def __init__(self, client: GrainClient) -> None:
        self.client = client
        self._parts: dict[str, BundledSplit] | None = None

    def of(self, model: BundledModel) -> tuple[ModelLineage, BundledSplit | None]:
        """Its lineage, and the bundled split whose train part it learned from (None: no such split)."""
        if self._parts is None:
            self._parts = bundled_train_parts(self.client)
        split = self._parts.get(model.manifest.train_data_sha256)
        lineage = ModelLineage(
            source=model.source,
            dataset_id=split.dataset_id if split is not None else None,
            split_id=split.split_id if split is not None else None,
            code_version=model.manifest.repurpose_version,
            training=model.manifest.training,
        )
        return lineage, split


def _production_reason(model: BundledModel, choice: MeritChoice) -> str:
    """The stage change's reason (stored in the version's history)."""
    if model is choice.best:
        return f"bundled model, the best by retrieval: {_figures(model)}"
    if choice.best is None:
        return "bundled model, the default model (no bundled model has retrieval figures)"
    return "bundled model, the cluster's default model"


def _production_line(model: BundledModel, choice: MeritChoice, default: str) -> str:
    if model is choice.best:
        others = len(choice.ranked) - 1
        runner_up = choice.ranked[1] if others else None
        compared = (
            f"the best retrieval of the {len(choice.ranked)} bundled models measured on that set"
            if others
            else "the only bundled model with retrieval figures"
        )
        next_best = f"; next {runner_up.name} {_figures(runner_up, short=True)}" if runner_up is not None else ""
        line = f"production by merit: {model.name} v1, {compared} ({_figures(model)}{next_best})"
        if default == model.name:
            return f"{line}; it is the cluster's default model"
        return f"{line}; the cluster's default model stays {default} (setting default_model)"
    if choice.best is None:
        return (
            f"{model.name} v1 is in production as the cluster's default model: no bundled model has "
            f"retrieval figures ({RETRIEVAL_FILE}) to choose one by"
        )
    return f"{model.name} v1 is in production too: it is the cluster's default model (setting default_model)"


def _figures(model: BundledModel, *, short: bool = False) -> str:
    result = model.retrieval
    if result is None:
        return "no retrieval figures"
    summary = result.summary
    if short:
        return f"BEDROC {summary.mean_bedroc:.3f}, AUROC {summary.mean_auroc:.3f}"
    targets = len(summary.targets)
    return (
        f"mean BEDROC {summary.mean_bedroc:.3f}, mean AUROC {summary.mean_auroc:.3f} over "
        f"{targets} target{'s' if targets != 1 else ''} of {result.heldout}"
    )


def _merit(model: BundledModel) -> tuple[float, float]:
    """(mean BEDROC, mean AUROC); a missing or non-finite figure ranks last."""
    if model.retrieval is None:
        return (-math.inf, -math.inf)
    summary = model.retrieval.summary
    return (_finite(summary.mean_bedroc), _finite(summary.mean_auroc))


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


def _evaluation_set(model: BundledModel) -> tuple[str, str, str]:
    """What its figures were measured on: the held-out set and decoys (by content where known, as
    the registry and the retrieval gate compare them)."""
    assert model.retrieval is not None
    return model.retrieval.evaluation_set


def _target(production: bool) -> str:
    return "production" if production else "staging"


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'value'}: {first['msg']}"
    return str(error)
