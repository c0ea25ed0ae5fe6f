"""Monthly listings (issue 15): the `m01` ... `m12` columns of offers and needs, the built-in
monthly profiles a listing may name, and the check that ties months to `quantity`.

A listing's month columns give the quantity in that month, in the listing's unit (converted
with `quantity` by `symbiosis.units`). `quantity` is blank (then it is their sum) or equal to
their sum within `MONTH_TOLERANCE` (the months are then scaled to it exactly, with a warning
when they differed). A row that fills some months leaves the others at 0. A row with no
month filled takes its `profile` (symbiosis/data/profiles.csv), else an even twelfth a month.

A dataset is monthly when any listing fills a month or names a profile, or it has
`storage.csv` (`symbiosis.storage`): `matching.monthly` then plans month by month.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from symbiosis.errors import Problem

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset

__all__ = ["MONTHS", "MONTH_COLUMNS", "MONTH_TOLERANCE", "Profile", "check_months",
           "is_monthly", "load_profiles", "monthly_quantities"]

MONTHS = 12
MONTH_COLUMNS = tuple(f"m{i:02d}" for i in range(1, MONTHS + 1))
# months may be rounded figures: their sum may differ from `quantity` by this share of it
MONTH_TOLERANCE = 0.005
_EXACT = 1e-9  # below this relative difference the months are taken as they are, silently
ROW = "_row"  # the same name as symbiosis.dataset.ROW


@dataclass(frozen=True)
class Profile:
    """A built-in monthly profile: `weights` per month (shares, or operating days), its
    meaning and source; `shares` sums to 1."""

    name: str
    weights: tuple[float, ...]
    basis: str
    description_en: str
    description_zh: str
    source: str
    confidence: str

    @property
    def shares(self) -> np.ndarray:
        """The weights as shares of the year, shape (12,), summing to 1."""
        w = np.asarray(self.weights, float)
        return w / w.sum()


@cache
def load_profiles() -> dict[str, Profile]:
    """The built-in profiles of symbiosis/data/profiles.csv, by name.

    Raises:
        ValueError: a profile row with a negative weight or weights summing to 0 (a defect
            of the shipped data file, caught by the test suite).
    """
    text = resources.files("symbiosis").joinpath("data", "profiles.csv").read_text(
        encoding="utf-8")
    out: dict[str, Profile] = {}
    for row in csv.DictReader(text.splitlines()):
        weights = tuple(float(row[c]) for c in MONTH_COLUMNS)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"profiles.csv: profile '{row['profile']}' has bad weights")
        out[row["profile"]] = Profile(row["profile"], weights, row["basis"],
                                      row["description_en"], row["description_zh"],
                                      row["source"], row["confidence"])
    return out


def _has_months(frame: pd.DataFrame) -> list[str]:
    return [c for c in MONTH_COLUMNS if c in frame.columns]


def check_months(frame: pd.DataFrame, label: str, kind: str,
                 problems: list[Problem]) -> pd.DataFrame:
    """Tie each row's months to its `quantity`; return the frame with blank quantities filled.

    `frame` is a parsed offers or needs table (numbers as floats, NaN for blank or bad cells,
    spreadsheet rows in `_row`). Errors name file:row:column: `quantity` empty on a row with
    no month; months that sum to more or less than `quantity` beyond `MONTH_TOLERANCE`; a
    need whose months sum to 0; an unknown `profile`. Negative or non-numeric months are
    reported by the contract checks (symbiosis.dataset) and skipped here. A warning says when
    months are scaled to `quantity`, or a row gives both months and a profile (months win).
    """
    out = frame
    months = _has_months(frame)
    rows = frame[ROW].to_numpy()
    qty = frame["quantity"].to_numpy(float).copy()
    # rows whose months or quantity did not parse are reported already: not checked again
    bad_rows = {p.row for p in problems
                if p.file == label and p.severity == "error"
                and (p.column in months or (p.column == "quantity" and p.message.startswith(
                    ("not a finite number", "must be"))))}
    given = np.zeros(len(frame), dtype=bool)
    values = np.zeros((len(frame), len(months)))
    if months:
        values = frame[months].to_numpy(float)
        given = np.isfinite(values).any(axis=1)
        values = np.nan_to_num(values, nan=0.0)
    profiles = load_profiles()
    if "profile" in frame.columns:
        named = frame["profile"].astype(str).to_numpy()
        for i in np.flatnonzero((named != "") & ~np.isin(named, list(profiles))).tolist():
            close = difflib.get_close_matches(named[i], list(profiles), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(Problem(label, int(rows[i]), "profile",
                                    f"unknown profile '{named[i]}'{hint}; `symbiosis "
                                    f"profiles` lists them: {', '.join(profiles)}"))
        for i in np.flatnonzero((named != "") & given).tolist():
            problems.append(Problem(label, int(rows[i]), "profile",
                                    f"the row gives months and profile '{named[i]}': the "
                                    "months are used", "warning"))
    scaled = values.copy()
    # a row without months and with a quantity needs nothing here: only the others are seen
    for i in np.flatnonzero(given | ~np.isfinite(qty)).tolist():
        row: int = int(rows[i])
        if row in bad_rows:
            continue
        if not given[i]:
            if not np.isfinite(qty[i]) and frame["quantity"].isna().iat[i]:
                problems.append(Problem(label, row, "quantity", "value is empty"))
            continue
        total = float(values[i].sum())
        if not np.isfinite(qty[i]):
            qty[i] = total
        elif abs(total - qty[i]) > MONTH_TOLERANCE * abs(qty[i]) + 1e-12:
            problems.append(Problem(label, row, "quantity",
                                    f"quantity {qty[i]:g} is not the sum of m01..m12 "
                                    f"({total:g}); leave quantity blank to take the sum"))
            continue
        elif abs(total - qty[i]) > _EXACT * abs(qty[i]) and total > 0:
            problems.append(Problem(label, row, months[0],
                                    f"m01..m12 sum to {total:g}, quantity is {qty[i]:g}: "
                                    "months scaled to the quantity", "warning"))
            scaled[i] = values[i] * (qty[i] / total)
        if kind == "needs" and qty[i] <= 0:
            problems.append(Problem(label, row, "quantity",
                                    f"must be > 0, got {qty[i]:g} (the sum of m01..m12)"))
    if months or np.isnan(frame["quantity"].to_numpy(float)).any():
        out = frame.copy()
        out["quantity"] = qty
        if months:
            # rows without months stay blank (NaN): spread by profile or evenly when solved
            filled = np.where(given[:, None], scaled, np.nan)
            for j, col in enumerate(months):
                out[col] = filled[:, j]
    return out


def is_monthly(dataset: Dataset) -> bool:
    """True when the run must plan month by month: a listing fills a month or names a
    profile, or the dataset has storage."""
    storage = getattr(dataset, "storage", None)
    if storage is not None and len(storage):
        return True
    for frame in (dataset.offers, dataset.needs):
        months = _has_months(frame)
        if months and np.isfinite(frame[months].to_numpy(float)).any():
            return True
        if "profile" in frame.columns and (frame["profile"].astype(str) != "").any():
            return True
    return False


def monthly_quantities(frame: pd.DataFrame,
                       profiles: Mapping[str, Profile] | None = None) -> np.ndarray:
    """Quantity per listing and month, shape (rows, 12), in the listing's unit; each row sums
    to its `quantity`: its months where given, else its profile's shares, else a twelfth."""
    profiles = load_profiles() if profiles is None else profiles
    qty = frame["quantity"].to_numpy(float)
    shares = np.full((len(frame), MONTHS), 1.0 / MONTHS)
    if "profile" in frame.columns:
        named = frame["profile"].astype(str).to_numpy()
        for name in set(named) - {""}:
            if name in profiles:
                shares[named == name] = profiles[name].shares
    out = shares * qty[:, None]
    months = _has_months(frame)
    if months:
        values = np.zeros((len(frame), MONTHS))
        given_cols = [MONTH_COLUMNS.index(c) for c in months]
        raw = frame[months].to_numpy(float)
        given = np.isfinite(raw).any(axis=1)
        values[:, given_cols] = np.nan_to_num(raw, nan=0.0)
        out[given] = values[given]
    return out
