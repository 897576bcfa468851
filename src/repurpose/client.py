"""A Python client of the gateway's REST API: what the CLI uses with ``--url`` (``REPURPOSE_URL``).

Every method sends one request and returns the same ``contracts`` model a local call returns,
so callers print or use results the same way whether the cluster is here or remote. An error
answer becomes a ``GatewayError`` carrying the gateway's stable ``code``, its message (which
says what to fix), the field at fault and the request id.

Requests the gateway refused before doing anything (429 rate limited, 503 unavailable) are
retried after the ``Retry-After`` the gateway sends, a few times; everything else is sent once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import IO, Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from repurpose.contracts.alerts import AlertRule, AlertRuleSpec, AlertsOverview
from repurpose.contracts.datasets import DatasetDetail, DatasetRegistration, DatasetSummary, SplitSummary
from repurpose.contracts.feedback import FeedbackReceipt, ModelQuality
from repurpose.contracts.keys import ApiKeySummary, IssuedKey
from repurpose.contracts.models import ModelEvaluation, ModelOverview, ModelSummary, ModelVersionDetail
from repurpose.contracts.monitoring import DEFAULT_WINDOW, MonitorReport
from repurpose.contracts.operations import Readiness
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.contracts.scoring import CompoundProfile, ExplanationOut, Prediction
from repurpose.contracts.screening import (
    COMPLETE_HEADER,
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
from repurpose.errors import GatewayError

M = TypeVar("M", bound=BaseModel)

USER_AGENT = "repurpose-cli"
RETRIED_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
MAX_RETRIES = 3
MAX_RETRY_WAIT_SECONDS = 30.0


class GatewayClient:
    """One gateway, one API key (``None`` for a gateway started with ``--no-auth``)."""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        *,
        timeout: float = 600.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Any = time.sleep,
    ) -> None:
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise GatewayError(f"{url!r} is not a gateway URL: give http://host:port or https://host", status=0)
        headers = {"User-Agent": USER_AGENT}
        if key:
            headers["Authorization"] = f"Bearer {key.strip()}"
        self.url = url
        self._sleep = sleep
        # Screens, evaluations and profiles can take minutes; connecting should not.
        self._http = httpx.Client(
            base_url=url, headers=headers, timeout=httpx.Timeout(timeout, connect=10.0), transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- operations -------------------------------------------------------------------------------

    def readiness(self) -> Readiness:
        """``/readyz``: a not-ready cluster answers 503 with the same body, returned here too."""
        response = self._send("GET", "/readyz", ok=(200, 503))
        return _parse(response, Readiness)

    # --- datasets ---------------------------------------------------------------------------------

    def register_dataset(self, data: bytes, filename: str, name: str | None = None) -> DatasetRegistration:
        form = {"name": name} if name else None
        response = self._send("POST", "/v1/datasets", files={"file": (filename, data)}, data=form, repeatable=True)
        return _parse(response, DatasetRegistration)

    def datasets(self) -> list[DatasetSummary]:
        return self._items("/v1/datasets", DatasetSummary)

    def dataset(self, reference: str) -> DatasetDetail:
        return _parse(self._send("GET", f"/v1/datasets/{_segment(reference)}"), DatasetDetail)

    def split_dataset(self, reference: str, kind: str, seed: int, fractions: list[float] | None) -> SplitSummary:
        body = {"kind": kind, "seed": seed, "fractions": fractions}
        return _parse(
            self._send("POST", f"/v1/datasets/{_segment(reference)}/splits", json=body, repeatable=True), SplitSummary
        )

    # --- training ---------------------------------------------------------------------------------

    def start_run(self, request: RunRequest) -> RunDetail:
        body = request.model_dump(mode="json", exclude_none=True)
        return _parse(self._send("POST", "/v1/training-runs", json=body, repeatable=True), RunDetail)

    def runs(self) -> list[RunSummary]:
        return self._items("/v1/training-runs", RunSummary)

    def run(self, reference: str) -> RunDetail:
        return _parse(self._send("GET", f"/v1/training-runs/{_segment(reference)}"), RunDetail)

    def cancel_run(self, reference: str) -> RunDetail:
        return _parse(self._send("POST", f"/v1/training-runs/{_segment(reference)}/cancel", repeatable=True), RunDetail)

    # --- models -----------------------------------------------------------------------------------

    def models(self) -> list[ModelSummary]:
        return self._items("/v1/models", ModelSummary)

    def model(self, name: str) -> ModelOverview:
        return _parse(self._send("GET", f"/v1/models/{_segment(name)}"), ModelOverview)

    def model_version(self, name: str, version: str) -> ModelVersionDetail:
        path = f"/v1/models/{_segment(name)}/versions/{_segment(version)}"
        return _parse(self._send("GET", path), ModelVersionDetail)

    def promote(
        self, name: str, version: str, stage: str, reason: str | None = None, force: bool = False
    ) -> ModelVersionDetail:
        path = f"/v1/models/{_segment(name)}/versions/{_segment(version)}/promote"
        body = {"stage": stage, "reason": reason, "force": force}
        return _parse(self._send("POST", path, json=body), ModelVersionDetail)

    def rollback(self, name: str, reason: str | None = None) -> ModelVersionDetail:
        path = f"/v1/models/{_segment(name)}/rollback"
        return _parse(self._send("POST", path, json={"reason": reason}), ModelVersionDetail)

    def evaluate(
        self,
        name: str,
        version: str,
        dataset: str,
        split: str | None = None,
        part: str | None = None,
        allow_overlap: bool = False,
    ) -> ModelEvaluation:
        path = f"/v1/models/{_segment(name)}/versions/{_segment(version)}/evaluate"
        body = {"dataset": dataset, "split": split, "part": part, "allow_overlap": allow_overlap}
        # an evaluation replaces the one on the same rows: sending it again changes nothing
        return _parse(self._send("POST", path, json=body, repeatable=True), ModelEvaluation)

    def evaluate_retrieval(
        self, name: str, version: str, data: bytes, filename: str, decoys: str | None = None
    ) -> RetrievalResult:
        path = f"/v1/models/{_segment(name)}/versions/{_segment(version)}/retrieval"
        form = {"decoys": decoys} if decoys else None
        # the result replaces the one on the same held-out set and decoys: sending it again changes nothing
        response = self._send("POST", path, files={"file": (filename, data)}, data=form, repeatable=True)
        return _parse(response, RetrievalResult)

    def card(self, name: str, version: str) -> str:
        """A version's model card (Markdown)."""
        return self._send("GET", f"/v1/models/{_segment(name)}/versions/{_segment(version)}/card").text

    # --- monitors ---------------------------------------------------------------------------------

    def monitor(self, model: str, window: str = DEFAULT_WINDOW) -> MonitorReport:
        """One window (pairs, hour, day or job:<screen id>) of a model's monitor against its reference."""
        response = self._send("GET", f"/v1/monitors/{_segment(model)}", params={"window": window})
        return _parse(response, MonitorReport)

    def monitor_page(self, model: str, window: str = DEFAULT_WINDOW) -> str:
        """The same report as an HTML page."""
        return self._send("GET", f"/v1/monitors/{_segment(model)}/report", params={"window": window}).text

    def reset_monitor(self, model: str, reference: str | None = None) -> MonitorReport:
        # a reset twice leaves what one leaves: safe to send again
        body = _given({"reference": reference})
        response = self._send("POST", f"/v1/monitors/{_segment(model)}/reset", json=body, repeatable=True)
        return _parse(response, MonitorReport)

    def model_quality(self, model: str) -> ModelQuality:
        """Live quality per version, from the outcomes fed back."""
        return _parse(self._send("GET", f"/v1/monitors/{_segment(model)}/quality"), ModelQuality)

    # --- feedback and alerts ----------------------------------------------------------------------

    def send_feedback(
        self,
        data: bytes,
        filename: str,
        model: str | None = None,
        version: str | None = None,
        batch_id: str | None = None,
    ) -> FeedbackReceipt:
        # a batch is counted once however often it is sent (its id: given, or its content's hash)
        form = _given({"model": model, "version": version, "batch_id": batch_id}) or None
        response = self._send(
            "POST", "/v1/feedback/upload", files={"file": (filename, data)}, data=form, repeatable=True
        )
        return _parse(response, FeedbackReceipt)

    def alerts(self, history: int = 100) -> AlertsOverview:
        return _parse(self._send("GET", "/v1/alerts", params={"history": history}), AlertsOverview)

    def alert_rules(self) -> list[AlertRule]:
        return self._items("/v1/alerts/rules", AlertRule)

    def add_alert_rule(self, rule: AlertRuleSpec) -> AlertRule:
        body = rule.model_dump(mode="json")
        return _parse(self._send("POST", "/v1/alerts/rules", json=body, repeatable=True), AlertRule)

    def remove_alert_rule(self, name: str) -> AlertRule:
        return _parse(self._send("DELETE", f"/v1/alerts/rules/{_segment(name)}"), AlertRule)

    # --- targets ----------------------------------------------------------------------------------

    def register_target(
        self, target_id: str, sequence: str, name: str | None = None, organism: str | None = None
    ) -> TargetRegistration:
        body = {"sequence": sequence, "name": name, "organism": organism}
        return _parse(self._send("PUT", f"/v1/targets/{_segment(target_id)}", json=body), TargetRegistration)

    def targets(self) -> list[TargetSummary]:
        return self._items("/v1/targets", TargetSummary)

    def target(self, target_id: str) -> TargetDetail:
        return _parse(self._send("GET", f"/v1/targets/{_segment(target_id)}"), TargetDetail)

    # --- scoring ----------------------------------------------------------------------------------

    def predict(self, pairs: list[Mapping[str, str]], model: str | None = None) -> Prediction:
        """``pairs``: ``{"smiles": …, "target": …}`` or ``{"smiles": …, "sequence": …}``, up to 1,000;
        no ``model``: the gateway's default model."""
        body = _given({"model": model, "pairs": [dict(p) for p in pairs]})
        return _parse(self._send("POST", "/v1/predict", json=body, repeatable=True), Prediction)

    def explain(
        self, smiles: str | None, target: str, model: str | None, top: int, compound: str | None = None
    ) -> ExplanationOut:
        """One pair; the compound is a SMILES or a library compound id (``compound``)."""
        body = _given({"smiles": smiles, "compound": compound, "target": target, "model": model, "top": top})
        return _parse(self._send("POST", "/v1/explain", json=body, repeatable=True), ExplanationOut)

    def profile(self, smiles: str | None, model: str | None, top: int, compound: str | None = None) -> CompoundProfile:
        """Every registered target for a SMILES or a library compound id (``compound``)."""
        body = _given({"smiles": smiles, "compound": compound, "model": model, "top": top})
        return _parse(self._send("POST", "/v1/profile", json=body, repeatable=True), CompoundProfile)

    # --- screening --------------------------------------------------------------------------------

    def register_library(self, data: bytes, filename: str, name: str | None = None) -> LibraryRegistration:
        form = {"name": name} if name else None
        response = self._send("POST", "/v1/libraries", files={"file": (filename, data)}, data=form, repeatable=True)
        return _parse(response, LibraryRegistration)

    def libraries(self) -> list[LibrarySummary]:
        return self._items("/v1/libraries", LibrarySummary)

    def library(self, reference: str) -> LibraryDetail:
        return _parse(self._send("GET", f"/v1/libraries/{_segment(reference)}"), LibraryDetail)

    def submit_screen(self, request: ScreenRequest, idempotency_key: str | None = None) -> ScreenDetail:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body = request.model_dump(mode="json", exclude_none=True)
        return _parse(self._send("POST", "/v1/screens", json=body, headers=headers), ScreenDetail)

    def screens(self) -> list[ScreenSummary]:
        return self._items("/v1/screens", ScreenSummary)

    def screen(self, reference: str) -> ScreenDetail:
        return _parse(self._send("GET", f"/v1/screens/{_segment(reference)}"), ScreenDetail)

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
        """The best ``top`` per target; with ``every``, the page of every score from ``offset``."""
        params = _results_params(target, top, every)
        if every:
            params.update({"offset": offset, **({"limit": limit} if limit is not None else {})})
        response = self._send("GET", f"/v1/screens/{_segment(reference)}/results", params=params)
        return _parse(response, ScreenResults)

    def download_screen_results(
        self,
        reference: str,
        sink: IO[bytes],
        file_format: Literal["csv", "parquet"],
        target: str | None = None,
        top: int | None = None,
        *,
        every: bool = True,
    ) -> bool:
        """Stream the results as CSV or Parquet into ``sink`` (every score unless ``top``); whether
        the job had finished (False: the ranks are among the chunks done so far)."""
        params = {**_results_params(target, top, every), "format": file_format}
        path = f"/v1/screens/{_segment(reference)}/results"
        for attempt in range(MAX_RETRIES + 1):
            try:
                with self._http.stream("GET", path, params=params) as response:
                    if response.status_code == 200:
                        for piece in response.iter_bytes():
                            sink.write(piece)
                        return response.headers.get(COMPLETE_HEADER, "true") != "false"
                    response.read()
            except httpx.TimeoutException:
                raise GatewayError(f"the gateway at {self.url} did not answer GET {path} in time", status=0) from None
            except httpx.HTTPError as error:
                raise GatewayError(f"cannot reach the gateway at {self.url}: {error}", status=0) from None
            if response.status_code in RETRIED_STATUSES and attempt < MAX_RETRIES:  # a GET: safe to send again
                self._sleep(_retry_after(response))
                continue
            raise _error_of(response)
        raise AssertionError("unreachable")

    def cancel_screen(self, reference: str) -> ScreenDetail:
        return _parse(self._send("DELETE", f"/v1/screens/{_segment(reference)}"), ScreenDetail)

    # --- keys -------------------------------------------------------------------------------------

    def create_key(self, role: str, name: str | None = None) -> IssuedKey:
        return _parse(self._send("POST", "/v1/keys", json={"role": role, "name": name}), IssuedKey)

    def keys(self) -> list[ApiKeySummary]:
        return self._items("/v1/keys", ApiKeySummary)

    def revoke_key(self, key_id: str) -> ApiKeySummary:
        return _parse(self._send("DELETE", f"/v1/keys/{_segment(key_id)}"), ApiKeySummary)

    # --- transport --------------------------------------------------------------------------------

    def _items(self, path: str, item: type[M]) -> list[M]:
        response = self._send("GET", path)
        try:
            items = response.json()["items"]
            return TypeAdapter(list[item]).validate_python(items)  # type: ignore[valid-type]
        except (ValueError, KeyError, TypeError, ValidationError) as error:
            raise _unexpected_body(response, error) from None

    def _send(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200, 201),
        repeatable: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; 429 and 503 are retried after Retry-After. ``repeatable``: whether the
        request may be sent again after a 503 (None: GET, PUT, DELETE and requests carrying an
        Idempotency-Key may; a POST that acts, e.g. a rollback, must not)."""
        for attempt in range(MAX_RETRIES + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TimeoutException:
                message = f"the gateway at {self.url} did not answer {method} {path} in time"
                raise GatewayError(message, status=0) from None
            except httpx.HTTPError as error:
                raise GatewayError(f"cannot reach the gateway at {self.url}: {error}", status=0) from None
            if response.status_code in ok:
                return response
            if _may_retry(method, response.status_code, kwargs, repeatable) and attempt < MAX_RETRIES:
                self._sleep(_retry_after(response))
                continue
            raise _error_of(response)
        raise AssertionError("unreachable")


def _may_retry(method: str, status: int, request: dict[str, Any], repeatable: bool | None) -> bool:
    """429 refuses a request before it acts: always safe to send again. A 503 may come after a
    grain acted, so only a request that acts once however often it is sent goes again."""
    if status == 429:
        return True
    if status not in RETRIED_STATUSES:
        return False
    if repeatable is not None:
        return repeatable
    headers = request.get("headers") or {}
    return method in IDEMPOTENT_METHODS or "Idempotency-Key" in headers


def _results_params(target: str | None, top: int | None, every: bool) -> dict[str, Any]:
    params: dict[str, Any] = {k: v for k, v in (("target", target), ("top", top)) if v is not None}
    if every:
        params["all"] = "true"
    return params


def _segment(value: str) -> str:
    """One path segment, escaped: a typo with '/' or '?' in it must not reach another route."""
    return quote(value, safe="")


def _given(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without the fields left out (the gateway fills in its defaults)."""
    return {k: v for k, v in body.items() if v is not None}


def _parse(response: httpx.Response, model: type[M]) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as error:
        raise _unexpected_body(response, error) from None


def _retry_after(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RETRY_WAIT_SECONDS)


def _error_of(response: httpx.Response) -> GatewayError:
    """The gateway's error body as a GatewayError; a body of another shape (a proxy's page) as its status."""
    status = response.status_code
    try:
        body = response.json()
        code, message = str(body["code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
        return GatewayError(f"the gateway answered {status}: {text}", status=status)
    if status == 401:
        message = f"the gateway refused the API key: {message} (give --key or REPURPOSE_KEY)"
    elif status == 403:
        message = f"the API key may not do this: {message}"
    return GatewayError(message, status=status, code=code, field=body.get("field"), request_id=body.get("request_id"))


def _unexpected_body(response: httpx.Response, error: Exception) -> GatewayError:
    first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    return GatewayError(
        f"the gateway's answer to {response.request.method} {response.request.url.path} is not what this "
        f"client expects ({first}); is it a Repurpose gateway of the same version?",
        status=response.status_code,
    )
