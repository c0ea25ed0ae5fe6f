"""The FastAPI application: routes, one error shape, request ids in every log line, the
web page and plotly.js served from the installed plotly package (no CDN)."""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException

from symbiosis.api.server import (
    routes_admin,
    routes_datasets,
    routes_market,
    routes_page,
    routes_resources,
    routes_runs,
    routes_scenarios,
)
from symbiosis.api.server.auth import Role, issue_key, split_key
from symbiosis.api.server.deps import Services
from symbiosis.api.server.errors import error_body, install_error_handlers
from symbiosis.api.server.jobs import RunManager
from symbiosis.api.server.logs import request_id_var
from symbiosis.api.server.region import Region
from symbiosis.api.server.schemas import ErrorResponse
from symbiosis.api.server.settings import Settings
from symbiosis.api.server.state import StateStore
from symbiosis.errors import SymbiosisError
from symbiosis.i18n import Lang, catalogue
from symbiosis.store import open_store
from symbiosis.taxonomy import load_taxonomy

__all__ = ["create_app"]

log = logging.getLogger("symbiosis.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
WEB = Path(str(resources.files("symbiosis.api") / "web"))
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in (
    (401, "no valid API key"), (403, "the key's role or scope does not allow this"),
    (404, "not found (admins only; other keys get 403)"), (409, "conflict"),
    (422, "invalid request or data: every problem listed"),
    (503, "the store cannot be reached"))}
DESCRIPTION = """\
Industrial symbiosis matching: park enterprises' by-products (fly ash, slag, gypsum, waste
heat, reclaimed water …) matched with the enterprises that can use them, the most put to
use with the least transport.

Send an API key as `Authorization: Bearer <key>` (or `X-API-Key`). Roles: **admin** (the
whole region), **park_manager** (one park), **enterprise** and **recycler** (one
enterprise: its own listings; counterparts appear anonymised until both sides agree).
A key outside its role or scope gets 403 whether or not the thing exists.

Every error is `{"error": {"code", "message", "request_id", "problems"?}}`.
"""


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _bootstrap_admin(state: StateStore, key: str | None) -> None:
    if not key:
        return
    parts = split_key(key)
    if parts is None:
        raise SymbiosisError("SYMBIOSIS_ADMIN_KEY must look like sk_<12 hex>_<43 URL-safe "
                             "chars>; `symbiosis keys create --role admin` makes one")
    if state.key(parts[0]) is None:
        issue_key(state, Role.admin, "*", "SYMBIOSIS_ADMIN_KEY", key=key)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app, on the store and state file the settings name (created on first use)."""
    settings = settings or Settings()
    state = StateStore(settings.state_path())
    _bootstrap_admin(state, settings.admin_key)
    region = Region(open_store(settings.store))
    services = Services(
        settings=settings, state=state, region=region,
        jobs=RunManager(region, state, settings.run_workers,
                        settings.process_min_enterprises),
        taxonomy=load_taxonomy(),
        handle_secret=state.set_meta_once("handle_secret", secrets.token_hex(32)).encode())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.jobs.close()
        region.close()
        state.close()

    app = FastAPI(
        title="symbiosis", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
        openapi_tags=[
            {"name": "meta", "description": "health, the caller, materials"},
            {"name": "keys", "description": "API keys (admin)"},
            {"name": "parks"}, {"name": "enterprises"}, {"name": "offers"}, {"name": "needs"},
            {"name": "datasets", "description": "uploads, all or nothing"},
            {"name": "runs", "description": "match runs in the background"},
            {"name": "scenarios", "description": "what-if and gap analysis"},
            {"name": "feedstock", "description": "search for recyclers and enterprises"},
            {"name": "proposals", "description": "exchanges both sides accept"},
        ])
    app.state.services = services
    install_error_handlers(app)

    @app.middleware("http")
    async def request_context(request: Request,
                              call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        token = request_id_var.set(rid)
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error")
            response = JSONResponse(error_body("internal", "internal error; the server log "
                                               "has the details under this request id"),
                                    status_code=500)
        response.headers["X-Request-ID"] = rid
        log.info("request", extra={
            "method": request.method, "path": request.url.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - start) * 1000, 2),
            "key_id": getattr(request.state, "key_id", None)})
        request_id_var.reset(token)
        return response

    app.include_router(routes_admin.router, responses=ERRORS)
    app.include_router(routes_page.router)  # the page's basemap and demo fallback (no key)
    for module in (routes_resources, routes_datasets, routes_runs, routes_scenarios,
                   routes_market):
        app.include_router(module.router, responses=ERRORS)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/api/i18n", include_in_schema=False)
    def messages(lang: Lang | None = None) -> JSONResponse:
        """The message catalogue the reports use, for the web page: {key: {en, zh}}, or
        {key: text} with `lang`. No key needed (the page shows its labels before a key is
        entered; the catalogue holds only the software's own words, no data); kept out of
        the OpenAPI like the page's other static assets."""
        words = catalogue()
        body = words if lang is None else {k: v.get(lang) or v.get("en", k)
                                           for k, v in words.items()}
        return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(_plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = WEB / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise HTTPException(404, f"no static file '{name}'")
        return FileResponse(path)

    return app
