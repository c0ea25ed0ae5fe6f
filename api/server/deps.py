"""What every route depends on: the app's services and the caller's key."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from symbiosis.api.server.auth import Principal, Role, authenticate
from symbiosis.api.server.errors import ApiError, forbidden

if TYPE_CHECKING:
    from symbiosis.api.server.jobs import RunManager
    from symbiosis.api.server.region import Region
    from symbiosis.api.server.settings import Settings
    from symbiosis.api.server.state import StateStore
    from symbiosis.taxonomy import Taxonomy

__all__ = ["Caller", "Services", "Svc", "require"]


@dataclass
class Services:
    """The app's long-lived parts, built once by `create_app`."""

    settings: Settings
    state: StateStore
    region: Region
    jobs: RunManager
    taxonomy: Taxonomy
    handle_secret: bytes


def services(request: Request) -> Services:
    """The services of the app serving this request."""
    svc: Services = request.app.state.services
    return svc


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                       description="the API key, as an alternative to Authorization")


def principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> Principal:
    """The caller behind the request's key (401 without a valid key, or for an enterprise
    or recycler key whose enterprise is no longer in the store: that key is revoked)."""
    value = bearer.credentials if bearer is not None else header
    svc = services(request)
    caller = authenticate(svc.state, value)
    if caller.is_party_role:
        uid = svc.region.uid_of(caller.scope)
        if uid is None:
            # its enterprise is gone (deleted through the API, or by an import): the key dies
            # with it, so it can never act for whoever is given that id later
            svc.state.revoke_keys_of(caller.scope)
            svc.state.retire_party(caller.scope)
            raise ApiError(401, "unauthorized", "the API key is not valid or was revoked")
        if caller.subject is None:  # a key from before identities: bound on first use
            svc.state.bind_key(caller.key_id, uid)
            caller = replace(caller, subject=uid)
        elif caller.subject != uid:
            # the display id now names another enterprise (deleted, then given again by an
            # import): this key was for the old one and dies; the new holder's keys live on
            svc.state.revoke_key(caller.key_id)
            raise ApiError(401, "unauthorized", "the API key is not valid or was revoked")
    request.state.key_id = caller.key_id
    return caller


Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Principal, Depends(principal)]


def require(caller: Principal, *roles: Role, what: str = "this route") -> None:
    """403 unless the caller's role is one of `roles`."""
    if caller.role not in roles:
        raise forbidden(what)
