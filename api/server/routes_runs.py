"""Match runs: start (returns at once), status and progress, results as JSON, CSV and
GeoJSON, and the difference between two runs."""

from __future__ import annotations

import gzip
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from symbiosis.api.server.auth import Principal, Role
from symbiosis.api.server.deps import Caller, Svc, require
from symbiosis.api.server.errors import ApiError, forbidden
from symbiosis.api.server.jobs import job_public
from symbiosis.api.server.region import Snapshot
from symbiosis.api.server.schemas import (
    ErrorResponse,
    RecordId,
    RunMonthly,
    RunOptions,
    RunResult,
    RunsPublic,
    RunStatus,
)
from symbiosis.api.server.state import Job
from symbiosis.store import DatasetRows, RunRecord, diff_runs, park_rows

__all__ = ["router", "scoped_rows"]

router = APIRouter(prefix="/api", tags=["runs"])


def scoped_rows(caller: Principal, snap: Snapshot, park: str | None) -> DatasetRows:
    """The rows a run or scenario of `park` (None = the region) may use: admins any park
    or the whole region, park managers only their own park."""
    require(caller, Role.admin, Role.park_manager)
    if not caller.sees_park(park):
        raise forbidden("this park" if park else "the whole region")
    if park is None:
        return snap.rows
    rows = park_rows(snap.rows, park)
    if not rows.enterprises:
        raise ApiError(404, "not_found", f"no enterprises in park '{park}'")
    return rows


def _visible_job(svc: Svc, caller: Principal, run_id: int) -> Job:
    require(caller, Role.admin, Role.park_manager)
    job = svc.state.job(run_id)
    if job is None:
        if caller.is_admin:
            raise ApiError(404, "not_found", f"no run {run_id}")
        raise forbidden("this run")
    if not caller.sees_park(job.park):
        raise forbidden("this run")
    return job


def _status_allows_result(job: Job) -> None:
    if job.status != "succeeded":
        raise ApiError(409, "conflict", f"run {job.id} is {job.status}; results exist once "
                                        "it succeeded")


def _result(svc: Svc, job: Job) -> dict[str, Any]:
    _status_allows_result(job)
    result = svc.state.job_result(job.id)
    if result is None:
        raise ApiError(409, "conflict", f"run {job.id} has no stored result")
    return result


def _park_scoped(caller: Principal, job: Job) -> bool:
    """Does `caller` read `job` through the park view (`park_view`): a park-scoped key
    reading a park run. Admins read runs as stored."""
    return caller.role is Role.park_manager and job.park is not None


def _public(svc: Svc, caller: Principal, job: Job) -> dict[str, Any]:
    """A run's status as `caller` may read it (`park_view.park_job` for a park key)."""
    out = job_public(job)
    if _park_scoped(caller, job):
        from symbiosis.api.server.park_view import park_job

        assert job.park is not None
        return park_job(out, job.park, svc.region.snapshot())
    return out


def _readable(svc: Svc, caller: Principal, job: Job) -> dict[str, Any]:
    """The stored result as `caller` may read it (`park_view.park_view` for a park key)."""
    result = _result(svc, job)
    if _park_scoped(caller, job):
        from symbiosis.api.server.park_view import park_view

        assert job.park is not None
        return park_view(result, job.park, svc.region.snapshot())
    return result


@router.post("/runs", response_model=RunStatus, status_code=202,
             summary="Start a match run; returns its id at once",
             responses={200: {"model": RunStatus, "description": "finished within `wait`"}})
def start_run(body: RunOptions, svc: Svc, caller: Caller,
              wait: Annotated[float, Query(ge=0, le=60, description="seconds to wait for "
                                           "the result before answering 202")] = 0
              ) -> Any:
    snap = svc.region.snapshot()
    scoped_rows(caller, snap, body.park)  # may the caller run it, has the park enterprises
    # a park is not an island: its enterprises plan with every partner in reach (the whole
    # region's rows); the job keeps the park's view of that plan (jobs.solve_rows)
    parameters = body.model_dump(mode="json", exclude={"park"})
    job = svc.jobs.submit(snap.rows, parameters, body.park, snap.version_number,
                          caller.key_id, snap.dataset() if snap.version else None)
    svc.jobs.wait(job.id, min(wait, svc.settings.max_wait_s))
    now = svc.state.job(job.id)
    assert now is not None
    done = now.status in ("succeeded", "failed", "cancelled")
    return JSONResponse(RunStatus(**_public(svc, caller, now)).model_dump(mode="json"),
                        status_code=200 if done else 202,
                        headers={"Location": f"/api/runs/{job.id}"})


@router.get("/runs", response_model=RunsPublic, summary="Runs the key may see, newest first")
def list_runs(svc: Svc, caller: Caller,
              park: Annotated[str | None, Query(max_length=200)] = None,
              status: Annotated[str | None, Query(
                  pattern="^(queued|running|succeeded|failed|cancelled)$")] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 50,
              offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
    require(caller, Role.admin, Role.park_manager)
    if park is not None and not caller.sees_park(park):
        raise forbidden("this park")
    if caller.role is Role.park_manager:
        park = caller.scope
    jobs, total = svc.state.jobs(park, any_park=park is None, status=status, limit=limit,
                                 offset=offset)
    return {"data": [_public(svc, caller, j) for j in jobs], "count": total}


@router.get("/runs/{run_id}", response_model=RunStatus, summary="A run's status and KPIs")
def get_run(run_id: RecordId, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _public(svc, caller, _visible_job(svc, caller, run_id))


@router.post("/runs/{run_id}/cancel", response_model=RunStatus,
             responses={409: {"model": ErrorResponse}},
             summary="Stop a queued or running run at once (its worker process is "
                     "terminated); it ends `cancelled` with no result")
def cancel_run(run_id: RecordId, svc: Svc, caller: Caller) -> dict[str, Any]:
    job = _visible_job(svc, caller, run_id)
    if not svc.jobs.cancel(job.id, f"api key {caller.key_id} ({caller.role})"):
        raise ApiError(409, "conflict", f"run {job.id} has finished ({job.status}); "
                                        "there is nothing to cancel")
    now = svc.state.job(job.id)
    assert now is not None
    return _public(svc, caller, now)


@router.get("/runs/{run_id}/result", summary="A run's full result: KPIs, summary.json, "
            "enterprises, exchanges, offers and needs",
            responses={200: {"model": RunResult}})
def get_result(run_id: RecordId, request: Request, svc: Svc, caller: Caller) -> Response:
    job = _visible_job(svc, caller, run_id)
    _status_allows_result(job)
    if _park_scoped(caller, job):  # the park's view, built per request (park_view)
        return JSONResponse(_readable(svc, caller, job))
    blob = svc.state.job_result_gzip(job.id)
    if blob is None:
        raise ApiError(409, "conflict", f"run {job.id} has no stored result")
    # the stored JSON never changes: sent as it is, compressed when the client accepts it
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        return Response(blob, media_type="application/json",
                        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(gzip.decompress(blob), media_type="application/json",
                    headers={"Vary": "Accept-Encoding"})


@router.get("/runs/{run_id}/monthly", response_model=RunMonthly,
            responses={404: {"model": ErrorResponse}},
            summary="A monthly run's figures per month and its stores' levels (the page's "
                    "monthly charts); 404 for an annual run")
def get_monthly(run_id: RecordId, svc: Svc, caller: Caller) -> dict[str, Any]:
    from symbiosis.months import MONTHS

    job = _visible_job(svc, caller, run_id)
    result = _readable(svc, caller, job)
    section = (result.get("summary") or {}).get("monthly")
    if not section:
        raise ApiError(404, "not_found", f"run {run_id} is an annual plan: its dataset gives "
                                         "no months (m01..m12, profile) and no storage")
    months = [{**m, "unmatched_t": m["offered_t"] - m["matched_t"],
               "unmet_t": m["needed_t"] - m["met_t"]} for m in section["months"]]
    tables = result.get("monthly") or {}
    stores = [{"enterprise_id": str(r["enterprise_id"]), "material": str(r["material"]),
               "side": str(r["side"]), "unit": str(r.get("unit") or ""),
               "capacity": float(r["capacity"]),
               "levels": [float(r[name]) for name in (f"m{t:02d}" for t in range(1, MONTHS + 1))],
               "year_end": float(r["year_end"])} for r in tables.get("storage") or []]
    return {"run_id": job.id, "park": job.park, "months": months, "stores": stores,
            "year_end_stock_t": section["year_end_stock_t"], "lost_t": section["lost_t"],
            "method": section["method"], "note": section["note"]}


@router.get("/runs/{run_id}/exchanges.csv", summary="A run's exchanges as CSV",
            response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def get_exchanges_csv(run_id: RecordId, svc: Svc, caller: Caller) -> Response:
    result = _readable(svc, caller, _visible_job(svc, caller, run_id))
    rows = result["exchanges"]
    from symbiosis.matching.result import EXCHANGE_COLUMNS
    from symbiosis.tabular import csv_text

    columns = list(rows[0]) if rows else list(EXCHANGE_COLUMNS)
    return Response(csv_text(columns, rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="run-{run_id}-exchanges.csv"'})


@router.get("/runs/{run_id}/exchanges_monthly.csv", summary="A monthly run's exchanges "
            "per month as CSV (exchanges_monthly.csv); 404 for an annual run",
            response_class=Response,
            responses={200: {"content": {"text/csv": {}}}, 404: {"model": ErrorResponse}})
def get_exchanges_monthly_csv(run_id: RecordId, svc: Svc, caller: Caller) -> Response:
    result = _readable(svc, caller, _visible_job(svc, caller, run_id))
    tables = result.get("monthly")
    if not tables:
        raise ApiError(404, "not_found", f"run {run_id} is an annual plan: its dataset gives "
                                         "no months (m01..m12, profile) and no storage")
    from symbiosis.matching.result import EXCHANGE_COLUMNS
    from symbiosis.tabular import csv_text

    rows = tables["exchanges"]
    columns = list(rows[0]) if rows else ["month", *EXCHANGE_COLUMNS]
    return Response(csv_text(columns, rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="run-{run_id}-exchanges_monthly.csv"'})


@router.get("/runs/{run_id}/exchanges.geojson", summary="A run's exchanges as GeoJSON lines",
            responses={200: {"content": {"application/geo+json": {}}}})
def get_exchanges_geojson(run_id: RecordId, svc: Svc, caller: Caller) -> Response:
    from symbiosis.geo.export import material_colour

    result = _readable(svc, caller, _visible_job(svc, caller, run_id))
    where = {e["id"]: (e["lon"], e["lat"]) for e in result["enterprises"]}
    features = []
    for x in result["exchanges"]:
        if x["offer_enterprise_id"] not in where or x["need_enterprise_id"] not in where:
            continue  # a park run's partner outside the park is not shown
        a, b = where[x["offer_enterprise_id"]], where[x["need_enterprise_id"]]
        features.append({"type": "Feature",
                         "geometry": {"type": "LineString", "coordinates": [list(a), list(b)]},
                         "properties": {**x, "color": material_colour(x["offer_material"])}})
    body = {"type": "FeatureCollection", "features": features}
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/geo+json")


@router.get("/runs/{before}/diff/{after}", summary="Exchanges that appeared, vanished or "
            "changed between two runs")
def diff(before: RecordId, after: RecordId, svc: Svc, caller: Caller) -> dict[str, Any]:
    records: list[RunRecord] = []
    jobs: list[Job] = []
    for run_id in (before, after):
        job = _visible_job(svc, caller, run_id)
        jobs.append(job)
        if job.store_run_id is None:
            raise ApiError(409, "conflict", f"run {run_id} is {job.status}; only finished "
                                            "runs compare")
        records.append(svc.region.run(job.store_run_id))
    rows = diff_runs(records[0], records[1])
    scoped = [j for j in jobs if _park_scoped(caller, j)]
    if scoped:  # a park key: the same rule as the run body (park_view)
        from symbiosis.api.server.park_view import park_view

        assert scoped[0].park is not None
        rows = park_view({"exchanges": rows}, scoped[0].park,
                         svc.region.snapshot())["exchanges"]
    return {"data": rows, "count": len(rows)}
