"""API keys at the boundaries: roles, what lists show of a key, a key just made, and key ids.

A key reads ``rp_<id>_<secret>``: ``id`` is 12 hex digits (public: it names the key in lists,
logs and ``keys revoke``), ``secret`` 43 URL-safe characters. The ApiKey grain
(``repurpose.actors.api_key``) stores only the secret's hash.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal, get_args

from pydantic import Field

from repurpose.contracts.base import Contract
from repurpose.contracts.ids import API_KEY_ID_PATTERN, API_KEY_PATTERN
from repurpose.errors import InvalidInput

MAX_KEY_NAME_LENGTH = 100

Role = Literal["admin", "scientist", "reader"]
ROLES: tuple[Role, ...] = get_args(Role)


class ApiKeySummary(Contract):
    """A key as lists show it: never its secret."""

    key_id: str
    role: Role
    name: str | None = None
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class IssuedKey(Contract):
    """A key just made: the only time its full text exists outside the caller."""

    key: str = Field(description="rp_<id>_<secret>: keep it secret, it is not shown again.")
    summary: ApiKeySummary


def parse_key(text: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else None."""
    match = re.match(API_KEY_PATTERN, text.strip()) if isinstance(text, str) else None
    return (match["id"], match["secret"]) if match else None


def check_key_id(key_id: str) -> str:
    """A key id (12 hex digits); a whole key is accepted too and gives its id."""
    parsed = parse_key(key_id) if isinstance(key_id, str) else None
    if parsed is not None:
        return parsed[0]
    if not isinstance(key_id, str) or not re.match(API_KEY_ID_PATTERN, key_id):
        raise InvalidInput(f"{key_id!r:.40} is not an API key id (12 hex digits, as `repurpose keys list` shows)")
    return key_id
