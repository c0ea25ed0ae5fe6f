"""API keys, roles and scopes: who may see and change what.

A key reads `sk_<id>_<secret>`; the state file keeps the id and sha256(secret) only (the
secret is 256 random bits, so a plain hash is as good as a slow one and keeps every request
cheap). Roles: admin (scope `*`), park_manager (a park name), enterprise and recycler (an
enterprise id). Out-of-scope requests get 403 whether or not the thing exists, so a key
learns nothing about what it may not see.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from symbiosis.api.server.errors import ApiError
from symbiosis.api.server.state import ApiKey, StateStore

__all__ = ["KEY_PATTERN", "Principal", "Role", "authenticate", "issue_key", "split_key"]

KEY_PATTERN = re.compile(r"^sk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class Role(StrEnum):
    """What a key is for."""

    admin = "admin"
    park_manager = "park_manager"
    enterprise = "enterprise"
    recycler = "recycler"


@dataclass(frozen=True)
class Principal:
    """The caller behind a request: its key id, role and scope."""

    key_id: str
    role: Role
    scope: str
    label: str
    subject: str | None = None  # a party key's enterprise identity (store uid)

    @property
    def is_admin(self) -> bool:
        """Region-wide rights."""
        return self.role is Role.admin

    @property
    def is_party_role(self) -> bool:
        """An enterprise or recycling firm acting for itself."""
        return self.role in (Role.enterprise, Role.recycler)

    def sees_enterprise(self, enterprise: dict[str, Any] | None) -> bool:
        """May this key see (and, with the right role, edit) this enterprise row?"""
        if enterprise is None:
            return self.is_admin
        if self.is_admin:
            return True
        if self.role is Role.park_manager:
            return enterprise.get("park") == self.scope
        return enterprise.get("id") == self.scope

    def sees_park(self, park: str | None) -> bool:
        """May this key see a park (None = the whole region)?"""
        return self.is_admin or (self.role is Role.park_manager and park == self.scope)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    m = KEY_PATTERN.match(key.strip())
    return (m.group(1), m.group(2)) if m else None


def issue_key(state: StateStore, role: Role, scope: str, label: str,
              key: str | None = None, subject: str | None = None) -> tuple[str, ApiKey]:
    """Create a key (or adopt the given well-formed `key`); returns the key text, shown once,
    and its stored record. `subject`: for an enterprise or recycler key, the internal
    identity (store uid) of the enterprise `scope` names now: the key acts for that
    enterprise only, never for a later holder of the same display id."""
    if key is None:
        key = f"sk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    parts = split_key(key)
    if parts is None:
        raise ValueError("a key must look like sk_<12 hex digits>_<43 URL-safe characters>")
    key_id, secret = parts
    return key, state.add_key(key_id, _digest(secret), str(role), scope, label, subject)


def authenticate(state: StateStore, header_value: str | None) -> Principal:
    """The principal of an `Authorization: Bearer …` / `X-API-Key` value, or 401."""
    if not header_value:
        raise ApiError(401, "unauthorized", "an API key is required: send 'Authorization: "
                                            "Bearer <key>' or 'X-API-Key: <key>'")
    parts = split_key(header_value)
    record = state.key(parts[0]) if parts else None
    if parts is None or record is None or record.revoked_at is not None \
            or not hmac.compare_digest(record.hash, _digest(parts[1])):
        raise ApiError(401, "unauthorized", "the API key is not valid or was revoked")
    return Principal(record.id, Role(record.role), record.scope, record.label, record.subject)
