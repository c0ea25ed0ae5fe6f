"""Rows <-> API objects and the row edits behind the resource routes (no HTTP here)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from symbiosis.api.server.region import Snapshot, blank
from symbiosis.store import DatasetRows
from symbiosis.taxonomy import Taxonomy
from symbiosis.types import Row

__all__ = [
    "enterprise_public", "listing_public", "new_listing_id", "put_listing", "remove_enterprise",
    "remove_enterprises", "row_etag",
]

# API field -> stored column prefix, per listing table
PREFIXES = {"offers": {"quality": "q."}, "needs": {"min": "min.", "max": "max."}}
MONEY = {"offers": ("disposal_cost", "treatment_cost"), "needs": ("virgin_cost",)}


def enterprise_public(row: Row) -> dict[str, Any]:
    """An enterprise row as the API shows it."""
    return {"id": str(row["id"]), "name": blank(row.get("name")),
            "sector": blank(row.get("sector")), "lon": float(row["lon"]),
            "lat": float(row["lat"]), "park": blank(row.get("park"))}


def row_etag(public: Mapping[str, Any]) -> str:
    """A strong ETag (RFC 9110 8.8.3) of a row's public form: a hash of its canonical JSON,
    so it changes with any field and is the same in every process."""
    text = json.dumps(public, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return '"' + hashlib.sha256(text.encode("ascii")).hexdigest()[:32] + '"'


def listing_public(table: str, row: Row, taxonomy: Taxonomy) -> dict[str, Any]:
    """An offer or need row as the API shows it (attribute columns grouped by prefix)."""
    material = str(row["material"])
    unit = blank(row.get("unit")) or (taxonomy.materials[material].unit
                                      if material in taxonomy.materials else "")
    out: dict[str, Any] = {"id": str(row["id"]), "enterprise_id": str(row["enterprise_id"]),
                           "material": material, "unit": unit,
                           "quantity": float(row["quantity"])}
    for money in MONEY[table]:
        value = row.get(money)
        out[money] = None if value is None or value == "" else float(value)
    for field, prefix in PREFIXES[table].items():
        out[field] = {k[len(prefix):]: float(v) for k, v in row.items()
                      if k.startswith(prefix) and v is not None and v != ""}
    return out


def new_listing_id(snapshot: Snapshot, table: str, enterprise_id: str, material: str) -> str:
    """OF-<enterprise>-<material> (ND- for needs), with -2, -3 … if taken."""
    taken = snapshot.offers if table == "offers" else snapshot.needs
    base = f"{'OF' if table == 'offers' else 'ND'}-{enterprise_id}-{material}"
    n, candidate = 1, base
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _columns(rows: DatasetRows, table: str) -> tuple[str, ...]:
    return rows.offer_columns if table == "offers" else rows.need_columns


def put_listing(rows: DatasetRows, table: str, listing_id: str, fields: dict[str, Any],
                attributes: Mapping[str, Mapping[str, float | None]]
                ) -> tuple[DatasetRows, int]:
    """Create or update one offer/need row; `attributes` maps an API field (quality, min,
    max) to attribute -> value (None removes). Returns the new rows and the row's index."""
    body: list[Row] = list(getattr(rows, table))
    index = next((i for i, r in enumerate(body) if r["id"] == listing_id), None)
    row: Row = dict(body[index]) if index is not None else {"id": listing_id}
    row.update(fields)
    columns = list(_columns(rows, table))
    for field, values in attributes.items():
        prefix = PREFIXES[table][field]
        for attr, value in values.items():
            column = prefix + attr
            row[column] = value
            if column not in columns:
                columns.append(column)
    for column in columns:
        row.setdefault(column, None)
    if index is None:
        body.append(row)
        index = len(body) - 1
    else:
        body[index] = row
    key = "offer_columns" if table == "offers" else "need_columns"
    changes: dict[str, Any] = {table: body, key: tuple(columns)}
    return replace(rows, **changes), index


def remove_enterprises(rows: DatasetRows, ids: Iterable[str]) -> DatasetRows:
    """Drop enterprises with their listings and distances."""
    gone = set(ids)
    return replace(
        rows,
        enterprises=[e for e in rows.enterprises if e["id"] not in gone],
        offers=[o for o in rows.offers if o["enterprise_id"] not in gone],
        needs=[n for n in rows.needs if n["enterprise_id"] not in gone],
        distances=[d for d in rows.distances
                   if d["from_id"] not in gone and d["to_id"] not in gone])


def remove_enterprise(rows: DatasetRows, enterprise_id: str) -> DatasetRows:
    """Drop one enterprise with its listings and distances."""
    return remove_enterprises(rows, [enterprise_id])
