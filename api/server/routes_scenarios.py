"""What-if scenarios on top of the stored data (nothing stored changes) and gap analysis:
which by-products stay unmatched and which kinds of enterprise would take them, where."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from symbiosis.api.server.auth import Principal, Role
from symbiosis.api.server.deps import Caller, Svc
from symbiosis.api.server.errors import forbidden
from symbiosis.api.server.jobs import options_from
from symbiosis.api.server.routes_runs import scoped_rows
from symbiosis.api.server.schemas import (
    AddEnterprise,
    RemoveEnterprise,
    ScenarioRequest,
    SetQuantity,
)
from symbiosis.geo.constants import DEFAULT_CIRCUITY
from symbiosis.matching.options import MatchParameters

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["scenarios"])

class GapsQuery(BaseModel):
    """The gap analysis' query: the park, and the reach and distance fields of
    MatchParameters (the same bounds and defaults as a run's body and the CLI's flags)."""

    model_config = ConfigDict(extra="forbid")

    park: str | None = Field(None, max_length=200,
                             description="one park; default: the whole region (admin)")
    max_km: Annotated[float | None, MatchParameters.model_fields["max_km"]] = None
    circuity: Annotated[float, MatchParameters.model_fields["circuity"]] = DEFAULT_CIRCUITY


def _changes(caller: Principal, body: ScenarioRequest) -> list[Any]:
    """The request's changes as the engine's; a park manager's planned enterprise goes into
    its own park."""
    from symbiosis.matching import scenario as sc

    out: list[Any] = []
    for change in body.changes:
        if isinstance(change, AddEnterprise):
            enterprise = change.enterprise.model_dump()
            if change.crs != "wgs84":  # the CLI's conversion (symbiosis.crs), one point
                from symbiosis.crs import to_wgs84

                lon, lat = to_wgs84([enterprise["lon"]], [enterprise["lat"]], change.crs)
                enterprise["lon"], enterprise["lat"] = float(lon[0]), float(lat[0])
            if caller.role is Role.park_manager:
                if enterprise["park"] not in (None, caller.scope):
                    raise forbidden("adding an enterprise to another park")
                enterprise["park"] = caller.scope
            elif enterprise["park"] is None and body.park is not None:
                enterprise["park"] = body.park
            listings = {kind: [{k: v for k, v in item.model_dump().items() if v is not None}
                               for item in getattr(change, kind)]
                        for kind in ("offers", "needs")}
            out.append(sc.AddEnterprise(enterprise, listings["offers"], listings["needs"]))
        elif isinstance(change, RemoveEnterprise):
            out.append(sc.RemoveEnterprise(change.id))
        elif isinstance(change, SetQuantity):
            out.append(sc.SetQuantity(change.listing, change.id, change.quantity))
    return out


@router.post("/scenarios", summary="Compare a what-if (add, remove, change quantities) with "
             "the stored baseline; nothing stored changes")
def run_scenario(body: ScenarioRequest, svc: Svc, caller: Caller) -> dict[str, Any]:
    from symbiosis.matching.gaps import find_gaps
    from symbiosis.matching.scenario import compare_scenario

    rows = scoped_rows(caller, svc.region.snapshot(), body.park)
    options = options_from(body.options.model_dump(exclude={"park"}) if body.options
                            else {})
    comparison = compare_scenario(rows, _changes(caller, body), options)
    out = comparison.as_dict()
    out["park"] = body.park
    if comparison.scenario_dataset is not None:
        out["gaps"] = find_gaps(comparison.scenario_dataset, comparison.scenario_result,
                                options).as_dict()
    return out


@router.get("/gaps", summary="Unmatched by-products and the kinds of enterprise that would "
            "take them, with an indicative location minimising haul")
def gaps(svc: Svc, caller: Caller, query: Annotated[GapsQuery, Query()]) -> dict[str, Any]:
    from symbiosis.matching.gaps import find_gaps
    from symbiosis.matching.model import solve_match
    from symbiosis.store import dataset_from_rows

    snap = svc.region.snapshot()
    rows = scoped_rows(caller, snap, query.park)
    dataset = snap.dataset() if query.park is None else dataset_from_rows(rows, source="store")
    options = options_from(query.model_dump(exclude={"park"}))
    result = solve_match(dataset, options)
    return {"park": query.park, **find_gaps(dataset, result, options).as_dict()}
