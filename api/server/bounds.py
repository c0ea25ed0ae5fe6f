"""The API's value bounds applied to uploads too, rows per role, and quality attributes a
non-admin may introduce (issue 18, item 4).

An upload used to skip the bounds the JSON API enforces (1e308 quantities, NUL in names,
10 MB names, look-alike ids) and one enterprise key could add thousands of quality
columns region-wide. Here every cell of an uploaded enterprise, offer or need is checked
against the very pydantic types of `schemas` (`Id`, `Text`, `Quantity`, `Money`, `Value`),
an upload's rows are capped per role, and only an administrator may use a quality
attribute no rule of the taxonomy limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from symbiosis.api.server.auth import Principal
from symbiosis.api.server.errors import ApiError
from symbiosis.api.server.schemas import Id, Money, Quantity, Text, Value
from symbiosis.errors import InvalidDataError, Problem
from symbiosis.store import DatasetRows
from symbiosis.taxonomy import Taxonomy

__all__ = ["MAX_UPLOAD_ROWS", "check_attributes", "check_upload"]

# rows (enterprises + offers + needs) one upload may hold, by role: the region's admin
# loads a province; a park manager its park (a 400,000-row workbook stalled every later
# edit for 10 s, issue 18)
MAX_UPLOAD_ROWS: Mapping[str, int] = {"admin": 500_000, "park_manager": 20_000}
_ID, _TEXT = TypeAdapter(Id), TypeAdapter(Text)
_QUANTITY, _MONEY, _VALUE = TypeAdapter(Quantity), TypeAdapter(Money), TypeAdapter(Value)
_MONEY_COLUMNS = ("disposal_cost", "treatment_cost", "virgin_cost")
_PREFIXES = ("q.", "min.", "max.")


def check_attributes(caller: Principal, taxonomy: Taxonomy, attributes: Iterable[str],
                     field: str) -> None:
    """422 if a non-admin names a quality attribute no taxonomy rule limits (each new one
    would be a column for the whole region)."""
    if caller.is_admin:
        return
    known = taxonomy.quality_attributes()
    unknown = sorted(set(attributes) - known)
    if unknown:
        raise ApiError(422, "invalid_request", "unknown quality attribute(s); only an "
                       "administrator may add one",
                       [Problem("body", None, f"{field}.{a}", "not in the taxonomy")
                        for a in unknown[:20]])


def _cell(adapter: TypeAdapter[Any], value: Any) -> str | None:
    if hasattr(value, "item"):  # a numpy scalar from the reader
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])
    return None


def check_upload(rows: DatasetRows, caller: Principal, taxonomy: Taxonomy, upload: str
                 ) -> None:
    """Every problem of an upload against the API's bounds, or nothing.

    Raises:
        InvalidDataError: too many rows for the caller's role, a cell outside the API's
            bounds (file:row:column), or (non-admin) a quality attribute not in the taxonomy.
    """
    total = len(rows.enterprises) + len(rows.offers) + len(rows.needs)
    cap = MAX_UPLOAD_ROWS.get(str(caller.role), MAX_UPLOAD_ROWS["park_manager"])
    if total > cap:
        raise InvalidDataError([Problem(upload, None, None, f"{total} rows: a {caller.role} "
                                        f"key may upload at most {cap}")])
    problems: list[Problem] = []

    def check(table: str, i: int, column: str, adapter: TypeAdapter[Any], value: Any) -> None:
        if value is None or value == "":
            return
        why = _cell(adapter, value)
        if why is not None:
            problems.append(Problem(f"{upload}/{table}.csv", i + 2, column, why))

    for i, e in enumerate(rows.enterprises):
        check("enterprises", i, "id", _ID, str(e["id"]))
        check("enterprises", i, "name", _TEXT, e.get("name"))
        check("enterprises", i, "park", _TEXT, e.get("park"))
    known = taxonomy.quality_attributes()
    for table in ("offers", "needs"):
        for i, r in enumerate(getattr(rows, table)):
            check(table, i, "id", _ID, str(r["id"]))
            check(table, i, "enterprise_id", _ID, str(r["enterprise_id"]))
            check(table, i, "quantity", _QUANTITY, r.get("quantity"))
            for column, value in r.items():
                if column in _MONEY_COLUMNS:
                    check(table, i, column, _MONEY, value)
                elif column.startswith(_PREFIXES):
                    check(table, i, column, _VALUE, value)
        columns = rows.offer_columns if table == "offers" else rows.need_columns
        if not caller.is_admin:
            for column in columns:
                if column.startswith(_PREFIXES) and column.split(".", 1)[1] not in known:
                    problems.append(Problem(f"{upload}/{table}.csv", 1, column,
                                            "quality attribute not in the taxonomy; only an "
                                            "administrator may add one"))
    if problems:
        raise InvalidDataError(problems)
