"""Calling the scorer from anywhere in the cluster: the screening runner, the gateway, the CLI.

Light on purpose (no PyTorch): the screening runner, which featurises chunks and sends them,
stays free of it. The deployment itself lives in ``scoring.service``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind

from repurpose.contracts.scoring import (
    ChunkScores,
    EvidenceAnswer,
    EvidenceRequest,
    PairScore,
    PairToScore,
    ProfileRequest,
    ProfileScores,
    ResolvedModel,
    ScorerStats,
)
from repurpose.contracts.training import MODEL_TYPES
from repurpose.errors import InvalidInput, ModelNotFound, RepurposeError
from repurpose.grains import GrainClient, KindRef
from repurpose.runtime import tracing
from repurpose.scoring.chunks import ChunkRequest
from repurpose.settings import Settings

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle

    from repurpose.contracts.scoring import Explanation

_MAX_METHOD_HANDLES = 256
MODEL_REGISTRY = KindRef("model", "repurpose.actors.model_registry")
"""The ModelRegistry grain's kind, called by name: the scorer's layer imports no grain module."""


class ScorerClient:
    """Calls the scorer application: models by reference, every answer a pydantic model."""

    def __init__(self, settings: Settings, grains: GrainClient | None = None) -> None:
        self.settings = settings
        self.grains = grains or GrainClient(settings)
        self._handle: DeploymentHandle | None = None
        self._method_handles: dict[tuple[str, str], DeploymentHandle] = {}
        self._tracer = tracing.tracer(settings)

    @property
    def handle(self) -> DeploymentHandle:
        if self._handle is None:
            # Serve (with the FastAPI and pandas it loads) only where the scorer is called: importing
            # the ScreeningJob grain (CLI `screen`/`screens`, its host) takes about 0.8 s less
            from ray import serve

            self._handle = serve.get_app_handle(self.settings.scorer_app)
        return self._handle

    async def resolve(self, reference: str) -> ResolvedModel:
        """``name``, ``name@3`` or ``name@staging`` → the version the registry names (production by default)."""
        return await resolve_model(self.grains, reference)

    async def predict(self, model: ResolvedModel, pairs: list[PairToScore]) -> list[PairScore]:
        return await self._call("predict", model, pairs)

    async def score_chunk(self, request: ChunkRequest) -> ChunkScores:
        return await self._call("score_chunk", request.model, request)

    async def profile(self, request: ProfileRequest) -> ProfileScores:
        return await self._call("profile", request.model, request)

    async def evidence(self, request: EvidenceRequest) -> EvidenceAnswer:
        return await self._call("evidence", request.model, request)

    async def explain(self, model: ResolvedModel, smiles: str, sequence: str, top: int = 10) -> Explanation:
        return await self._call("explain", model, smiles, sequence, top)

    async def stats(self, model: ResolvedModel) -> ScorerStats:
        return await self._call("stats", model)

    def _method_handle(self, method: str, model: ResolvedModel) -> DeploymentHandle:
        """The handle of ``method`` for ``model``'s version, made once: ``options`` builds a new handle
        each time, a measurable part of a single prediction's cost in the caller."""
        key = (method, model.model_dump_json())
        handle = self._method_handles.get(key)
        if handle is None:
            if len(self._method_handles) >= _MAX_METHOD_HANDLES:
                self._method_handles.clear()
            handle = self._method_handles[key] = getattr(self.handle.options(multiplexed_model_id=key[1]), method)
        return handle

    async def _call(self, method: str, model: ResolvedModel, *args: Any) -> Any:
        handle = self._method_handle(method, model)
        attributes = {"rpc.system": "ray_serve", "rpc.method": method, "repurpose.model": model.ref}
        with tracing.child_span(self._tracer, f"scorer {method}", kind=SpanKind.CLIENT, attributes=attributes):
            try:  # the replica's span goes under this one: the context travels as an argument
                return await handle.remote(*args, trace=tracing.inject())
            except Exception as error:  # Serve wraps a replica's exception (with its traceback): unwrap ours
                cause = getattr(error, "cause", None)
                if isinstance(cause, RepurposeError):
                    raise cause from None
                raise


async def resolve_explainer(
    resolve: Callable[[str], Awaitable[ResolvedModel]], settings: Settings, reference: str | None
) -> ResolvedModel:
    """The model that explains a pair: the one named; else the default model if it is a DrugBAN
    (explanations are DrugBAN's attention), else ``settings.explain_model``'s production version,
    else its staging one (``up`` puts the flagship in staging when a union model wins production).
    ``resolve`` resolves a reference (the gateway's is cached); ModelNotFound when none is a DrugBAN."""
    if reference is not None:
        return await resolve(reference)
    default, explainer = settings.default_model, settings.explain_model
    tried: list[str] = []
    candidates = [default, *([f"{explainer}@production"] if explainer != default else []), f"{explainer}@staging"]
    for candidate in candidates:
        try:
            model = await resolve(candidate)
        except ModelNotFound:
            tried.append(f"{candidate}: none")
            continue
        if model.model_type == "drugban":
            return model
        tried.append(f"{candidate}: {model.ref} is {model.model_type}")
    raise ModelNotFound(
        f"no DrugBAN model to explain with (the default model, then setting explain_model: {'; '.join(tried)}): "
        "name one (--model, or `model` over HTTP)",
        name=explainer,
    )


async def resolve_model(grains: GrainClient, reference: str) -> ResolvedModel:
    """The registered model version a reference names (see ``contracts.scoring``)."""
    from repurpose.contracts.models import check_model_name

    if not isinstance(reference, str) or not reference.strip():
        raise InvalidInput("give a model: a name (its production version), name@version or name@stage")
    name, _, version = reference.strip().partition("@")
    check_model_name(name)
    detail = await grains.acall(MODEL_REGISTRY, name, "resolved", version or "production")
    if detail.model_type not in MODEL_TYPES:
        raise ModelNotFound(f"model {name}@{detail.version} has an unknown type {detail.model_type}", name=name)
    stack = detail.manifest.ensemble
    return ResolvedModel(
        name=name,
        version=detail.version,
        model_type=detail.model_type,
        artifact_path=detail.artifact_path,
        threshold=detail.threshold,
        members=stack.member_types if stack is not None else [],
    )
