"""Request ids: one per request, in the ``X-Request-ID`` response header, every error body and log line.

Behind Ray Serve the proxy gives every request an id (the client's ``X-Request-ID`` if it sent
one) and puts it on the response itself; the gateway reads that id so its logs, error bodies
and Serve's own replica logs all name the same one. Run on its own (``create_app(...,
standalone=True)``), the gateway makes the id and sets the header.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
MAX_LENGTH = 128
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("repurpose_request_id", default="")


def current_request_id() -> str:
    """The id of the request being handled ("" outside one)."""
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Takes the request's id (or makes one) for the whole request; sets the header when standalone."""

    def __init__(self, app: ASGIApp, *, set_header: bool) -> None:
        self.app = app
        self.set_header = set_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = MutableHeaders(scope=scope).get(HEADER, "")
        request_id = given if _SAFE.match(given) else new_request_id()
        token = _request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start" and self.set_header:
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id if self.set_header else send)
        finally:
            _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Gives every log record a ``request_id`` attribute ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id() or "-"
        return True


def install_log_request_ids(logger_name: str = "repurpose") -> None:
    """Make ``logger_name``'s records (its children's too) carry the request id.

    Inside a Serve replica, Serve's own handlers (on the ``ray.serve`` logger) write every line
    with the request id of Serve's request context, which is this id: our records are handed to
    the same handlers. Elsewhere a stderr handler prints ``request_id=...`` on every line.
    """
    ours = logging.getLogger(logger_name)
    if getattr(ours, "_request_ids_installed", False):
        return
    handlers = list(logging.getLogger("ray.serve").handlers)
    if not handlers:
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s")
        )
        handlers = [handler]
    for handler in handlers:
        handler.addFilter(RequestIdFilter())  # handler filters see the children's records too
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False
    ours._request_ids_installed = True  # type: ignore[attr-defined]
