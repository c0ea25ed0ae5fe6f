"""Exchange proposals between enterprises, and what each side may see of the other.

A park manager publishes a run's exchanges as proposals, or an enterprise or recycling firm
proposes to take a feedstock offer it found. Each side accepts or declines; when both
accept, the proposal is agreed and only then do the parties see each other's names,
exact quantity and distance. Every step is in the audit trail with who did it and when.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from fastapi import APIRouter

from symbiosis.api.server.anonymity import (
    Describer,
    banded_radius_km,
    order_hits,
    public_hit,
)
from symbiosis.api.server.auth import Principal, Role
from symbiosis.api.server.deps import Caller, Services, Svc, require
from symbiosis.api.server.errors import ApiError, forbidden
from symbiosis.api.server.region import Snapshot, blank
from symbiosis.api.server.routes_runs import _result, _visible_job
from symbiosis.api.server.schemas import FeedstockQuery, ProposalCreate, RecordId
from symbiosis.api.server.state import Proposal
from symbiosis.bands import distance_band, quantity_band
from symbiosis.errors import Problem
from symbiosis.matching.feedstock import search_feedstock, site_km

__all__ = ["offer_handle", "router"]

router = APIRouter(prefix="/api", tags=["proposals"])


def offer_handle(secret: bytes, offer_id: str) -> str:
    """An opaque, stable handle for an offer: HMAC of its id under the server's secret."""
    digest = hmac.new(secret, offer_id.encode("utf-8"), hashlib.sha256).digest()
    return "fs_" + base64.urlsafe_b64encode(digest[:12]).decode("ascii")


def offer_by_handle(svc: Services, snap: Snapshot, handle: str) -> dict[str, Any] | None:
    """The offer behind a handle (None if no current offer has it)."""
    for offer_id, row in snap.offers.items():
        if hmac.compare_digest(offer_handle(svc.handle_secret, offer_id), handle):
            return row
    return None


def _side(caller: Principal, p: Proposal) -> str | None:
    """The caller's side of a proposal: its display id AND its enterprise's identity must
    be the party's (a later holder of the same id is no party to it)."""
    if caller.is_party_role and caller.subject is not None:
        if p.supplier_id == caller.scope and p.supplier_uid == caller.subject:
            return "supplier"
        if p.receiver_id == caller.scope and p.receiver_uid == caller.subject:
            return "receiver"
    return None


def _sees_all(caller: Principal, p: Proposal) -> bool:
    """Admins see every name; a park manager when both parties are in its park."""
    return caller.is_admin or (caller.role is Role.park_manager
                               and p.supplier_park == caller.scope
                               and p.receiver_park == caller.scope)


def _may_see(caller: Principal, p: Proposal) -> bool:
    if caller.is_admin or _side(caller, p) is not None:
        return True
    return caller.role is Role.park_manager and caller.scope in (p.supplier_park,
                                                                 p.receiver_park)


def _party(snap: Snapshot, enterprise_id: str) -> dict[str, Any]:
    ent = snap.enterprises.get(enterprise_id)
    if ent is None:
        return {"enterprise_id": enterprise_id, "name": None, "sector": None, "lon": None,
                "lat": None, "note": "no longer listed"}
    return {"enterprise_id": enterprise_id, "name": blank(ent.get("name")),
            "sector": blank(ent.get("sector")), "lon": float(ent["lon"]),
            "lat": float(ent["lat"])}


def proposal_view(caller: Principal, snap: Snapshot, p: Proposal) -> dict[str, Any]:
    """What this key may see of a proposal: everything for admins (and park managers inside
    their park); for a party, its own side, and the other side only once agreed."""
    side = _side(caller, p)
    open_book = _sees_all(caller, p) or p.status == "agreed"
    view: dict[str, Any] = {
        "id": p.id, "status": p.status, "source": p.source if open_book else None,
        "offer_material": p.offer_material, "need_material": p.need_material, "unit": p.unit,
        "quantity_band": quantity_band(p.quantity, p.unit).as_dict(),
        "distance_band": distance_band(p.distance_km).as_dict(),
        "quantity": p.quantity if open_book else None,
        "distance_km": p.distance_km if open_book else None,
        "side": side,
        "accepted_by_supplier": p.supplier_accepted_at is not None,
        "accepted_by_receiver": p.receiver_accepted_at is not None,
        "created_at": p.created_at, "agreed_at": p.agreed_at, "declined_at": p.declined_at,
    }
    for role, enterprise_id, listing, park in (
            ("supplier", p.supplier_id, p.offer_id, p.supplier_park),
            ("receiver", p.receiver_id, p.need_id, p.receiver_park)):
        mine = side == role
        in_my_park = caller.role is Role.park_manager and park == caller.scope
        visible = open_book or mine or in_my_park
        view[role] = _party(snap, enterprise_id) | {"listing_id": listing, "park": park} \
            if visible else None
    return view


def _visible_proposal(svc: Svc, caller: Principal, proposal_id: int) -> Proposal:
    p = svc.state.proposal(proposal_id)
    if p is None:
        if caller.is_admin:
            raise ApiError(404, "not_found", f"no proposal {proposal_id}")
        raise forbidden("this proposal")
    if not _may_see(caller, p):
        raise forbidden("this proposal")
    return p


@router.post("/feedstock/search", tags=["feedstock"],
             summary="Feedstock by material (and what substitutes for it), quality limits and "
                     "radius; recyclers and enterprises search from their own site (radius "
                     "snapped up to a distance band) and see quantity, distance and cost "
                     "bands, park and sector only where >= 3 suppliers share them")
def feedstock(body: FeedstockQuery, svc: Svc, caller: Caller) -> dict[str, Any]:
    require(caller, Role.admin, Role.enterprise, Role.recycler)
    snap = svc.region.snapshot()
    own = None
    if caller.is_party_role:
        if body.lon is not None or body.lat is not None:
            raise forbidden("searching from another site than your own")
        site = snap.enterprises.get(caller.scope)
        if site is None:
            raise forbidden("searching: the key's enterprise is no longer listed")
        lon, lat, own = float(site["lon"]), float(site["lat"]), caller.scope
        radius_km = banded_radius_km(body.radius_km)
    elif body.lon is None or body.lat is None:
        raise ApiError(422, "invalid_request", "give lon and lat to search around",
                       [Problem("body", None, f, "required for an admin search")
                        for f in ("lon", "lat") if getattr(body, f) is None])
    else:
        lon, lat, radius_km = body.lon, body.lat, body.radius_km
    dataset = snap.dataset()
    hits = search_feedstock(dataset, body.material, lon, lat, radius_km,
                            include_substitutes=body.include_substitutes, limits=body.limits,
                            sort=body.sort,
                            limit=body.limit if own is None else 2**62,  # all, cut below
                            exclude_enterprise=own)
    if own is not None:  # band order, then a keyed hash: the rank tells no exact distance
        hits = order_hits(hits, body.sort, svc.handle_secret, caller.scope)[:body.limit]
    data = []
    describer = None if caller.is_admin else Describer(snap)
    for hit in hits:
        item = hit.as_public(offer_handle(svc.handle_secret, hit.offer_id))
        if describer is None:
            item |= {"offer_id": hit.offer_id, "enterprise_id": hit.enterprise_id,
                     "quantity": hit.quantity, "distance_km": hit.distance_km}
        else:  # bands and k-anonymous descriptions only (api/server/anonymity.py)
            item = public_hit(item, hit.distance_km, hit.delivered_cost_cny_per_unit,
                              describer.describe(hit.enterprise_id))
        data.append(item)
    return {"data": data, "count": len(data), "origin": {"lon": lon, "lat": lat},
            "radius_km": radius_km}


@router.post("/runs/{run_id}/proposals", status_code=201,
             summary="Publish a run's exchanges as proposals to the enterprises (admin, "
                     "park manager); publishing twice adds nothing")
def publish_run(run_id: RecordId, svc: Svc, caller: Caller) -> dict[str, Any]:
    job = _visible_job(svc, caller, run_id)
    result = _result(svc, job)
    snap = svc.region.snapshot()
    parks = {e["id"]: blank(e.get("park")) for e in result["enterprises"]}
    rows = [{"source": f"run:{run_id}", "offer_id": x["offer_id"], "need_id": x["need_id"],
             "supplier_id": x["offer_enterprise_id"], "receiver_id": x["need_enterprise_id"],
             "supplier_park": parks.get(x["offer_enterprise_id"]),
             "receiver_park": parks.get(x["need_enterprise_id"]),
             "offer_material": x["offer_material"], "need_material": x["need_material"],
             "unit": x.get("unit") or "", "quantity": float(x["quantity"]),
             "distance_km": float(x["distance_km"])}
            for x in result["exchanges"] if float(x["quantity"]) > 0]
    uids = svc.region.uids()
    for r in rows:
        r["supplier_uid"], r["receiver_uid"] = (uids.get(r["supplier_id"]),
                                                uids.get(r["receiver_id"]))
    side = "admin" if caller.is_admin else "park_manager"
    ids, created = svc.state.add_proposals(rows, caller.key_id, str(caller.role), side)
    data = [proposal_view(caller, snap, p) for p in (svc.state.proposal(i) for i in ids) if p]
    return {"created": created, "data": data, "count": len(data)}


@router.post("/proposals", status_code=201,
             summary="Propose to take an offer (found by feedstock search) into one of your "
                     "own needs (enterprise, recycler)")
def create_proposal(body: ProposalCreate, svc: Svc, caller: Caller) -> dict[str, Any]:
    require(caller, Role.enterprise, Role.recycler)
    snap = svc.region.snapshot()
    need = snap.needs.get(body.need_id)
    if need is None or need["enterprise_id"] != caller.scope:
        raise forbidden("this need")
    offer = offer_by_handle(svc, snap, body.offer_handle)
    if offer is None:
        raise ApiError(404, "not_found", "no current offer has this handle; search again")
    if offer["enterprise_id"] == caller.scope:
        raise ApiError(422, "invalid_request", "an enterprise cannot supply itself")
    dataset = snap.dataset()
    rule = dataset.taxonomy.rule(str(need["material"]), str(offer["material"]))
    if rule is None:
        raise ApiError(422, "invalid_request", f"{offer['material']} cannot serve "
                                               f"{need['material']} under the dataset's rules")
    supplier, receiver = str(offer["enterprise_id"]), str(need["enterprise_id"])
    km = site_km(dataset, receiver, supplier)  # what the receiver's search showed
    unit = svc.taxonomy.materials[str(offer["material"])].unit \
        if str(offer["material"]) in svc.taxonomy.materials else ""
    row = {"source": f"request:{caller.key_id}", "offer_id": str(offer["id"]),
           "need_id": body.need_id, "supplier_id": supplier, "receiver_id": receiver,
           "supplier_park": snap.park_of(supplier), "receiver_park": snap.park_of(receiver),
           "offer_material": str(offer["material"]), "need_material": str(need["material"]),
           "unit": unit, "quantity": body.quantity, "distance_km": km,
           "supplier_uid": svc.region.uid_of(supplier), "receiver_uid": caller.subject}
    ids, created = svc.state.add_proposals([row], caller.key_id, str(caller.role), "receiver")
    if not created:
        raise ApiError(409, "conflict", "you already proposed to take this offer into this "
                                        "need")
    p = svc.state.proposal(ids[0])
    assert p is not None
    return proposal_view(caller, snap, p)


@router.get("/proposals", summary="Proposals the key is party to or oversees")
def list_proposals(svc: Svc, caller: Caller) -> dict[str, Any]:
    snap = svc.region.snapshot()
    data = [proposal_view(caller, snap, p) for p in svc.state.proposals()
            if _may_see(caller, p)]
    return {"data": data, "count": len(data)}


@router.get("/proposals/{proposal_id}", summary="One proposal")
def get_proposal(proposal_id: RecordId, svc: Svc, caller: Caller) -> dict[str, Any]:
    p = _visible_proposal(svc, caller, proposal_id)
    return proposal_view(caller, svc.region.snapshot(), p)


def _act(proposal_id: RecordId, action: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    p = _visible_proposal(svc, caller, proposal_id)
    side = _side(caller, p)
    if side is None:
        raise forbidden("acting on this proposal (only its two parties may)")
    try:
        p = svc.state.act_on_proposal(proposal_id, side, action, caller.key_id,
                                      str(caller.role))
    except ValueError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return proposal_view(caller, svc.region.snapshot(), p)


@router.post("/proposals/{proposal_id}/accept", summary="Accept for your side; agreed once "
             "both sides accepted")
def accept(proposal_id: RecordId, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _act(proposal_id, "accept", svc, caller)


@router.post("/proposals/{proposal_id}/decline", summary="Decline for your side")
def decline(proposal_id: RecordId, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _act(proposal_id, "decline", svc, caller)


@router.get("/proposals/{proposal_id}/events", summary="The audit trail: who did what, when")
def events(proposal_id: RecordId, svc: Svc, caller: Caller) -> dict[str, Any]:
    p = _visible_proposal(svc, caller, proposal_id)
    full = _sees_all(caller, p)
    data = [{"at": e.at, "action": e.action, "actor_side": e.actor_side, "role": e.role,
             "key_id": e.key_id if full else None} for e in svc.state.proposal_events(p.id)]
    return {"data": data, "count": len(data)}
