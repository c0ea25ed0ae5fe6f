"""Parks, enterprises, offers and needs: create, read, update, delete, list with filters.

Every write goes through `Region.edit`: the whole dataset is validated as a file would be
and imported as a new store version, or nothing changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response

from symbiosis.api.server.auth import Principal, Role
from symbiosis.api.server.bounds import check_attributes
from symbiosis.api.server.deps import Caller, Svc, require
from symbiosis.api.server.errors import ApiError, forbidden
from symbiosis.api.server.listings import PREFIXES, enterprise_public, listing_public, row_etag
from symbiosis.api.server.region import Snapshot, blank
from symbiosis.api.server.schemas import (
    EnterpriseCreate,
    EnterprisePublic,
    EnterprisesPublic,
    EnterpriseUpdate,
    ErrorResponse,
    ListingPage,
    NeedCreate,
    NeedPublic,
    NeedUpdate,
    OfferCreate,
    OfferPublic,
    OfferUpdate,
    ParkCreate,
    ParkPublic,
    ParksPublic,
    ParkUpdate,
)
from symbiosis.store.records import RowWrite

__all__ = ["router"]

router = APIRouter(prefix="/api")
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
Filter = Annotated[str | None, Query(max_length=200)]
Table = Literal["offers", "needs"]
IfMatch = Annotated[str | None, Header(max_length=2000, description="the ETag of the version "
                                       "the change is based on; 412 if the row changed since")]


def _tagged(response: Response, public: dict[str, Any]) -> dict[str, Any]:
    """Set the ETag of a row's public form on the response; returns the form."""
    response.headers["ETag"] = row_etag(public)
    return public


def _check_match(if_match: str | None, public: dict[str, Any]) -> None:
    """412 unless If-Match is absent, `*`, or lists the row's current ETag (RFC 9110
    13.1.1: strong comparison; a weak W/ tag never matches)."""
    if if_match is None or if_match.strip() == "*":
        return
    tags = [t.strip() for t in if_match.split(",")]
    if row_etag(public) not in tags:
        raise ApiError(412, "precondition_failed", "the row changed since that version "
                                                   "(If-Match); read it again")


def _page(items: list[Any], limit: int, offset: int) -> dict[str, Any]:
    return {"data": items[offset:offset + limit], "count": len(items)}


def _no_nulls(fields: dict[str, Any], required: tuple[str, ...]) -> None:
    """422 for an explicit null where the dataset needs a value."""
    nulls = [f for f in required if f in fields and fields[f] is None]
    if nulls:
        from symbiosis.errors import Problem

        raise ApiError(422, "invalid_request", "these fields cannot be null",
                       [Problem("body", None, f, "must have a value") for f in nulls])


def _who(caller: Principal) -> str:
    return f"api key {caller.key_id} ({caller.role})"


# ------------------------------------------------------------------ parks


def _parks(svc: Svc, snap: Snapshot) -> dict[str, dict[str, Any]]:
    registry = svc.state.parks()
    parks: dict[str, dict[str, Any]] = {}
    for name, info in registry.items():
        parks[name] = {"name": name, "name_zh": info.name_zh, "note": info.note,
                       "registered": True, "enterprises": 0, "offers": 0, "needs": 0,
                       "lon": None, "lat": None, "_xy": []}
    for ent in snap.rows.enterprises:
        park_name = blank(ent.get("park"))
        if park_name is None:
            continue
        park = parks.setdefault(park_name, {"name": park_name, "name_zh": None, "note": None,
                                       "registered": False, "enterprises": 0, "offers": 0,
                                       "needs": 0, "lon": None, "lat": None, "_xy": []})
        park["enterprises"] += 1
        park["_xy"].append((float(ent["lon"]), float(ent["lat"])))
    for table in ("offers", "needs"):
        for row in getattr(snap.rows, table):
            owner_park = snap.park_of(str(row["enterprise_id"]))
            if owner_park is not None:
                parks[owner_park][table] += 1
    for park in parks.values():
        xy = park.pop("_xy")
        if xy:
            park["lon"] = sum(x for x, _ in xy) / len(xy)
            park["lat"] = sum(y for _, y in xy) / len(xy)
    return parks


def _visible_park(caller: Principal, parks: dict[str, dict[str, Any]], name: str
                  ) -> dict[str, Any]:
    if not caller.sees_park(name):
        raise forbidden("this park")
    if name not in parks:
        raise ApiError(404, "not_found", f"no park named '{name}'")
    return parks[name]


@router.get("/parks", response_model=ParksPublic, tags=["parks"],
            summary="List parks (admin: all; park manager: its own)")
def list_parks(svc: Svc, caller: Caller, limit: Limit = 100, offset: Offset = 0
               ) -> dict[str, Any]:
    require(caller, Role.admin, Role.park_manager)
    parks = _parks(svc, svc.region.snapshot())
    items = [p for name, p in sorted(parks.items()) if caller.sees_park(name)]
    return _page(items, limit, offset)


@router.post("/parks", response_model=ParkPublic, status_code=201, tags=["parks"],
             summary="Register a park (admin)")
def create_park(body: ParkCreate, svc: Svc, caller: Caller) -> dict[str, Any]:
    require(caller, Role.admin)
    if body.name in svc.state.parks():
        raise ApiError(409, "conflict", f"park '{body.name}' is already registered")
    svc.state.put_park(body.name, body.name_zh, body.note)
    return _parks(svc, svc.region.snapshot())[body.name]


@router.get("/parks/{name}", response_model=ParkPublic, tags=["parks"], summary="One park")
def get_park(name: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    require(caller, Role.admin, Role.park_manager)
    return _visible_park(caller, _parks(svc, svc.region.snapshot()), name)


@router.patch("/parks/{name}", response_model=ParkPublic, tags=["parks"],
              summary="Change a park's fields; a new name (admin) moves its enterprises")
def update_park(name: str, body: ParkUpdate, svc: Svc, caller: Caller) -> dict[str, Any]:
    require(caller, Role.admin, Role.park_manager)
    parks = _parks(svc, svc.region.snapshot())
    park = _visible_park(caller, parks, name)
    new_name = body.name if body.name is not None and body.name != name else None
    if new_name is not None:
        if not caller.is_admin:
            raise forbidden("renaming this park")
        if new_name in parks:
            raise ApiError(409, "conflict", f"park '{new_name}' already exists")
        if park["enterprises"]:
            def rename(rows: Any) -> Any:
                return replace(rows, enterprises=[
                    {**e, "park": new_name} if blank(e.get("park")) == name else e
                    for e in rows.enterprises])
            svc.region.edit(rename, f"{_who(caller)}: rename park '{name}' to '{new_name}'")
        svc.state.rename_park(name, new_name)
    target = new_name or name
    fields = body.model_dump(exclude_unset=True)
    old = svc.state.parks().get(target)
    if old is not None or fields.keys() - {"name"}:
        svc.state.put_park(target, fields.get("name_zh", old.name_zh if old else None),
                           fields.get("note", old.note if old else None))
    return _parks(svc, svc.region.snapshot())[target]


@router.delete("/parks/{name}", status_code=204, tags=["parks"],
               summary="Forget a registered park with no enterprises (admin)")
def delete_park(name: str, svc: Svc, caller: Caller) -> Response:
    require(caller, Role.admin)
    park = _visible_park(caller, _parks(svc, svc.region.snapshot()), name)
    if park["enterprises"]:
        raise ApiError(409, "conflict", f"park '{name}' still has {park['enterprises']} "
                                        "enterprise(s); move or delete them first")
    svc.state.delete_park(name)
    return Response(status_code=204)


# ------------------------------------------------------------------ enterprises


def _visible_enterprise(caller: Principal, snap: Snapshot, enterprise_id: str
                        ) -> dict[str, Any]:
    row = snap.enterprises.get(enterprise_id)
    if not caller.sees_enterprise(row):
        raise forbidden("this enterprise")
    if row is None:
        raise ApiError(404, "not_found", f"no enterprise '{enterprise_id}'")
    return row


@router.get("/enterprises", response_model=EnterprisesPublic, tags=["enterprises"],
            summary="List enterprises the key may see, with filters")
def list_enterprises(svc: Svc, caller: Caller, park: Filter = None, sector: Filter = None,
                     q: Annotated[str | None, Query(max_length=200, description="text in the "
                                                    "id or name")] = None,
                     limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    if park is not None and caller.role is Role.park_manager and park != caller.scope:
        raise forbidden("this park")
    snap = svc.region.snapshot()
    needle = q.lower() if q else None
    rows = []
    for row in snap.rows.enterprises:  # filter the raw rows; convert only the page
        if not caller.sees_enterprise(row):
            continue
        if park is not None and blank(row.get("park")) != park:
            continue
        if sector is not None and not str(row.get("sector") or "").startswith(sector):
            continue
        if needle and needle not in str(row["id"]).lower() and needle not in str(
                row.get("name") or "").lower():
            continue
        rows.append(row)
    return {"data": [enterprise_public(r) for r in rows[offset:offset + limit]],
            "count": len(rows)}


def _own_id(caller: Principal, given: str | None) -> None:
    """Only an administrator chooses ids: anyone else could probe which ids exist (409 or
    201) and read enterprise and material from default ids; the store picks opaque ones."""
    if given is not None and not caller.is_admin:
        from symbiosis.errors import Problem

        raise ApiError(422, "invalid_request", "only an administrator may choose an id",
                       [Problem("body", None, "id", "leave it out: the store picks one")])


@router.post("/enterprises", response_model=EnterprisePublic, status_code=201,
             tags=["enterprises"], summary="Add an enterprise (admin; park manager: in its park)")
def create_enterprise(body: EnterpriseCreate, svc: Svc, caller: Caller, response: Response
                      ) -> dict[str, Any]:
    require(caller, Role.admin, Role.park_manager)
    row = body.model_dump()
    if caller.role is Role.park_manager:
        if row["park"] not in (None, caller.scope):
            raise forbidden("another park")
        row["park"] = caller.scope
    _own_id(caller, body.id)
    values = {k: v for k, v in row.items() if k != "id"}
    snap, new_id = svc.region.write(
        RowWrite("enterprises", "add", body.id, values),
        f"{_who(caller)}: add enterprise {body.id or '{id}'}")
    return _tagged(response, enterprise_public(snap.enterprises[new_id]))


@router.get("/enterprises/{enterprise_id}", response_model=EnterprisePublic,
            tags=["enterprises"], summary="One enterprise (ETag: its version, for If-Match)")
def get_enterprise(enterprise_id: str, svc: Svc, caller: Caller, response: Response
                   ) -> dict[str, Any]:
    row = _visible_enterprise(caller, svc.region.snapshot(), enterprise_id)
    return _tagged(response, enterprise_public(row))


@router.patch("/enterprises/{enterprise_id}", response_model=EnterprisePublic,
              tags=["enterprises"], responses={412: {"model": ErrorResponse}},
              summary="Change an enterprise (its own key may not move it to another park "
                      "nor its site; If-Match: 412 if it changed since)")
def update_enterprise(enterprise_id: str, body: EnterpriseUpdate, svc: Svc, caller: Caller,
                      response: Response, if_match: IfMatch = None) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    _no_nulls(fields, ("lon", "lat"))

    def check(snap: Snapshot) -> None:
        current = _visible_enterprise(caller, snap, enterprise_id)
        _check_match(if_match, enterprise_public(current))
        if "park" in fields and fields["park"] != blank(current.get("park")) \
                and not caller.is_admin:
            raise forbidden("moving this enterprise to another park")
        moved = [f for f in ("lon", "lat") if f in fields and fields[f] != current.get(f)]
        if moved and caller.is_party_role:
            # feedstock searches start from the registered site: a key that could move it
            # could trilaterate its rivals (issue 18); the admin moves it, and the store
            # version's source names who did
            raise forbidden("moving this enterprise's site (ask the administrator)")

    values = {k: ("" if k == "park" and v is None else v) for k, v in fields.items()}
    snap, _ = svc.region.write(RowWrite("enterprises", "update", enterprise_id, values),
                               f"{_who(caller)}: update enterprise {enterprise_id}", check)
    return _tagged(response, enterprise_public(snap.enterprises[enterprise_id]))


@router.delete("/enterprises/{enterprise_id}", status_code=204, tags=["enterprises"],
               responses={412: {"model": ErrorResponse}},
               summary="Delete an enterprise with its offers and needs (admin, park manager); "
                       "its keys are revoked and its id is never used again")
def delete_enterprise(enterprise_id: str, svc: Svc, caller: Caller, if_match: IfMatch = None
                      ) -> Response:
    require(caller, Role.admin, Role.park_manager)

    def check(snap: Snapshot) -> None:
        _check_match(if_match, enterprise_public(_visible_enterprise(caller, snap,
                                                                     enterprise_id)))

    svc.region.write(RowWrite("enterprises", "delete", enterprise_id),
                     f"{_who(caller)}: delete enterprise {enterprise_id}", check)
    svc.state.revoke_keys_of(enterprise_id)
    svc.state.retire_party(enterprise_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ offers and needs


def _visible_listing(caller: Principal, snap: Snapshot, table: Table, listing_id: str
                     ) -> dict[str, Any]:
    rows = snap.offers if table == "offers" else snap.needs
    row = rows.get(listing_id)
    owner = snap.enterprises.get(str(row["enterprise_id"])) if row else None
    if not caller.sees_enterprise(owner) or (row is None and not caller.is_admin):
        raise forbidden(f"this {table[:-1]}")
    if row is None:
        raise ApiError(404, "not_found", f"no {table[:-1]} '{listing_id}'")
    return row


def _list_listings(table: Table, svc: Svc, caller: Caller, enterprise_id: str | None,
                   material: str | None, park: str | None, limit: int, offset: int
                   ) -> dict[str, Any]:
    snap = svc.region.snapshot()
    if enterprise_id is not None and not caller.sees_enterprise(
            snap.enterprises.get(enterprise_id)):
        raise forbidden("this enterprise")
    if park is not None and caller.role is Role.park_manager and park != caller.scope:
        raise forbidden("this park")
    rows = []
    for row in getattr(snap.rows, table):  # filter the raw rows; convert only the page
        owner = str(row["enterprise_id"])
        if enterprise_id is not None and owner != enterprise_id:
            continue
        if material is not None and row["material"] != material:
            continue
        if not caller.sees_enterprise(snap.enterprises.get(owner)):
            continue
        if park is not None and snap.park_of(owner) != park:
            continue
        rows.append(row)
    return {"data": [listing_public(table, r, svc.taxonomy)
                     for r in rows[offset:offset + limit]], "count": len(rows)}


def _attribute_columns(table: Table, attributes: dict[str, Any]) -> dict[str, Any]:
    """API attribute fields (quality / min / max) -> stored columns (None removes)."""
    return {PREFIXES[table][field] + attr: value
            for field, values in attributes.items() for attr, value in (values or {}).items()}


def _create_listing(table: Table, body: OfferCreate | NeedCreate, svc: Svc, caller: Caller,
                    response: Response) -> dict[str, Any]:
    _own_id(caller, body.id)
    data = body.model_dump()
    attributes: dict[str, Any] = {f: data.pop(f) for f in ("quality", "min", "max")
                                  if f in data}
    for field, values in attributes.items():
        check_attributes(caller, svc.taxonomy, values or {}, field)
    data.pop("id")
    values = {**data, **{k: v for k, v in _attribute_columns(table, attributes).items()
                         if v is not None}}

    def check(snap: Snapshot) -> None:
        owner = snap.enterprises.get(body.enterprise_id)
        if not caller.sees_enterprise(owner):
            raise forbidden("this enterprise")
        if owner is None:
            raise ApiError(422, "invalid_request", f"no enterprise '{body.enterprise_id}'")

    snap, new_id = svc.region.write(
        RowWrite(table, "add", body.id, values),
        f"{_who(caller)}: add {table[:-1]} {body.id or '{id}'}", check)
    rows = snap.offers if table == "offers" else snap.needs
    return _tagged(response, listing_public(table, rows[new_id], svc.taxonomy))


def _update_listing(table: Table, listing_id: str, body: OfferUpdate | NeedUpdate, svc: Svc,
                    caller: Caller, response: Response, if_match: str | None
                    ) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True)
    attributes: dict[str, Any] = {f: data.pop(f) or {} for f in ("quality", "min", "max")
                                  if f in data}
    for field, values in attributes.items():  # removing (null) is always allowed
        check_attributes(caller, svc.taxonomy, [a for a, v in values.items() if v is not None],
                         field)
    _no_nulls(data, ("material", "quantity"))
    values = {**data, **_attribute_columns(table, attributes)}

    def check(snap: Snapshot) -> None:
        row = _visible_listing(caller, snap, table, listing_id)
        _check_match(if_match, listing_public(table, row, svc.taxonomy))

    snap, _ = svc.region.write(RowWrite(table, "update", listing_id, values),
                               f"{_who(caller)}: update {table[:-1]} {listing_id}", check)
    rows = snap.offers if table == "offers" else snap.needs
    return _tagged(response, listing_public(table, rows[listing_id], svc.taxonomy))


def _delete_listing(table: Table, listing_id: str, svc: Svc, caller: Caller,
                    if_match: str | None) -> Response:
    def check(snap: Snapshot) -> None:
        row = _visible_listing(caller, snap, table, listing_id)
        _check_match(if_match, listing_public(table, row, svc.taxonomy))

    svc.region.write(RowWrite(table, "delete", listing_id),
                     f"{_who(caller)}: delete {table[:-1]} {listing_id}", check)
    return Response(status_code=204)


@router.get("/offers", response_model=ListingPage, tags=["offers"],
            summary="List offers the key may see, with filters")
def list_offers(svc: Svc, caller: Caller, enterprise_id: Filter = None,
                material: Filter = None, park: Filter = None, limit: Limit = 100,
                offset: Offset = 0) -> dict[str, Any]:
    return _list_listings("offers", svc, caller, enterprise_id, material, park, limit, offset)


@router.post("/offers", response_model=OfferPublic, status_code=201, tags=["offers"],
             summary="Add an offer (its enterprise's key, its park manager, admin)")
def create_offer(body: OfferCreate, svc: Svc, caller: Caller, response: Response
                 ) -> dict[str, Any]:
    return _create_listing("offers", body, svc, caller, response)


@router.get("/offers/{offer_id}", response_model=OfferPublic, tags=["offers"],
            summary="One offer")
def get_offer(offer_id: str, svc: Svc, caller: Caller, response: Response) -> dict[str, Any]:
    row = _visible_listing(caller, svc.region.snapshot(), "offers", offer_id)
    return _tagged(response, listing_public("offers", row, svc.taxonomy))


@router.patch("/offers/{offer_id}", response_model=OfferPublic, tags=["offers"],
              summary="Change an offer")
def update_offer(offer_id: str, body: OfferUpdate, svc: Svc, caller: Caller,
                 response: Response, if_match: IfMatch = None) -> dict[str, Any]:
    return _update_listing("offers", offer_id, body, svc, caller, response, if_match)


@router.delete("/offers/{offer_id}", status_code=204, tags=["offers"],
               summary="Delete an offer")
def delete_offer(offer_id: str, svc: Svc, caller: Caller, if_match: IfMatch = None
                 ) -> Response:
    return _delete_listing("offers", offer_id, svc, caller, if_match)


@router.get("/needs", response_model=ListingPage, tags=["needs"],
            summary="List needs the key may see, with filters")
def list_needs(svc: Svc, caller: Caller, enterprise_id: Filter = None,
               material: Filter = None, park: Filter = None, limit: Limit = 100,
               offset: Offset = 0) -> dict[str, Any]:
    return _list_listings("needs", svc, caller, enterprise_id, material, park, limit, offset)


@router.post("/needs", response_model=NeedPublic, status_code=201, tags=["needs"],
             summary="Add a need (its enterprise's key, its park manager, admin)")
def create_need(body: NeedCreate, svc: Svc, caller: Caller, response: Response
                ) -> dict[str, Any]:
    return _create_listing("needs", body, svc, caller, response)


@router.get("/needs/{need_id}", response_model=NeedPublic, tags=["needs"], summary="One need")
def get_need(need_id: str, svc: Svc, caller: Caller, response: Response) -> dict[str, Any]:
    row = _visible_listing(caller, svc.region.snapshot(), "needs", need_id)
    return _tagged(response, listing_public("needs", row, svc.taxonomy))


@router.patch("/needs/{need_id}", response_model=NeedPublic, tags=["needs"],
              summary="Change a need")
def update_need(need_id: str, body: NeedUpdate, svc: Svc, caller: Caller, response: Response,
                if_match: IfMatch = None) -> dict[str, Any]:
    return _update_listing("needs", need_id, body, svc, caller, response, if_match)


@router.delete("/needs/{need_id}", status_code=204, tags=["needs"], summary="Delete a need")
def delete_need(need_id: str, svc: Svc, caller: Caller, if_match: IfMatch = None
                ) -> Response:
    return _delete_listing("needs", need_id, svc, caller, if_match)
