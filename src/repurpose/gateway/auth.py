"""Who is calling and what they may do: API keys checked at the door, roles checked per route.

Every ``/v1`` request carries a key, as ``Authorization: Bearer rp_…`` or ``X-API-Key: rp_…``.
``AuthMiddleware`` checks it before anything reads the request body: missing, malformed,
unknown, wrong or revoked keys get 401 (with ``WWW-Authenticate: Bearer``). The caller, a
``Principal``, goes into the request's state; each route then demands a permission through
``allow`` (its dependency in ``deps``), and a role without it gets 403; for uploads the
middleware checks the role too, so a refused upload is refused before its body is read.

    role        read   score   write   manage
    reader       ✓       ✓
    scientist    ✓       ✓       ✓
    admin        ✓       ✓       ✓       ✓

write: datasets, training, targets, screens, evaluations, feedback; manage: stages, keys, alert rules.

With ``settings.gateway_auth`` off (``repurpose up --no-auth``, local development only) every
request acts as an admin, named by its client address for rate limiting.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from repurpose.actors.api_key import ApiKeyState, load_key, secret_matches
from repurpose.contracts.keys import Role, parse_key
from repurpose.gateway.auth_failures import FailedAuthLimiter
from repurpose.gateway.errors import error_response
from repurpose.gateway.paths import route_path

API_PREFIX = "/v1"
_MAX_CACHED_KEYS = 10_000
_MAX_UNKNOWN_KEYS = 10_000
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class Permission(StrEnum):
    READ = "read"
    SCORE = "score"
    WRITE = "write"
    MANAGE = "manage"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "reader": frozenset({Permission.READ, Permission.SCORE}),
    "scientist": frozenset({Permission.READ, Permission.SCORE, Permission.WRITE}),
    "admin": frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    """The caller of a request."""

    subject: str  # "key:<id>", or "client:<address>" when auth is off: what rate limits count by
    role: Role
    key_id: str | None = None

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]


class Unauthorized(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyVerifier:
    """Checks presented keys against the store, trusting a checked key for ``cache_seconds``.

    Ids found unknown are remembered apart, for as long: a stream of made-up ids neither reaches
    the store twice for one id nor pushes the keys in use out of the cache."""

    def __init__(self, engine: Engine, cache_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[str, tuple[float, ApiKeyState]] = {}
        self._unknown: dict[str, float] = {}

    async def principal(self, presented: str, *, lookup: bool = True) -> Principal:
        """The caller ``presented`` names; Unauthorized if it names none. ``lookup`` False: only keys
        in the cache are checked (an address past its failed-authentication limit)."""
        parsed = parse_key(presented)
        if parsed is None:
            raise Unauthorized(
                "malformed API key: keys read rp_<12 hex digits>_<secret>, as `repurpose keys create` prints"
            )
        key_id, secret = parsed
        state = await self._state(key_id, lookup)
        if state is None or state.role is None:
            raise Unauthorized(f"unknown API key {key_id}: make one with `repurpose keys create --role ROLE`")
        if not secret_matches(secret, state.secret_sha256):
            raise Unauthorized(f"wrong secret for API key {key_id}")
        if state.revoked_at is not None:
            raise Unauthorized(f"API key {key_id} was revoked on {state.revoked_at:%Y-%m-%d %H:%M} UTC")
        return Principal(subject=f"key:{key_id}", role=state.role, key_id=key_id)

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)
        self._unknown.pop(key_id, None)

    async def _state(self, key_id: str, lookup: bool = True) -> ApiKeyState | None:
        now = self.clock()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        unknown_since = self._unknown.get(key_id)
        if unknown_since is not None and now - unknown_since < self.cache_seconds:
            return None
        if not lookup:
            raise Unauthorized(f"API key {key_id} was not checked: too many failed authentications")
        state = await asyncio.to_thread(load_key, self.engine, key_id)
        if state is None:
            if len(self._unknown) >= _MAX_UNKNOWN_KEYS:
                self._unknown.clear()
            self._unknown[key_id] = now
            return None
        if len(self._cache) >= _MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[key_id] = (now, state)
        return state


class AuthMiddleware:
    """401 for ``/v1`` requests without a valid key; puts the ``Principal`` in the request state."""

    def __init__(
        self, app: ASGIApp, *, verifier: KeyVerifier, enabled: bool, failures: FailedAuthLimiter | None = None
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.enabled = enabled
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _guarded(scope):
            await self.app(scope, receive, send)
            return
        if not self.enabled:
            client = scope.get("client") or ("local", 0)
            principal = Principal(subject=f"client:{client[0]}", role="admin")
        else:
            presented = presented_key(Headers(scope=scope))
            address = _address(scope)
            wait = self.failures.wait_for(address) if self.failures is not None else 0.0
            try:
                if presented is None:
                    raise Unauthorized(
                        "missing API key: send it as `Authorization: Bearer rp_…` (or `X-API-Key: rp_…`)"
                    )
                principal = await self.verifier.principal(presented, lookup=wait <= 0)
            except Unauthorized as refusal:
                if wait > 0:  # past the limit: refused without a store lookup, and not counted again
                    await self._too_many_failures(address, wait)(scope, receive, send)
                    return
                if self.failures is not None:
                    self.failures.failed(address)
                await error_response(401, "unauthorized", refusal.message, headers=_CHALLENGE)(scope, receive, send)
                return
            except SQLAlchemyError as error:
                message = f"the store did not answer while checking the API key ({type(error).__name__}); retry"
                await error_response(503, "unavailable", message, headers={"Retry-After": "1"})(scope, receive, send)
                return
        needed = _UPLOADS.get((scope.get("method", ""), route_path(scope)))
        if needed is not None and not principal.may(needed):
            # An upload's role is checked here, at the door: the route's own check would come
            # only after its (up to gateway_max_upload_bytes) body had been received.
            await error_response(403, "forbidden", _refusal(principal, needed))(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _too_many_failures(self, address: str, wait: float) -> ASGIApp:
        assert self.failures is not None
        seconds = max(1, math.ceil(wait))
        message = (
            f"too many failed authentications from {address}: {self.failures.max_failures} within "
            f"{self.failures.window_seconds:g} s; retry in {seconds} s with a valid API key"
        )
        return error_response(429, "rate_limited", message, headers={"Retry-After": str(seconds)})


def _address(scope: Scope) -> str:
    """The client's address, which failed authentications count against."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def presented_key(headers: Headers) -> str | None:
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


def principal_of(request: Request) -> Principal | None:
    principal = request.scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else None


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key (rp_<id>_<secret>) from `repurpose keys create`; X-API-Key works too.",
)


def allow(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the request's Principal, if its role has ``permission`` (else 403). A coroutine:
    FastAPI would run a plain function on its thread pool, a thread hop on every request."""

    async def dependency(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None
    ) -> Principal:
        principal = principal_of(request)
        if principal is None:  # only a route outside /v1 can get here: a programming mistake
            raise HTTPException(401, "missing API key", headers=_CHALLENGE)
        if not principal.may(permission):
            raise HTTPException(403, _refusal(principal, permission))
        return principal

    dependency.__name__ = f"allow_{permission.value}"
    return dependency


def _refusal(principal: Principal, permission: Permission) -> str:
    return (
        f"the {principal.role} role may not {permission.value} here: "
        f"ask an admin for a key with a role that may (roles: reader < scientist < admin)"
    )


_UPLOADS: dict[tuple[str, str], Permission] = {
    ("POST", f"{API_PREFIX}/datasets"): Permission.WRITE,
    ("POST", f"{API_PREFIX}/libraries"): Permission.WRITE,
    ("POST", f"{API_PREFIX}/feedback/upload"): Permission.WRITE,
}
"""Routes whose bodies are uploads: the role is checked before the body is read."""


def _guarded(scope: Scope) -> bool:
    path = route_path(scope)
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")
