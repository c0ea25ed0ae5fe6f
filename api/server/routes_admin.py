"""Health, who-am-I, API keys (admin) and the material taxonomy."""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Response

from symbiosis.api.server.auth import Role, issue_key
from symbiosis.api.server.deps import Caller, Svc, require
from symbiosis.api.server.errors import ApiError
from symbiosis.api.server.schemas import KeyCreate, KeyIssued, KeysPublic, Me

__all__ = ["router"]

router = APIRouter()


@cache
def _version() -> str:
    """The installed package's version (read from its metadata once, not per request)."""
    try:
        return version("symbiosis")
    except PackageNotFoundError:
        return "unknown"


def _key_public(record: Any) -> dict[str, Any]:
    return {k: v for k, v in asdict(record).items() if k != "hash"}


@router.get("/health", tags=["meta"], summary="Liveness and the store's dataset version "
            "(no key needed)")
def health(svc: Svc) -> dict[str, Any]:
    ours = _version()
    snap = svc.region.snapshot()
    kind = "sqlite" if svc.settings.store.startswith("sqlite") else "bolt"
    return {"status": "ok", "version": ours, "store": kind,
            "dataset_version": snap.version_number}


@router.get("/api/me", response_model=Me, tags=["meta"], summary="The key's role and scope")
def me(caller: Caller) -> dict[str, Any]:
    return {"key_id": caller.key_id, "role": str(caller.role), "scope": caller.scope,
            "label": caller.label}


@router.get("/api/materials", tags=["meta"], summary="The material taxonomy (any key)")
def materials(svc: Svc, caller: Caller) -> dict[str, Any]:
    data = [{"slug": m.slug, "name_en": m.name_en, "name_zh": m.name_zh, "unit": m.unit,
             "family": str(m.family), "kind": m.kind, "hazardous": m.hazardous,
             "default_reach_km": m.default_reach_km}
            for m in svc.taxonomy.materials.values()]
    return {"data": data, "count": len(data)}


@router.get("/api/keys", response_model=KeysPublic, tags=["keys"],
            summary="Every key without its secret (admin)")
def list_keys(svc: Svc, caller: Caller) -> dict[str, Any]:
    require(caller, Role.admin)
    data = [_key_public(k) for k in svc.state.api_keys()]
    return {"data": data, "count": len(data)}


@router.post("/api/keys", response_model=KeyIssued, status_code=201, tags=["keys"],
             summary="Issue a key for a role and scope (admin); the key is shown once")
def create_key(body: KeyCreate, svc: Svc, caller: Caller) -> dict[str, Any]:
    require(caller, Role.admin)
    role = Role(body.role)
    if (role is Role.admin) != (body.scope == "*"):
        raise ApiError(422, "invalid_request", "the admin role takes scope '*', and only it")
    snap = svc.region.snapshot()
    if role in (Role.enterprise, Role.recycler) and body.scope not in snap.enterprises:
        raise ApiError(422, "invalid_request", f"no enterprise '{body.scope}' to scope to")
    if role is Role.park_manager and body.scope not in svc.state.parks() and not any(
            e.get("park") == body.scope for e in snap.rows.enterprises):
        raise ApiError(422, "invalid_request", f"no park '{body.scope}'; register it first")
    subject = svc.region.uid_of(body.scope) if role in (Role.enterprise, Role.recycler) \
        else None
    key, record = issue_key(svc.state, role, body.scope, body.label, subject=subject)
    return _key_public(record) | {"key": key}


@router.delete("/api/keys/{key_id}", status_code=204, tags=["keys"],
               summary="Revoke a key (admin)")
def revoke_key(key_id: str, svc: Svc, caller: Caller) -> Response:
    require(caller, Role.admin)
    if not svc.state.revoke_key(key_id):
        raise ApiError(404, "not_found", f"no active key '{key_id}'")
    return Response(status_code=204)
