"""TEMPORARY: a minimal app speaking the HTTP API contract for the web page test, used only
until the real app (`api/app.py`) lands on main; then the test switches to its fixture."""

from __future__ import annotations

import dataclasses
import itertools
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

from matching.model import MatchOptions, solve_match
from symbiosis.dataset import Dataset, load_dataset

WEB = Path(__file__).resolve().parents[1] / "api" / "web"


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "request_id": "stub"}},
                        status_code=status)


def _subset(data: Dataset, park: str | None) -> Dataset:
    return _keep(data, data.enterprises[data.enterprises["park"] == park] if park
                 else data.enterprises)


def _keep(data: Dataset, ent: pd.DataFrame) -> Dataset:
    d = data.distances
    return dataclasses.replace(
        data, enterprises=ent,
        offers=data.offers[data.offers["enterprise_id"].isin(ent.index)],
        needs=data.needs[data.needs["enterprise_id"].isin(ent.index)],
        distances=d[d["from_id"].isin(ent.index) & d["to_id"].isin(ent.index)])


def _rows(frame: pd.DataFrame, index: str) -> list[dict[str, Any]]:
    out = frame.reset_index().rename(columns={frame.index.name or "index": index})
    return _clean(out.replace({np.nan: None}).to_dict("records"))


def create_stub_app(dataset_path: Path, key: str) -> FastAPI:
    """The routes the page calls, over the demo dataset held in memory."""
    app = FastAPI()
    data = load_dataset(dataset_path)
    runs: dict[str, dict[str, Any]] = {}
    results: dict[str, Any] = {}
    ids = itertools.count(1)

    @app.middleware("http")
    async def auth(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/api/") and \
                request.headers.get("authorization") != f"Bearer {key}":
            return _error(401, "unauthorized", "missing or unknown API key")
        return await call_next(request)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.get("/static/{name}")
    def static(name: str) -> Any:
        if name == "plotly.min.js":
            import plotly
            return FileResponse(Path(plotly.__file__).parent / "package_data" / name)
        path = WEB / name
        return FileResponse(path) if path.is_file() else _error(404, "not_found", name)

    @app.get("/api/me")
    def me() -> dict[str, Any]:
        return {"role": "admin", "scope": "*", "label": "stub", "key_id": "stub"}

    @app.get("/api/materials")
    def materials() -> dict[str, Any]:
        rows = [{"slug": m.slug, "name_en": m.name_en, "name_zh": m.name_zh, "unit": m.unit,
                 "family": str(m.family), "kind": m.kind, "hazardous": m.hazardous,
                 "default_reach_km": m.default_reach_km}
                for m in data.taxonomy.materials.values()]
        return {"data": rows, "count": len(rows)}

    @app.get("/api/parks")
    def parks() -> dict[str, Any]:
        names = sorted(p for p in data.enterprises["park"].unique() if p)
        rows = [{"name": p, "enterprises": int((data.enterprises["park"] == p).sum())}
                for p in names]
        return {"data": rows, "count": len(rows)}

    def page(rows: list[dict[str, Any]], limit: int, offset: int) -> dict[str, Any]:
        return {"data": rows[offset:offset + limit], "count": len(rows)}

    @app.get("/api/enterprises")
    def enterprises(park: str | None = None, limit: int = 100, offset: int = 0
                    ) -> dict[str, Any]:
        ent = _subset(data, park).enterprises[["name", "sector", "lon", "lat", "park"]]
        return page(_rows(ent, "id"), limit, offset)

    @app.get("/api/offers")
    def offers(park: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        sub = _subset(data, park).offers[["enterprise_id", "material", "quantity", "unit"]]
        return page(_rows(sub, "id"), limit, offset)

    @app.get("/api/needs")
    def needs(park: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        sub = _subset(data, park).needs[["enterprise_id", "material", "quantity", "unit"]]
        return page(_rows(sub, "id"), limit, offset)

    def solve(dataset: Dataset, body: dict[str, Any]) -> Any:
        return solve_match(dataset, MatchOptions(max_km=body.get("max_km"),
                                                 objective=body.get("objective", "utilization")))

    @app.post("/api/runs")
    def post_run(body: dict[str, Any], wait: int = 0) -> dict[str, Any]:
        run_id = f"run{next(ids)}"
        now = datetime.now(UTC).isoformat()
        result = solve(_subset(data, body.get("park")), body)
        results[run_id] = result
        runs[run_id] = {"id": run_id, "status": "succeeded", "progress": 1.0, "phase": "done",
                        "park": body.get("park"), "parameters": body, "created_at": now,
                        "started_at": now, "finished_at": now, "error": None,
                        "kpis": _clean(result.headline())}
        return runs[run_id]

    @app.get("/api/runs")
    def list_runs(park: str | None = None) -> dict[str, Any]:
        rows = [r for r in runs.values() if park is None or r["park"] == park]
        return {"data": rows, "count": len(rows)}

    @app.get("/api/runs/{run_id}")
    def get_run(run_id: str) -> Any:
        return runs.get(run_id) or _error(404, "not_found", run_id)

    @app.get("/api/runs/{run_id}/result")
    def get_result(run_id: str) -> dict[str, Any]:
        run, result = runs[run_id], results[run_id]
        ent = _subset(data, run["park"]).enterprises[["name", "sector", "lon", "lat", "park"]]
        return {"id": run_id, "park": run["park"], "kpis": run["kpis"],
                "summary": _clean(result.summary()), "enterprises": _rows(ent, "id"),
                "exchanges": _clean(result.exchanges.replace({np.nan: None})
                                    .to_dict("records")),
                "offers": _clean(result.offers.replace({np.nan: None}).to_dict("records"))}

    @app.post("/api/scenarios")
    def scenarios(body: dict[str, Any]) -> dict[str, Any]:
        base = _subset(data, body.get("park"))
        ent, off, ned = base.enterprises.copy(), base.offers.copy(), base.needs.copy()
        sentences = []
        for ch in body["changes"]:
            if ch["op"] == "remove_enterprise":
                ent = ent.drop(ch["id"])
                off = off[off["enterprise_id"] != ch["id"]]
                ned = ned[ned["enterprise_id"] != ch["id"]]
                sentences.append(f"removed {ch['id']}")
            elif ch["op"] == "set_quantity":
                frame = off if ch["listing"] == "offer" else ned
                frame.loc[ch["id"], "quantity"] = ch["quantity"]
                sentences.append(f"{ch['id']} quantity set to {ch['quantity']}")
        scen = dataclasses.replace(_keep(base, ent), offers=off[off["enterprise_id"]
                                   .isin(ent.index)], needs=ned[ned["enterprise_id"]
                                   .isin(ent.index)])
        options = body.get("options") or {}
        a, b = solve(base, options).headline(), solve(scen, options).headline()
        delta = {k: (b[k] - a[k] if isinstance(a[k], int | float) and
                     isinstance(b[k], int | float) else None) for k in a}
        return _clean({"baseline": a, "scenario": b, "delta": delta, "changes": sentences,
                       "exchanges_diff": [], "gaps": {}})

    @app.get("/api/gaps")
    def gaps(park: str | None = None) -> dict[str, Any]:
        return {"unmatched": [], "absorbers": []}

    return app
