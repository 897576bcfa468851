"""Limits: a token bucket per caller (429 with ``Retry-After``) and request body sizes (413).

Rates are per API key (per client address with auth off) and per gateway replica: each bucket
holds ``settings.gateway_rate_burst`` tokens and refills at ``gateway_rate_per_second``; a
request takes one. With N replicas a key may reach N times the rate.

Bodies: ``settings.gateway_max_body_bytes`` for JSON requests, ``gateway_max_upload_bytes`` for
the file-upload routes. A declared ``Content-Length`` over the limit is refused before anything
is read; a body sent without one is counted as it arrives and refused when it passes the limit.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repurpose.gateway.auth import Principal
from repurpose.gateway.errors import error_response
from repurpose.gateway.paths import route_path

_MAX_BUCKETS = 100_000


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float  # capacity
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """One token bucket per subject (an API key, or a client address with auth off)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def wait_for(self, subject: str) -> float:
        """0.0 if ``subject`` may go now, else how many seconds until it may."""
        now = self.clock()
        bucket = self._buckets.get(subject)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._drop_full(now)
            bucket = self._buckets[subject] = TokenBucket(self.rate, self.burst, self.burst, now)
        return bucket.take(now)

    def _drop_full(self, now: float) -> None:
        """Forget buckets that have refilled (they hold nothing a new bucket would not)."""
        full = [s for s, b in self._buckets.items() if b.tokens + (now - b.updated) * b.rate >= b.burst]
        for subject in full:
            del self._buckets[subject]
        if len(self._buckets) >= _MAX_BUCKETS:
            self._buckets.clear()


class RateLimitMiddleware:
    """429 with ``Retry-After`` when the caller's bucket is empty (callers the auth middleware named)."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("state", {}).get("principal") if scope["type"] == "http" else None
        if isinstance(principal, Principal):
            wait = self.limiter.wait_for(principal.subject)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                message = (
                    f"rate limit reached: {self.limiter.rate:g} requests/s with bursts of {self.limiter.burst:g} "
                    f"per API key; retry in {seconds} s"
                )
                response = error_response(429, "rate_limited", message, headers={"Retry-After": str(seconds)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, upload_advice: str | None) -> None:
        what, advice = (
            ("for an upload (gateway_max_upload_bytes)", upload_advice)
            if upload_advice is not None
            else ("(gateway_max_body_bytes)", "send fewer pairs per request")
        )
        super().__init__(413, f"the request body is larger than the {limit:,} bytes accepted {what}; {advice}")


class BodyLimitMiddleware:
    """413 for bodies over the limit: the upload limit on ``upload_paths``, the JSON one elsewhere.

    ``upload_paths`` maps route templates (``/v1/models/{name}/versions/{version}/retrieval``: a
    ``{…}`` matches one path segment) to what the 413 tells the caller to do instead."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int, upload_paths: Mapping[str, str]) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.upload_paths = [(_route_pattern(template), advice) for template, advice in upload_paths.items()]

    def upload_advice(self, path: str) -> str | None:
        """What to do with too large a file on ``path`` (a route path); None: not an upload route."""
        path = path.rstrip("/")
        return next((advice for pattern, advice in self.upload_paths if pattern.fullmatch(path)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        advice = self.upload_advice(route_path(scope))
        limit = self.max_upload if advice is not None else self.max_body
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await error_response(413, "body_too_large", BodyTooLarge(limit, advice).detail)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, advice)  # FastAPI passes an HTTPException on to the handlers
            return message

        await self.app(scope, counting_receive, send)


def _route_pattern(template: str) -> re.Pattern[str]:
    """``/v1/models/{name}/retrieval`` as a regular expression: each ``{…}`` one path segment."""
    parts = re.split(r"(\{[^/{}]+\})", template.rstrip("/"))
    return re.compile("".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
