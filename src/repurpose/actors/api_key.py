"""API keys: the ApiKey grain (kind ``"api-key"``, key = the key's public id) and its lifecycle.

A key reads ``rp_<id>_<secret>``: ``id`` is 12 hex digits (public: it names the key in lists,
logs and ``keys revoke``), ``secret`` 43 URL-safe characters (256 random bits). Only the
secret's sha256 is stored, never the secret; it is shown once, when the key is made. A salted,
slow hash (bcrypt, argon2) protects guessable passwords; a 256-bit random secret cannot be
guessed, so one fast hash is enough and keeps checking a key cheap. The comparison is
constant-time (``hmac.compare_digest``).

Why a grain kind rather than a table of its own: a key is a small entity with one writer at a
time (create, revoke), which is exactly what grains give, written through with optimistic
versions on SQLite and PostgreSQL alike, with no migration, and reached by the CLI the way
every other entity is. The gateway checks a presented key by reading the key's stored state by
primary key (``load_key``), not by calling the grain: a stream of made-up ids must not fill a
host with activations, and the grain writes through before it answers, so the store is never
behind it. A replica trusts a checked key for ``settings.gateway_key_cache_seconds``: that is how
long a revocation takes to reach every replica.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from pydantic import BaseModel
from sqlalchemy import Engine

from repurpose.contracts.keys import (
    MAX_KEY_NAME_LENGTH,
    ROLES,
    ApiKeySummary,
    Role,
    check_key_id,
)
from repurpose.errors import ApiKeyNotFound, ConflictError, InvalidInput
from repurpose.grains import Grain, grain
from repurpose.plain_text import check_plain_text
from repurpose.store import list_states, load_state

KIND = "api-key"
PREFIX = "rp"


class ApiKeyState(BaseModel):
    role: Role | None = None  # None: never created
    name: str | None = None
    secret_sha256: str = ""
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


@grain(KIND)
class ApiKey(Grain[ApiKeyState]):
    """One API key: its role, the hash of its secret, and whether it was revoked."""

    def create(self, role: Role, secret_sha256: str, name: str | None = None) -> ApiKeySummary:
        """Store a new key; ConflictError if this id exists (the caller draws another id)."""
        check_key_id(self.key)
        if self.state.role is not None:
            raise ConflictError(f"API key id {self.key} is taken")
        if role not in ROLES:
            raise InvalidInput(f"{role!r:.40} is not a role: use one of {', '.join(ROLES)}")
        if not re.fullmatch(r"[0-9a-f]{64}", str(secret_sha256)):
            raise InvalidInput("an API key's secret is stored as its sha256 (64 hex digits)")
        self.state = ApiKeyState(
            role=role, name=_check_name(name), secret_sha256=secret_sha256, created_at=dt.datetime.now(dt.UTC)
        )
        return self._summary()

    def revoke(self) -> ApiKeySummary:
        """Revoke the key for good (again: no change)."""
        self._created()
        if self.state.revoked_at is None:
            self.state.revoked_at = dt.datetime.now(dt.UTC)
        return self._summary()

    def summary(self) -> ApiKeySummary:
        return self._summary()

    def _created(self) -> ApiKeyState:
        if self.state.role is None:
            raise ApiKeyNotFound(f"no API key {self.key}", key_id=self.key)
        return self.state

    def _summary(self) -> ApiKeySummary:
        return _summary_of(self.key, self._created())


def _summary_of(key_id: str, state: ApiKeyState) -> ApiKeySummary:
    assert state.role is not None and state.created_at is not None
    return ApiKeySummary(
        key_id=key_id, role=state.role, name=state.name, created_at=state.created_at, revoked_at=state.revoked_at
    )


# --- making, parsing and checking keys -----------------------------------------------------------


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_sha256: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret).encode(), stored_sha256.encode())


def draw_key() -> tuple[str, str]:
    """A fresh (key id, secret): 48 and 256 random bits."""
    return secrets.token_hex(6), secrets.token_urlsafe(32)


def check_role_and_name(role: str, name: str | None) -> str | None:
    if role not in ROLES:
        raise InvalidInput(f"{role!r:.40} is not a role: use one of {', '.join(ROLES)}")
    return _check_name(name)


def list_keys(engine: Engine) -> list[ApiKeySummary]:
    """Every key ever made (revoked ones too), oldest first."""
    keys = []
    for stored in list_states(engine, KIND):
        state = ApiKeyState.model_validate(stored.state)
        if state.role is not None:
            keys.append(_summary_of(stored.key, state))
    return sorted(keys, key=lambda k: (k.created_at, k.key_id))


def load_key(engine: Engine, key_id: str) -> ApiKeyState | None:
    """The stored state of key ``key_id`` (None if it was never made): what the gateway checks."""
    stored = load_state(engine, KIND, key_id)
    if stored is None:
        return None
    state = ApiKeyState.model_validate(stored[1])
    return state if state.role is not None else None


def _check_name(name: str | None) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or len(name.strip()) > MAX_KEY_NAME_LENGTH:
        raise InvalidInput(f"a key's name is text of at most {MAX_KEY_NAME_LENGTH} characters")
    return check_plain_text(name.strip(), "key name") or None
