"""Checks of the integer-logistics inputs (issue 16), run by `symbiosis.dataset` with the
rest of the contract so that `symbiosis validate` lists them as `file:row:column`.

The inputs, all optional (units per year in the material's unit: t, GJ, m3):

| table            | column             | meaning                                                 |
|------------------|--------------------|---------------------------------------------------------|
| offers, needs    | `min_lot`          | smallest annual quantity of one exchange (<= quantity)  |
| offers, needs    | `max_partners`     | most exchanges of the listing (a positive integer)      |
| offers, needs    | `contract_cny_per_year` | CNY/yr this side pays per exchange contract (>= 0) |
| transport        | `truck_capacity_t` | payload of one truck, t (a positive integer)            |
| transport        | `cny_per_trip_km`  | CNY per truck trip per km (>= 0)                        |
| contracts        | `offer_id, need_id, quantity` | an existing contract that must stay, with |
|                  |                    | the least quantity it keeps (offer units; blank = any)  |

`min_lot` is read in the material's unit, like `used_existing` (the `unit` column converts
`quantity` only). Each function appends `Problem`s; none raises.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symbiosis.errors import Problem

__all__ = ["check_contracts", "check_listing_logistics", "check_truck_columns"]

ROW = "_row"


def _integer_problems(frame: pd.DataFrame, column: str, label: str,
                      problems: list[Problem]) -> None:
    if column not in frame:
        return
    values = frame[column].to_numpy(float)
    bad = np.isfinite(values) & (values != np.round(values))
    for value, row in zip(values[bad], frame.loc[bad, ROW], strict=True):
        problems.append(Problem(label, int(row), column,
                                f"must be a whole number, got {value:g}"))


def check_listing_logistics(frame: pd.DataFrame, label: str, problems: list[Problem]) -> None:
    """offers.csv / needs.csv: `min_lot` at most the listing's `quantity` (a lot above it
    could never be shipped), `max_partners` a whole number (>= 1 is the column's check)."""
    if "min_lot" in frame:
        lot = frame["min_lot"].to_numpy(float)
        qty = frame["quantity"].to_numpy(float)
        bad = np.isfinite(lot) & np.isfinite(qty) & (lot > qty)
        for value, q, row in zip(lot[bad], qty[bad], frame.loc[bad, ROW], strict=True):
            problems.append(Problem(label, int(row), "min_lot",
                                    f"min_lot {value:g} is above the quantity {q:g}"))
    _integer_problems(frame, "max_partners", label, problems)


def check_truck_columns(transport: pd.DataFrame, label: str,
                        problems: list[Problem]) -> None:
    """transport.csv: `truck_capacity_t` a whole number of tonnes (> 0 is the column's
    check); a trip cost without a truck capacity cannot count trips (warning)."""
    _integer_problems(transport, "truck_capacity_t", label, problems)
    if "cny_per_trip_km" in transport and "truck_capacity_t" in transport:
        cap = np.isfinite(transport["truck_capacity_t"].to_numpy(float))
        default_cap = bool(cap[(transport["material"] == "").to_numpy()].any())
        alone = (np.isfinite(transport["cny_per_trip_km"].to_numpy(float)) & ~cap
                 & (not default_cap))
        for row in transport.loc[alone, ROW]:
            problems.append(Problem(label, int(row), "cny_per_trip_km",
                                    "a cost per trip needs truck_capacity_t on the same row "
                                    "(or on the default row); without it no trip is counted",
                                    "warning"))


def check_contracts(contracts: pd.DataFrame, label: str, offers: pd.DataFrame | None,
                    needs: pd.DataFrame | None, problems: list[Problem]) -> None:
    """contracts.csv: known offer and need ids (after default ids are given), one row per
    pair, the two sides of different enterprises, and kept quantities that fit the offer."""
    for column, frame, what in (("offer_id", offers, "offers"), ("need_id", needs, "needs")):
        if frame is None:
            continue
        known = set(frame["id"])
        for value, row in zip(contracts[column], contracts[ROW], strict=True):
            if value and value not in known:
                problems.append(Problem(label, int(row), column,
                                        f"'{value}' is not an id in {what}"))
    pair = contracts["offer_id"] + "\x1f" + contracts["need_id"]
    first: dict[str, int] = {}
    for p, row in zip(pair, contracts[ROW], strict=True):
        if p in first:
            problems.append(Problem(label, int(row), "need_id",
                                    f"contract listed twice (first at row {first[p]})"))
        else:
            first[p] = int(row)
    if offers is None or needs is None:
        return
    off = offers.set_index("id")
    nee = needs.set_index("id")
    if not off.index.is_unique or not nee.index.is_unique:
        return  # duplicate ids are reported by the contract checks
    known = contracts["offer_id"].isin(off.index) & contracts["need_id"].isin(nee.index)
    for o, n, row in zip(contracts.loc[known, "offer_id"], contracts.loc[known, "need_id"],
                         contracts.loc[known, ROW], strict=True):
        if off.at[o, "enterprise_id"] == nee.at[n, "enterprise_id"]:
            problems.append(Problem(label, int(row), "need_id",
                                    "offer and need belong to the same enterprise"))
    kept = contracts.loc[known, ["offer_id", "quantity", ROW]].copy()
    kept["quantity"] = kept["quantity"].fillna(0.0)
    for o, group in kept.groupby("offer_id", sort=False):
        total = float(group["quantity"].sum())
        qty = float(off.at[o, "quantity"])
        if total > qty:
            problems.append(Problem(label, int(group[ROW].max()), "quantity",
                                    f"contracts of offer '{o}' keep {total:g}, above its "
                                    f"quantity {qty:g}"))
