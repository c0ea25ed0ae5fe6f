"""Plain records the store keeps: a dataset as rows, its content hash, dataset versions and
match runs. Both backends read and write only these, so they are compared by one contract.

A dataset's rows hold exactly what its validated frames hold (NaN as None), so a stored
dataset exported and loaded again gives the same frames, and the same content hash: every
column of offers and needs (months, profiles, grades, logistics, baselines, uncertainty,
estimates, quality and requirement attributes) and every optional table of the contract
(`symbiosis.dataset.SPECS`: substitutions, distances, transport, carbon, hazardous,
licences, contracts, storage). Two things are stored as what the run used rather than as
typed: coordinates in WGS 84 (an enterprise given in GCJ-02, BD-09 or an EPSG system reads
back with `crs` wgs84, so it is never converted twice), and a need capped by a licence
keeps its stated quantity (the cap is applied again on load).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symbiosis.jsonio import json_safe, plain_value

if TYPE_CHECKING:
    import pandas as pd

    from symbiosis.dataset import Dataset

__all__ = [
    "EXCHANGE_FIELDS",
    "SIDE_TABLES",
    "AppliedWrite",
    "DatasetRows",
    "DatasetVersion",
    "Park",
    "RowWrite",
    "RowWriteResult",
    "RunInfo",
    "RunRecord",
    "apply_row_write",
    "dataset_from_rows",
    "diff_runs",
    "json_safe",
    "next_row_id",
    "park_rows",
    "rows_from_dataset",
    "side_columns",
    "subset_rows",
    "write_dataset_folder",
]

Row = dict[str, Any]
ENTERPRISE_FIELDS = ("id", "name", "sector", "lon", "lat", "park")
CORE_LISTING_FIELDS = ("id", "enterprise_id", "material", "quantity")
# optional tables kept as rows with the contract's columns (symbiosis.dataset.SPECS), in
# this order; a dataset without them hashes as it did before they were stored
SIDE_TABLES = ("transport", "carbon", "contracts", "storage")
# the exchange columns a run keeps: the CLI contract's six, then the offer and need ids
EXCHANGE_FIELDS = ("offer_enterprise_id", "need_enterprise_id", "offer_material",
                   "need_material", "quantity", "distance_km", "offer_id", "need_id")


@dataclass(frozen=True)
class DatasetRows:
    """A dataset as rows (one dict per row, every column of its frame, None for empty).

    `offer_columns` / `need_columns` keep the listing tables' column order (including
    quality columns that are empty everywhere); `substitutions` is None when the dataset
    had no substitutions table (the built-in rules apply), [] when it had an empty one.
    """

    enterprises: list[Row]
    offers: list[Row]
    needs: list[Row]
    distances: list[Row]
    substitutions: list[Row] | None
    offer_columns: tuple[str, ...]
    need_columns: tuple[str, ...]
    # hazardous.csv declarations (material, hw_code) and licences.csv rows (enterprise_id,
    # hw_code, capacity, valid_until): kept so store and API runs see them (issue 13)
    hazardous: list[Row] = field(default_factory=list)
    licences: list[Row] = field(default_factory=list)
    # transport.csv (economics and trucks), carbon.csv, contracts.csv (existing contracts,
    # issue 16) and storage.csv (silos and yards, issue 15): SPECS columns, None for empty
    transport: list[Row] = field(default_factory=list)
    carbon: list[Row] = field(default_factory=list)
    contracts: list[Row] = field(default_factory=list)
    storage: list[Row] = field(default_factory=list)

    def side(self, table: str) -> list[Row]:
        """The rows of one of SIDE_TABLES."""
        if table not in SIDE_TABLES:
            raise KeyError(table)
        rows: list[Row] = getattr(self, table)
        return rows

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of every row: equal data, equal hash (a dataset
        without hazardous declarations, licences or SIDE_TABLES hashes as it did before
        they were stored)."""
        body: dict[str, Any] = {
            "enterprises": self.enterprises, "offers": self.offers, "needs": self.needs,
            "distances": self.distances, "substitutions": self.substitutions,
            "offer_columns": list(self.offer_columns), "need_columns": list(self.need_columns),
        }
        if self.hazardous:
            body["hazardous"] = self.hazardous
        if self.licences:
            body["licences"] = self.licences
        for table in SIDE_TABLES:
            if self.side(table):
                body[table] = self.side(table)
        text = json.dumps(body, sort_keys=True, ensure_ascii=False, allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def extras(self, table: str) -> list[str]:
        """Columns of `offers`/`needs` beyond id, enterprise_id, material, quantity."""
        cols = self.offer_columns if table == "offers" else self.need_columns
        return [c for c in cols if c not in CORE_LISTING_FIELDS]


@dataclass(frozen=True)
class DatasetVersion:
    """One import: a numbered, hashed version of the store's dataset."""

    version: int
    hash: str
    source: str
    imported_at: str
    enterprises: int
    offers: int
    needs: int


@dataclass(frozen=True)
class Park:
    """A park and how many listed enterprises are in it."""

    name: str
    enterprises: int


@dataclass(frozen=True)
class RunInfo:
    """A stored match run without its exchanges (for listings)."""

    id: int
    created_at: str
    version: int | None
    dataset_hash: str
    parameters: dict[str, Any]
    summary: dict[str, Any]
    exchanges: int


@dataclass(frozen=True)
class RunRecord:
    """A match run to store or as read back: parameters, dataset version, KPIs, exchanges.

    `exchanges` rows have EXCHANGE_FIELDS; `id` and `created_at` are set by the store.
    """

    parameters: dict[str, Any]
    dataset_hash: str
    summary: dict[str, Any]
    exchanges: list[Row] = field(default_factory=list)
    version: int | None = None
    id: int | None = None
    created_at: str = ""

    def info(self) -> RunInfo:
        """The listing form of this run."""
        return RunInfo(int(self.id or 0), self.created_at, self.version, self.dataset_hash,
                       self.parameters, self.summary, len(self.exchanges))

    @classmethod
    def from_result(cls, result: Any, dataset_hash: str) -> RunRecord:
        """A record of a `matching.MatchResult` (typed Any: the store sits below matching)."""
        kpis = result.summary.to_dict()  # summary.json's body (matching.summary)
        parameters = dict(kpis.pop("parameters", {}))
        ex = result.exchanges
        rows = [{k: plain_value(v) for k, v in zip(EXCHANGE_FIELDS, values, strict=True)}
                for values in ex[list(EXCHANGE_FIELDS)].itertuples(index=False, name=None)]
        return cls(parameters=parameters, dataset_hash=dataset_hash, summary=kpis,
                   exchanges=rows)


def _frame_rows(frame: pd.DataFrame, index_name: str) -> list[Row]:
    flat = frame.reset_index().rename(columns={index_name: "id"})
    columns = list(flat.columns)
    return [{c: plain_value(v) for c, v in zip(columns, values, strict=True)}
            for values in flat.itertuples(index=False, name=None)]


def rows_from_dataset(dataset: Dataset) -> DatasetRows:
    """The rows of a validated dataset (its frames, not its files)."""
    from symbiosis.taxonomy import load_taxonomy

    tax = dataset.taxonomy
    subs: list[Row] | None = None
    if tax.rules_source != load_taxonomy().rules_source:
        subs = [{"need_material": n, "offer_material": o, "ratio": float(r.ratio)}
                for (n, o), r in tax.rules.items()]
    enterprises = [{k: row.get(k) for k in ENTERPRISE_FIELDS}
                   for row in _frame_rows(dataset.enterprises, "enterprise_id")]
    needs = dataset.needs
    if UNCAPPED in needs.columns:  # a licence cap is applied again on load: keep the input
        import numpy as np

        stated = needs[UNCAPPED].to_numpy(float)
        needs = needs.drop(columns=[UNCAPPED])
        needs["quantity"] = np.where(np.isfinite(stated), stated,
                                     needs["quantity"].to_numpy(float))
    return DatasetRows(
        enterprises=enterprises,
        offers=_frame_rows(dataset.offers, "offer_id"),
        needs=_frame_rows(needs, "need_id"),
        distances=[
            {"from_id": str(a), "to_id": str(b), "distance_km": float(km)}
            for a, b, km in dataset.distances[["from_id", "to_id", "distance_km"]]
            .itertuples(index=False, name=None)],
        substitutions=subs,
        offer_columns=("id", *dataset.offers.columns),
        need_columns=("id", *needs.columns),
        hazardous=_hazardous_rows(dataset),
        licences=[{c: plain_value(row.get(c)) for c in LICENCE_FIELDS}
                  for row in dataset.licences.to_dict("records")],
        **{t: _side_rows(getattr(dataset, t), side_columns(t)) for t in SIDE_TABLES},
    )


# the column `symbiosis.dataset` adds to needs capped by a licence (their stated quantity)
UNCAPPED = "unlicensed_quantity"


def side_columns(table: str) -> tuple[str, ...]:
    """The contract's columns of one of SIDE_TABLES (symbiosis.dataset.SPECS), in order."""
    from symbiosis.dataset import SPECS

    return tuple(spec.name for spec in SPECS[table])


def _side_rows(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[Row]:
    """One row per frame row with exactly `columns` (derived columns such as storage's
    `side` or contracts' `row` are left out: loading computes them again)."""
    body = frame.reindex(columns=list(columns))
    return [{c: plain_value(v) for c, v in zip(columns, values, strict=True)}
            for values in body.itertuples(index=False, name=None)]


LICENCE_FIELDS = ("enterprise_id", "hw_code", "capacity", "valid_until")


def _hazardous_rows(dataset: Dataset) -> list[Row]:
    """The dataset's hazardous.csv declarations, read back from its taxonomy: every
    material hazardous here but not (or under another code) in the built-in taxonomy."""
    from symbiosis.taxonomy import load_taxonomy

    built_in = load_taxonomy().materials
    out: list[Row] = []
    for slug, mat in dataset.taxonomy.materials.items():
        known = built_in.get(slug)
        if mat.hazardous and mat.hw_code and (
                known is None or not known.hazardous or known.hw_code != mat.hw_code):
            out.append({"material": slug, "hw_code": mat.hw_code})
    return out


def _text(value: Any) -> str:
    """A cell as the dataset reader will parse it back to the same value."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


def _tables(rows: DatasetRows) -> dict[str, tuple[list[str], list[Row]]]:
    tables: dict[str, tuple[list[str], list[Row]]] = {
        "enterprises": (list(ENTERPRISE_FIELDS), rows.enterprises),
        "offers": (list(rows.offer_columns), rows.offers),
        "needs": (list(rows.need_columns), rows.needs),
    }
    if rows.distances:
        tables["distances"] = (["from_id", "to_id", "distance_km"], rows.distances)
    if rows.substitutions is not None:
        tables["substitutions"] = (["need_material", "offer_material", "ratio"],
                                   rows.substitutions)
    if rows.hazardous:
        tables["hazardous"] = (["material", "hw_code"], rows.hazardous)
    known = {str(e["id"]) for e in rows.enterprises}
    licences = [r for r in rows.licences if str(r.get("enterprise_id")) in known]
    if licences:  # a receiver deleted by a single-row write takes its licences with it
        tables["licences"] = (list(LICENCE_FIELDS), licences)
    # silos of enterprises and contracts of listings a row write or a park's upload took
    # away go with them, as licences do
    linked = _linked_side_rows(rows, known, {str(o["id"]) for o in rows.offers},
                               {str(n["id"]) for n in rows.needs})
    for table in SIDE_TABLES:
        body = linked.get(table, rows.side(table))
        if body:
            tables[table] = (list(side_columns(table)), body)
    return tables


def dataset_from_rows(rows: DatasetRows, source: str = "store") -> Dataset:
    """Validate stored rows back into a `Dataset` (the same checks as a file)."""
    from symbiosis.dataset import dataset_from_records

    tables = _tables(rows)
    records: dict[str, list[Mapping[str, object]]] = {
        name: [{c: _text(r.get(c)) for c in cols} for r in body]
               for name, (cols, body) in tables.items()}
    return dataset_from_records(records, source=source,
                                columns={name: cols for name, (cols, _) in tables.items()})


def write_dataset_folder(rows: DatasetRows, folder: str | Path) -> list[Path]:
    """Write the rows as a dataset folder (`symbiosis validate` accepts it)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (cols, body) in _tables(rows).items():
        path = out / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(cols)
            writer.writerows([_text(r.get(c)) for c in cols] for r in body)
        written.append(path)
    return written


def subset_rows(rows: DatasetRows, enterprise_ids: set[str] | frozenset[str]) -> DatasetRows:
    """The rows of the given enterprises only: their listings and the distances between
    them; substitutions and column orders stay as they are."""
    keep = set(enterprise_ids)
    offers = [o for o in rows.offers if o["enterprise_id"] in keep]
    needs = [n for n in rows.needs if n["enterprise_id"] in keep]
    linked = _linked_side_rows(rows, keep, {str(o["id"]) for o in offers},
                               {str(n["id"]) for n in needs})
    return replace(
        rows,
        enterprises=[e for e in rows.enterprises if e["id"] in keep],
        offers=offers,
        needs=needs,
        distances=[d for d in rows.distances if d["from_id"] in keep and d["to_id"] in keep],
        licences=[r for r in rows.licences if r.get("enterprise_id") in keep],
        storage=linked["storage"],
        contracts=linked["contracts"],
    )


def _linked_side_rows(rows: DatasetRows, enterprises: set[str], offers: set[str],
                      needs: set[str]) -> dict[str, list[Row]]:
    """Storage rows of the given enterprises and contracts between the given listings (a
    deleted enterprise or listing takes its silos and contracts with it)."""
    return {"storage": [r for r in rows.storage if str(r.get("enterprise_id")) in enterprises],
            "contracts": [r for r in rows.contracts if str(r.get("offer_id")) in offers
                          and str(r.get("need_id")) in needs]}


def park_rows(rows: DatasetRows, park: str) -> DatasetRows:
    """The rows of one park's enterprises (a park manager's view, a park's match run)."""
    return subset_rows(rows, {str(e["id"]) for e in rows.enterprises if e.get("park") == park})


def diff_runs(before: RunRecord, after: RunRecord, rel_tol: float = 1e-9) -> list[Row]:
    """Exchanges that appeared, vanished or changed from `before` to `after`, keyed by
    (supplier, receiver, offered material, needed material); quantities summed per key."""
    def totals(run: RunRecord) -> dict[tuple[str, str, str, str], tuple[float, float]]:
        out: dict[tuple[str, str, str, str], tuple[float, float]] = {}
        for x in run.exchanges:
            key = (x["offer_enterprise_id"], x["need_enterprise_id"], x["offer_material"],
                   x["need_material"])
            q, _ = out.get(key, (0.0, 0.0))
            out[key] = (q + float(x["quantity"]), float(x["distance_km"]))
        return out

    a, b = totals(before), totals(after)
    rows: list[Row] = []
    for key in sorted(set(a) | set(b)):
        qa, ka = a.get(key, (None, None))
        qb, kb = b.get(key, (None, None))
        if qa is None:
            change = "appeared"
        elif qb is None:
            change = "vanished"
        elif math.isclose(qa, qb, rel_tol=rel_tol) and ka == kb:
            continue
        else:
            change = "changed"
        rows.append({"change": change, "offer_enterprise_id": key[0],
                     "need_enterprise_id": key[1], "offer_material": key[2],
                     "need_material": key[3], "quantity_before": qa, "quantity_after": qb,
                     "distance_km": kb if kb is not None else ka})
    return rows


# ---------------------------------------------------------------- single-row writes (issue 18)

ROW_TABLES = ("enterprises", "offers", "needs")
ID_PREFIX = {"enterprises": "E", "offers": "OF", "needs": "ND"}
ROW_ACTIONS = ("add", "update", "delete")


@dataclass(frozen=True)
class RowWrite:
    """One row written on its own: `add`, `update` or `delete` a row of `table`
    (enterprises, offers or needs).

    `id`: the row's id; for `add` it may be None and the store picks a fresh one inside the
    write's transaction (`E-000001`, `OF-000001`, `ND-000001` ...: never a current id, never
    a retired one). `values`: for `add` the row's columns (without `id`), for `update` only
    the columns that change (`id` cannot change), for `delete` nothing. Values are plain
    Python values as `rows_from_dataset` gives them (numbers as float, empty as None); the
    store checks ids and references, the caller the domain (taxonomy, bounds).
    """

    table: str
    action: str
    id: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RowWriteResult:
    """What a row write did: the row's id (picked by the store for an `add` without one), the
    new dataset version (its number is the compare-and-swap token for the next write) and
    the ids it retired (a deleted enterprise retires its listings' ids too)."""

    id: str
    version: DatasetVersion
    retired: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppliedWrite:
    """`apply_row_write`'s answer: the rows after the write, the row's id, the row as
    written (None after a delete) and the ids retired, by table."""

    rows: DatasetRows
    id: str
    row: Row | None
    retired: dict[str, list[str]]


def next_row_id(table: str, counter: int, taken: set[str]) -> tuple[str, int]:
    """The first `PREFIX-NNNNNN` id after `counter` that is not in `taken`; and its number."""
    n = counter
    while True:
        n += 1
        candidate = f"{ID_PREFIX[table]}-{n:06d}"
        if candidate not in taken:
            return candidate, n


def apply_row_write(rows: DatasetRows, write: RowWrite, retired: set[str],
                    new_id: str | None = None) -> AppliedWrite:
    """The rows after `write`, checked for the store's own integrity (the same rules in
    both backends, which then write only the rows that change).

    `retired`: every id of `write.table` ever deleted (keys of other tables do not collide:
    an offer and a need may share an id, as in a dataset file). `new_id`: the id the store
    picked for an `add` without one.

    Raises:
        StoreConflictError: an `add` with an id that exists or was retired.
        StoreError: an unknown table, action or column, a missing row, a listing of an
            enterprise that is not there, or a change of `id`.
    """
    from symbiosis.errors import StoreError
    from symbiosis.store.base import StoreConflictError

    if write.table not in ROW_TABLES:
        raise StoreError(f"unknown table '{write.table}'; use one of {', '.join(ROW_TABLES)}")
    if write.action not in ROW_ACTIONS:
        raise StoreError(f"unknown action '{write.action}'; use add, update or delete")
    singular = write.table[:-1] if write.table != "enterprises" else "enterprise"
    body: list[Row] = list(getattr(rows, write.table))
    ids = {str(r["id"]) for r in body}
    values = dict(write.values)
    if "id" in values:
        raise StoreError(f"a {singular}'s id is not a column to write; give it as the id")
    columns = (ENTERPRISE_FIELDS if write.table == "enterprises" else
               rows.offer_columns if write.table == "offers" else rows.need_columns)
    if write.table == "enterprises":
        unknown = sorted(set(values) - set(ENTERPRISE_FIELDS))
        if unknown:
            raise StoreError(f"unknown enterprise column(s): {', '.join(unknown)}")
    enterprise_ids = {str(e["id"]) for e in rows.enterprises}
    if write.table != "enterprises" and "enterprise_id" in values \
            and values["enterprise_id"] not in enterprise_ids:
        raise StoreError(f"no enterprise '{values['enterprise_id']}' for this {singular}")
    retired_now: dict[str, list[str]] = {}

    if write.action == "add":
        row_id = write.id if write.id is not None else new_id
        if not row_id:
            raise StoreError(f"no id for the new {singular}")
        if row_id in ids or row_id in retired:
            state = "exists" if row_id in ids else "was deleted (ids are never reused)"
            raise StoreConflictError(f"{singular} '{row_id}' {state}")
        if write.table == "enterprises":
            missing = [c for c in ("lon", "lat") if values.get(c) is None]
            if missing:
                raise StoreError(f"a new enterprise needs {', '.join(missing)}")
            row = {c: values.get(c) for c in ENTERPRISE_FIELDS}
            row["park"] = row["park"] or ""
            row["id"] = row_id
        else:
            missing = [c for c in ("enterprise_id", "material", "quantity") if c not in values]
            if missing:
                raise StoreError(f"a new {singular} needs {', '.join(missing)}")
            row = {"id": row_id, **values}
        body.append(row)
    else:
        if write.id not in ids:
            raise StoreError(f"no {singular} '{write.id}'")
        row_id = str(write.id)
        at = next(i for i, r in enumerate(body) if r["id"] == row_id)
        if write.action == "update":
            row = {**body[at], **values}
            if write.table == "enterprises":
                row["park"] = row["park"] or ""
            body[at] = row
        else:
            row = None
            del body[at]
            retired_now[write.table] = [row_id]
    new_columns = tuple(columns) + tuple(c for c in values if c not in columns)
    if write.table != "enterprises":
        body = [{c: r.get(c) for c in new_columns} for r in body]
        if row is not None:
            row = {c: row.get(c) for c in new_columns}
    changes: dict[str, Any] = {write.table: body}
    if write.table == "enterprises":
        changes["enterprises"] = [{c: r.get(c) for c in ENTERPRISE_FIELDS} for r in body]
        if write.action == "delete":  # its listings and road distances go with it
            for table in ("offers", "needs"):
                gone = [str(r["id"]) for r in getattr(rows, table)
                        if r["enterprise_id"] == row_id]
                changes[table] = [r for r in getattr(rows, table)
                                  if r["enterprise_id"] != row_id]
                if gone:
                    retired_now[table] = gone
            changes["distances"] = [d for d in rows.distances
                                    if row_id not in (d["from_id"], d["to_id"])]
    elif write.table == "offers":
        changes["offer_columns"] = new_columns
    else:
        changes["need_columns"] = new_columns
    if write.action == "delete":  # silos and contracts of what is gone go with it
        after = replace(rows, **changes)
        changes.update(_linked_side_rows(
            after, {str(e["id"]) for e in after.enterprises},
            {str(o["id"]) for o in after.offers}, {str(n["id"]) for n in after.needs}))
    return AppliedWrite(replace(rows, **changes), row_id, row, retired_now)
