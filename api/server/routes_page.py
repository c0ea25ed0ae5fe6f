"""What the web page needs besides the API proper: the offline basemap and the bundled
demo's result, the page's fallback when nothing is stored. Neither needs a key: both are
the software's own public data (Natural Earth, GeoNames, the illustrative Hunan demo),
never a stored dataset; both stay out of the OpenAPI like the page's static assets."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

__all__ = ["demo_result", "router"]

router = APIRouter(prefix="/api", include_in_schema=False)
_DEMO_LOCK = threading.Lock()
_DEMO: dict[str, Any] = {}


@router.get("/basemap")
def basemap() -> JSONResponse:
    """China's provincial boundaries as one polyline (`x`, `y`, None between rings), place
    labels and their attribution (`symbiosis.geo.basemap`)."""
    from symbiosis.geo.basemap import basemap_json

    return JSONResponse(basemap_json(), headers={"Cache-Control": "public, max-age=86400"})


def demo_result() -> dict[str, Any]:
    """The bundled Hunan demo matched with the default options, in the shape of
    `GET /api/runs/{id}/result` plus `demo: true`; solved once per process."""
    with _DEMO_LOCK:
        if not _DEMO:
            from symbiosis.api.cli_common import demo_dataset_path
            from symbiosis.api.server.jobs import solve_rows
            from symbiosis.dataset import load_dataset
            from symbiosis.store.records import rows_from_dataset

            dataset = load_dataset(demo_dataset_path())
            done = solve_rows(rows_from_dataset(dataset), {}, lambda _phase, _share: None,
                              dataset=dataset)
            _DEMO.update({"id": None, "park": None, "demo": True, "kpis": done["kpis"],
                          **done["result"]})
        return _DEMO


@router.get("/demo")
def demo() -> JSONResponse:
    """The demo's result, for the page when the store holds nothing to show."""
    return JSONResponse(demo_result(), headers={"Cache-Control": "public, max-age=3600"})
