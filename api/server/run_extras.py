"""What a run's API body carries beyond the CLI's files, for the web page: where an
estimated listing's quantity comes from (issue 14), and the monthly tables of a monthly
plan (issue 15).

- `with_estimate_columns`: each exchange gains `offer_estimate_source`,
  `offer_estimate_confidence`, `need_estimated`, `need_estimate_source` and
  `need_estimate_confidence` from the dataset's listings (`symbiosis.estimate` writes
  `estimated = yes` with the coefficient's source and confidence on the listings it
  creates). Added before a park's view blanks the outside listing ids, so an estimated
  outside offer still shows where its estimate comes from (a coefficient's source names a
  standard or a paper, never an enterprise).
- `monthly_tables`: `exchanges_monthly` (one row per exchange and month with a flow) and
  the stores' month-end levels (`storage`, listed units), as records; for a park run only
  the rows of the park (exchanges touching it, outside ids blanked as
  `matching.park_scope.park_result` blanks them; the park's own stores).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from symbiosis.jsonio import frame_records

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset
    from symbiosis.matching.result import MatchResult

__all__ = ["ESTIMATE_FIELDS", "monthly_tables", "with_estimate_columns"]

# exchange fields added from the listings (side -> listing column -> exchange column)
ESTIMATE_FIELDS: dict[str, dict[str, str]] = {
    "offer": {"estimate_source": "offer_estimate_source",
              "estimate_confidence": "offer_estimate_confidence"},
    "need": {"estimated": "need_estimated", "estimate_source": "need_estimate_source",
             "estimate_confidence": "need_estimate_confidence"},
}


def _text(values: Any) -> np.ndarray:
    return np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                     for v in values], dtype=object)


def with_estimate_columns(result: MatchResult, dataset: Dataset) -> MatchResult:
    """`result` whose exchanges carry their listings' estimate flag, source and confidence
    ('' where the listing is not estimated). A dataset without estimates adds nothing."""
    ex = result.exchanges
    listings = {"offer": dataset.offers, "need": dataset.needs}
    if not any("estimated" in frame for frame in listings.values()) or ex.empty:
        return result
    ex = ex.copy()
    for side, fields in ESTIMATE_FIELDS.items():
        frame = listings[side]
        ids = ex[f"{side}_id"].astype(str)
        flagged = frame["estimated"].astype(str).eq("yes") if "estimated" in frame \
            else pd.Series(False, index=frame.index)
        for column, target in fields.items():
            if column == "estimated":
                values = pd.Series(np.where(flagged, "yes", "no"), index=frame.index)
            elif column in frame:
                values = pd.Series(np.where(flagged, _text(frame[column]), ""),
                                   index=frame.index)
            else:
                continue
            values.index = values.index.astype(str)
            default = "no" if column == "estimated" else ""
            ex[target] = ids.map(values).fillna(default).to_numpy(dtype=object)
    return replace(result, exchanges=ex)


def monthly_tables(result: MatchResult, dataset: Dataset, park: str | None
                   ) -> dict[str, list[dict[str, Any]]] | None:
    """The monthly plan's tables as records (None for an annual plan): `exchanges` (month,
    then the exchange columns) and `storage` (per store: capacity, `m01`..`m12` month-end
    levels, year_end ...). With `park`, only the park's rows (module docstring)."""
    monthly = result.tables.get("exchanges_monthly")
    storage = result.tables.get("storage")
    if monthly is None and storage is None:
        return None
    monthly = monthly if monthly is not None else pd.DataFrame()
    storage = storage if storage is not None else pd.DataFrame()
    if park is not None:
        from symbiosis.matching.park_scope import exchange_scope, park_enterprises

        inside = park_enterprises(dataset, park)
        if not monthly.empty:
            kind = exchange_scope(monthly, inside)
            monthly = monthly.loc[kind != ""].copy()
            kind = kind[kind != ""]
            for side, outside in (("offer", "inbound"), ("need", "outbound")):
                for column in (f"{side}_enterprise_id", f"{side}_id"):
                    if column in monthly:
                        monthly[column] = monthly[column].astype(object)
                        monthly.loc[kind == outside, column] = ""
            monthly["park_scope"] = kind
        if not storage.empty:
            storage = storage.loc[storage["enterprise_id"].astype(str).isin(inside)]
    return {"exchanges": frame_records(monthly.reset_index(drop=True)),
            "storage": frame_records(storage.reset_index(drop=True))}
