"""Errors at the HTTP edge: one JSON body for every error, and the status each error class gets.

Every error answer is an ``ErrorBody``: a stable ``code`` (the domain error's ``code``, or one
of the gateway's own below), a message that says what to fix, the field at fault when there is
one, every field at fault for a refused request body, and the request id.

    domain error (repurpose.errors)          status
    TableTooLarge                             413  (an upload with more rows or columns than accepted)
    InvalidInput and subclasses               422  (the field named when known)
    NotFound and subclasses                   404  (the message names the unknown id)
    ConflictError and subclasses              409  (a target id with another sequence, a stale write…)
    ClusterError, GrainUnavailable            503  (and Ray or Serve being unreachable; ClusterBusy: Retry-After)
    anything else                             500  (a bug: logged with its traceback)

A body that cannot be decoded at all (not UTF-8 JSON, a broken multipart form), which FastAPI
answers with 400, is a 422 too. The gateway's own codes: ``unauthorized`` 401, ``forbidden``
403, ``not_found`` 404 (no such route), ``method_not_allowed`` 405, ``body_too_large`` 413,
``rate_limited`` 429 and ``invalid_input`` 422 (or the domain code a validator raised, e.g.
``invalid_smiles``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from repurpose.errors import (
    ClusterError,
    ConflictError,
    GrainUnavailable,
    InvalidInput,
    NotFound,
    RepurposeError,
    TableTooLarge,
)
from repurpose.errors import blame as blame  # the routes' import: services name fields too
from repurpose.gateway.json_errors import json_problem
from repurpose.gateway.request_ids import HEADER as REQUEST_ID_HEADER
from repurpose.gateway.request_ids import current_request_id

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    503: "unavailable",
}


class FieldError(BaseModel):
    field: str = Field(description="Where: a body path like pairs[2].smiles, or a query/path parameter's name.")
    message: str


class ErrorBody(BaseModel):
    """What every error answer holds."""

    code: str = Field(description="Stable and machine-readable, e.g. invalid_smiles, target_conflict, rate_limited.")
    message: str = Field(description="What went wrong and what to do about it.")
    field: str | None = Field(default=None, description="The (first) field at fault, when one is.")
    errors: list[FieldError] = Field(default_factory=list, description="Every field at fault (refused bodies).")
    request_id: str | None = Field(default=None, description="Also in the X-Request-ID header and the logs.")


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    body = ErrorBody(
        code=code,
        message=message,
        field=field,
        errors=list(errors),
        request_id=request_id or current_request_id() or None,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=dict(headers or {}))


def status_of(error: RepurposeError) -> int:
    if isinstance(error, TableTooLarge):
        return 413
    if isinstance(error, InvalidInput):
        return 422
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, ClusterError | GrainUnavailable):
        return 503
    return 500


def responses(
    *statuses: int, also: Mapping[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: an ErrorBody for each status, and the entries in ``also``."""
    entries: dict[int | str, dict[str, Any]] = dict(also or {})
    for status in statuses:
        entries[status] = {"model": ErrorBody, "description": _DESCRIPTIONS.get(status, "Error")}
    return entries


_DESCRIPTIONS = {
    401: "No API key, or an unknown, malformed or revoked one",
    403: "The key's role does not allow this",
    404: "No such entity (the message names the id)",
    409: "Conflicts with what is stored",
    413: "The request body is larger than the gateway accepts",
    422: "Invalid input (the field is named)",
    429: "Rate limited: retry after the Retry-After header's seconds",
    503: "A part of the cluster is unavailable; retry later",
}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RepurposeError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    for cls in _unavailable_errors():
        app.add_exception_handler(cls, _unavailable)
    app.add_exception_handler(Exception, _unexpected)


async def _domain_error(request: Request, error: RepurposeError) -> JSONResponse:
    status = status_of(error)
    if status == 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, error.message, exc_info=error)
    retry_after = getattr(error, "retry_after", None)  # ClusterBusy: when the cluster may have room again
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return error_response(status, error.code, error.message, field=getattr(error, "field", None), headers=headers)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    broken = next((e for e in error.errors() if e.get("type") == "json_invalid"), None)
    if broken is not None:  # its loc is ("body", offset): say where in words instead of "[222]"
        loc, reason = broken.get("loc", ()), str((broken.get("ctx") or {}).get("error", ""))
        message = json_problem(error.body, loc[-1] if loc else None, reason)
        return error_response(
            422, "invalid_input", message, field="body", errors=[FieldError(field="body", message=message)]
        )
    fields = [FieldError(field=_field_name(e["loc"]), message=_message(e)) for e in error.errors()]
    first = error.errors()[0] if error.errors() else {}
    kind = str(first.get("type", ""))
    code = kind if kind in _domain_codes() else "invalid_input"
    if fields:
        message = f"{fields[0].field}: {fields[0].message}"
        if len(fields) > 1:
            message += f" (and {len(fields) - 1} more problem{'s' if len(fields) > 2 else ''}, listed in errors)"
    else:
        message = "the request is invalid"
    return error_response(422, code, message, field=fields[0].field if fields else None, errors=fields)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    status, headers, message = error.status_code, dict(error.headers or {}), str(error.detail)
    if status == 400:  # FastAPI's and Starlette's answer to a body they cannot decode: refused input
        kind = request.headers.get("content-type", "no content type").split(";")[0]
        message = f"body: the request body cannot be read as {kind} ({message.rstrip('.')})"
        return error_response(422, "invalid_input", message, field="body")
    if status == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}: see /docs for the API"
    elif status == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        message = f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allowed)}"
    return error_response(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)  # PARTIAL: the path matches, the method does not
        if match != Match.NONE and isinstance(route, APIRoute):
            methods |= route.methods or set()
    return sorted(methods)


async def _unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("%s %s: cluster unavailable: %s", request.method, request.url.path, error)
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return error_response(
        503,
        "unavailable",
        f"a part of the cluster is unavailable ({first}); retry shortly",
        headers={"Retry-After": "1"},
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # Starlette runs this outermost, after the request id middleware has finished: take the id
    # from the request (Serve's proxy puts it there).
    request_id = current_request_id() or request.headers.get(REQUEST_ID_HEADER, "")
    logger.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=error)
    return error_response(
        500,
        "internal_error",
        f"the gateway failed unexpectedly ({type(error).__name__}); report request id {request_id}",
        request_id=request_id,
    )


def _field_name(loc: Sequence[Any]) -> str:
    """``("body", "pairs", 2, "smiles")`` → ``pairs[2].smiles``; ``("query", "top")`` → ``top``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie") and len(parts) > 1:
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def _message(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    given = error.get("input")
    if error.get("type") in _STRICT_TYPES and isinstance(given, str):  # bodies are strict: "5" is not 5
        message += f", not the string {given!r:.40}: send it without quotes"
    return message


_STRICT_TYPES = frozenset({"int_type", "float_type", "bool_type"})


def _all_subclasses(cls: type[RepurposeError]) -> list[type[RepurposeError]]:
    out: list[type[RepurposeError]] = []
    for sub in cls.__subclasses__():
        out.extend([sub, *_all_subclasses(sub)])
    return out


def _domain_codes() -> frozenset[str]:
    """The codes of InvalidInput and its subclasses: validators raise them as pydantic error types."""
    classes: list[type[RepurposeError]] = [InvalidInput, *_all_subclasses(InvalidInput)]
    return frozenset(cls.code for cls in classes)


def _unavailable_errors() -> list[type[Exception]]:
    """Ray's and Serve's errors for a part of the cluster that is down or overloaded."""
    from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError
    from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, RayServeException

    return [
        RayActorError,  # a replica or grain host died (ActorDiedError) and did not come back
        ActorUnavailableError,
        GetTimeoutError,
        BackPressureError,
        DeploymentUnavailableError,
        RayServeException,
    ]
