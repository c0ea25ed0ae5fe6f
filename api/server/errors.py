"""One JSON error shape for every failure, and the handlers that produce it.

`{"error": {"code", "message", "request_id", "problems"?}}`: codes are stable strings
(unauthorized, forbidden, not_found, conflict, invalid_request, invalid_dataset,
payload_too_large, store_unavailable, internal); problems use the dataset report's shape
(file, row, column, message, severity), with file "body"/"query"/"path" for request fields.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from symbiosis.api.server.logs import request_id_var
from symbiosis.errors import (
    InvalidDataError,
    Problem,
    SolverError,
    StoreError,
    StoreUnavailableError,
    SymbiosisError,
)

__all__ = ["MAX_PROBLEMS", "ApiError", "error_body", "forbidden", "install_error_handlers"]

MAX_PROBLEMS = 200  # problems listed in one error response; the rest are counted

log = logging.getLogger("symbiosis.api")
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 412: "precondition_failed",
                 413: "payload_too_large",
                 415: "unsupported_media_type", 422: "invalid_request",
                 503: "store_unavailable"}


class ApiError(Exception):
    """An error the API answers with on purpose."""

    def __init__(self, status: int, code: str, message: str,
                 problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems or []


def forbidden(what: str = "this") -> ApiError:
    """The one 403 every role and scope check raises: it names nothing it protects."""
    return ApiError(403, "forbidden", f"this key may not access {what}")


def error_body(code: str, message: str, problems: list[Problem] | None = None
               ) -> dict[str, Any]:
    """The JSON body of an error response."""
    body: dict[str, Any] = {"code": code, "message": message,
                            "request_id": request_id_var.get()}
    if problems:
        body["problems"] = [p.as_dict() for p in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:  # a 300k-row upload gave a 39.5 MB body (issue 18)
            body["problems_omitted"] = len(problems) - MAX_PROBLEMS
    return {"error": body}


def _respond(status: int, code: str, message: str, problems: list[Problem] | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, problems), status_code=status,
                        headers=headers)


def _validation_problems(exc: RequestValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ())]
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header") else "body"
        field = ".".join(loc[1:]) if loc and loc[0] == where else ".".join(loc)
        problems.append(Problem(where, None, field or None, str(err.get("msg", "invalid"))))
    return problems


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the one error shape, in one place."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _respond(exc.status, exc.code, exc.message, exc.problems, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = _validation_problems(exc)
        return _respond(422, "invalid_request", f"{len(problems)} problem(s) in the request",
                        problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return _respond(exc.status_code, code, str(exc.detail))

    @app.exception_handler(InvalidDataError)
    async def _data(_: Request, exc: InvalidDataError) -> JSONResponse:
        errors = [p for p in exc.problems if p.severity == "error"]
        return _respond(422, "invalid_dataset", f"{len(errors)} problem(s) in the data",
                        exc.problems)

    @app.exception_handler(StoreUnavailableError)
    async def _down(_: Request, exc: StoreUnavailableError) -> JSONResponse:
        return _respond(503, "store_unavailable", str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(sqlite3.DatabaseError)
    async def _sqlite(_: Request, exc: sqlite3.DatabaseError) -> JSONResponse:
        # locked beyond the busy timeout, disk I/O error, disk full: the store (or the
        # server's own state file) cannot answer now; the request changed nothing
        log.warning("store I/O error: %s", exc)
        return _respond(503, "store_unavailable", "the store cannot be reached or written "
                                                  "right now; retry", headers={"Retry-After": "1"})

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JSONResponse:
        return _respond(409, "conflict", str(exc))

    @app.exception_handler(SolverError)
    async def _solver(_: Request, exc: SolverError) -> JSONResponse:
        return _respond(422, "invalid_request", str(exc))

    @app.exception_handler(SymbiosisError)
    async def _other(_: Request, exc: SymbiosisError) -> JSONResponse:
        return _respond(422, "invalid_request", str(exc))

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _respond(500, "internal", "internal error; the server log has the details "
                                         "under this request id")
