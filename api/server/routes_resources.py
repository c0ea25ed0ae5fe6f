"""Parks, enterprises, offers and needs: create, read, update, delete, list with filters.

Every write goes through `Region.edit`: the whole dataset is validated as a file would be
and imported as a new store version, or nothing changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from symbiosis.api.server.auth import Principal, Role
from symbiosis.api.server.deps import Caller, Svc, require
from symbiosis.api.server.errors import ApiError, forbidden
from symbiosis.api.server.listings import (
    enterprise_public,
    listing_public,
    new_listing_id,
    put_listing,
    remove_enterprise,
)
from symbiosis.api.server.region import Snapshot, blank
from symbiosis.api.server.schemas import (
    EnterpriseCreate,
    EnterprisePublic,
    EnterprisesPublic,
    EnterpriseUpdate,
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

__all__ = ["router"]

router = APIRouter(prefix="/api")
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
Filter = Annotated[str | None, Query(max_length=200)]
Table = Literal["offers", "needs"]


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


@router.post("/enterprises", response_model=EnterprisePublic, status_code=201,
             tags=["enterprises"], summary="Add an enterprise (admin; park manager: in its park)")
def create_enterprise(body: EnterpriseCreate, svc: Svc, caller: Caller) -> dict[str, Any]:
    require(caller, Role.admin, Role.park_manager)
    row = body.model_dump()
    if caller.role is Role.park_manager:
        if row["park"] not in (None, caller.scope):
            raise forbidden("another park")
        row["park"] = caller.scope
    if body.id in svc.region.snapshot().enterprises:
        raise ApiError(409, "conflict", f"enterprise '{body.id}' already exists")

    def add(rows: Any) -> Any:
        return replace(rows, enterprises=[*rows.enterprises, row])

    snap = svc.region.edit(add, f"{_who(caller)}: add enterprise {body.id}",
                           ("enterprises", len(svc.region.snapshot().rows.enterprises)))
    return enterprise_public(snap.enterprises[body.id])


@router.get("/enterprises/{enterprise_id}", response_model=EnterprisePublic,
            tags=["enterprises"], summary="One enterprise")
def get_enterprise(enterprise_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return enterprise_public(_visible_enterprise(caller, svc.region.snapshot(), enterprise_id))


@router.patch("/enterprises/{enterprise_id}", response_model=EnterprisePublic,
              tags=["enterprises"],
              summary="Change an enterprise (its own key may not move it to another park)")
def update_enterprise(enterprise_id: str, body: EnterpriseUpdate, svc: Svc, caller: Caller
                      ) -> dict[str, Any]:
    snap = svc.region.snapshot()
    current = _visible_enterprise(caller, snap, enterprise_id)
    fields = body.model_dump(exclude_unset=True)
    _no_nulls(fields, ("lon", "lat"))
    if "park" in fields and fields["park"] != blank(current.get("park")) \
            and not caller.is_admin:
        raise forbidden("moving this enterprise to another park")
    index = next(i for i, e in enumerate(snap.rows.enterprises) if e["id"] == enterprise_id)

    def update(rows: Any) -> Any:
        ents = list(rows.enterprises)
        ents[index] = {**ents[index], **fields}
        return replace(rows, enterprises=ents)

    new = svc.region.edit(update, f"{_who(caller)}: update enterprise {enterprise_id}",
                          ("enterprises", index))
    return enterprise_public(new.enterprises[enterprise_id])


@router.delete("/enterprises/{enterprise_id}", status_code=204, tags=["enterprises"],
               summary="Delete an enterprise with its offers and needs (admin, park manager)")
def delete_enterprise(enterprise_id: str, svc: Svc, caller: Caller) -> Response:
    require(caller, Role.admin, Role.park_manager)
    _visible_enterprise(caller, svc.region.snapshot(), enterprise_id)
    svc.region.edit(lambda rows: remove_enterprise(rows, enterprise_id),
                    f"{_who(caller)}: delete enterprise {enterprise_id}")
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


def _create_listing(table: Table, body: OfferCreate | NeedCreate, svc: Svc, caller: Caller
                    ) -> dict[str, Any]:
    snap = svc.region.snapshot()
    owner = snap.enterprises.get(body.enterprise_id)
    if not caller.sees_enterprise(owner):
        raise forbidden("this enterprise")
    if owner is None:
        raise ApiError(422, "invalid_request", f"no enterprise '{body.enterprise_id}'")
    existing = snap.offers if table == "offers" else snap.needs
    if body.id is not None and body.id in existing:
        raise ApiError(409, "conflict", f"{table[:-1]} '{body.id}' already exists")
    listing_id = body.id or new_listing_id(snap, table, body.enterprise_id, body.material)
    data = body.model_dump()
    attributes: dict[str, Any] = {f: data.pop(f) for f in ("quality", "min", "max")
                                  if f in data}
    data.pop("id")

    def put(rows: Any) -> Any:
        return put_listing(rows, table, listing_id, data, attributes)[0]

    index = len(getattr(snap.rows, table))
    new = svc.region.edit(put, f"{_who(caller)}: add {table[:-1]} {listing_id}",
                          (table, index))
    rows = new.offers if table == "offers" else new.needs
    return listing_public(table, rows[listing_id], svc.taxonomy)


def _update_listing(table: Table, listing_id: str, body: OfferUpdate | NeedUpdate, svc: Svc,
                    caller: Caller) -> dict[str, Any]:
    snap = svc.region.snapshot()
    _visible_listing(caller, snap, table, listing_id)
    data = body.model_dump(exclude_unset=True)
    attributes: dict[str, Any] = {f: data.pop(f) or {} for f in ("quality", "min", "max")
                                  if f in data}
    _no_nulls(data, ("material", "quantity"))
    index = next(i for i, r in enumerate(getattr(snap.rows, table)) if r["id"] == listing_id)

    def put(rows: Any) -> Any:
        return put_listing(rows, table, listing_id, data, attributes)[0]

    new = svc.region.edit(put, f"{_who(caller)}: update {table[:-1]} {listing_id}",
                          (table, index))
    rows = new.offers if table == "offers" else new.needs
    return listing_public(table, rows[listing_id], svc.taxonomy)


def _delete_listing(table: Table, listing_id: str, svc: Svc, caller: Caller) -> Response:
    _visible_listing(caller, svc.region.snapshot(), table, listing_id)

    def drop(rows: Any) -> Any:
        return replace(rows, **{table: [r for r in getattr(rows, table)
                                        if r["id"] != listing_id]})

    svc.region.edit(drop, f"{_who(caller)}: delete {table[:-1]} {listing_id}")
    return Response(status_code=204)


@router.get("/offers", response_model=ListingPage, tags=["offers"],
            summary="List offers the key may see, with filters")
def list_offers(svc: Svc, caller: Caller, enterprise_id: Filter = None,
                material: Filter = None, park: Filter = None, limit: Limit = 100,
                offset: Offset = 0) -> dict[str, Any]:
    return _list_listings("offers", svc, caller, enterprise_id, material, park, limit, offset)


@router.post("/offers", response_model=OfferPublic, status_code=201, tags=["offers"],
             summary="Add an offer (its enterprise's key, its park manager, admin)")
def create_offer(body: OfferCreate, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _create_listing("offers", body, svc, caller)


@router.get("/offers/{offer_id}", response_model=OfferPublic, tags=["offers"],
            summary="One offer")
def get_offer(offer_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    row = _visible_listing(caller, svc.region.snapshot(), "offers", offer_id)
    return listing_public("offers", row, svc.taxonomy)


@router.patch("/offers/{offer_id}", response_model=OfferPublic, tags=["offers"],
              summary="Change an offer")
def update_offer(offer_id: str, body: OfferUpdate, svc: Svc, caller: Caller
                 ) -> dict[str, Any]:
    return _update_listing("offers", offer_id, body, svc, caller)


@router.delete("/offers/{offer_id}", status_code=204, tags=["offers"],
               summary="Delete an offer")
def delete_offer(offer_id: str, svc: Svc, caller: Caller) -> Response:
    return _delete_listing("offers", offer_id, svc, caller)


@router.get("/needs", response_model=ListingPage, tags=["needs"],
            summary="List needs the key may see, with filters")
def list_needs(svc: Svc, caller: Caller, enterprise_id: Filter = None,
               material: Filter = None, park: Filter = None, limit: Limit = 100,
               offset: Offset = 0) -> dict[str, Any]:
    return _list_listings("needs", svc, caller, enterprise_id, material, park, limit, offset)


@router.post("/needs", response_model=NeedPublic, status_code=201, tags=["needs"],
             summary="Add a need (its enterprise's key, its park manager, admin)")
def create_need(body: NeedCreate, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _create_listing("needs", body, svc, caller)


@router.get("/needs/{need_id}", response_model=NeedPublic, tags=["needs"], summary="One need")
def get_need(need_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    row = _visible_listing(caller, svc.region.snapshot(), "needs", need_id)
    return listing_public("needs", row, svc.taxonomy)


@router.patch("/needs/{need_id}", response_model=NeedPublic, tags=["needs"],
              summary="Change a need")
def update_need(need_id: str, body: NeedUpdate, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _update_listing("needs", need_id, body, svc, caller)


@router.delete("/needs/{need_id}", status_code=204, tags=["needs"], summary="Delete a need")
def delete_need(need_id: str, svc: Svc, caller: Caller) -> Response:
    return _delete_listing("needs", need_id, svc, caller)
