"""`storage.csv` (issue 15): silos, tanks and yards that carry a material from month to month.

Columns (the contract in `symbiosis.dataset.SPECS["storage"]`), quantities in the material's
unit (t, GJ, m3):

| column                | meaning                                                    |
|-----------------------|------------------------------------------------------------|
| `enterprise_id`       | where the store is                                         |
| `material`            | what it holds (an offered material at a supplier; at a     |
|                       | receiver its need material or a material that serves it)   |
| `capacity`            | the most held at once                                      |
| `initial`             | held on 1 January (blank = 0)                              |
| `cost_per_unit_month` | CNY per unit held per month (blank = 0; reported)          |
| `loss_pct_per_month`  | share lost per month held, percent (blank = 0)             |

A row is at a supplier when its enterprise offers the material, at a receiver when the
enterprise needs it (or needs what it serves). `check_storage` adds `side` ("supplier" or
"receiver") and `listing_id` (the offer or need the store serves): one store serves one
listing, so the monthly model stays a network (`matching.monthly`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from symbiosis.errors import Problem
from symbiosis.taxonomy import Taxonomy

__all__ = ["check_storage"]

ROW = "_row"  # the same name as symbiosis.dataset.ROW


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_storage(frame: pd.DataFrame, label: str, known: pd.Index | None, ent_file: str,
                  taxonomy: Taxonomy, offers: pd.DataFrame, needs: pd.DataFrame,
                  problems: list[Problem]) -> pd.DataFrame:
    """Validate parsed storage rows against the listings; return them with blanks filled
    (`initial`, `cost_per_unit_month`, `loss_pct_per_month` = 0) and `side`, `listing_id`.

    Errors name file:row:column: an enterprise not in enterprises.csv; an unknown material;
    a `capacity` below `initial`; a loss above 100 %; the same enterprise and material
    twice; a store that would serve several listings (merge them into one) or both an offer
    and a need of the enterprise. Negative and non-numeric values are reported by the
    contract checks. A store that serves no listing is a warning (it changes nothing).
    """
    out = frame.copy()
    for col in ("initial", "cost_per_unit_month", "loss_pct_per_month"):
        out[col] = np.nan_to_num(out[col].to_numpy(float), nan=0.0)
    ents = out["enterprise_id"].astype(str).to_numpy()
    mats = out["material"].astype(str).to_numpy()
    rows = out[ROW].to_numpy()
    cap = out["capacity"].to_numpy(float)
    init = out["initial"].to_numpy(float)
    loss = out["loss_pct_per_month"].to_numpy(float)
    side = np.full(len(out), "", dtype=object)
    listing = np.full(len(out), "", dtype=object)
    seen: dict[tuple[str, str], int] = {}
    # listings by enterprise, so a province's thousand stores do not each scan every row
    offers_at: dict[tuple[str, str], list[int]] = {}
    for j, (oe, om) in enumerate(zip(offers["enterprise_id"].astype(str),
                                     offers["material"].astype(str), strict=True)):
        offers_at.setdefault((oe, om), []).append(j)
    needs_at: dict[str, list[int]] = {}
    for j, ne in enumerate(needs["enterprise_id"].astype(str)):
        needs_at.setdefault(ne, []).append(j)
    need_mats = needs["material"].astype(str).to_numpy()
    for i in range(len(out)):
        e, m, row = ents[i], mats[i], int(rows[i])
        if known is not None and e and e not in known:
            problems.append(Problem(label, row, "enterprise_id",
                                    f"'{e}' is not an id in {ent_file}{_suggest(e, known)}"))
            continue
        if m and m not in taxonomy.materials:
            problems.append(Problem(label, row, "material", f"unknown material '{m}'"
                                    f"{_suggest(m, taxonomy.materials)}"))
            continue
        if (e, m) in seen:
            problems.append(Problem(label, row, "material",
                                    f"storage of '{m}' at '{e}' listed twice (first at row "
                                    f"{seen[(e, m)]})"))
            continue
        seen[(e, m)] = row
        if np.isfinite(cap[i]) and np.isfinite(init[i]) and cap[i] < init[i]:
            problems.append(Problem(label, row, "capacity",
                                    f"capacity {cap[i]:g} is below initial {init[i]:g}"))
        if np.isfinite(loss[i]) and loss[i] > 100:
            problems.append(Problem(label, row, "loss_pct_per_month",
                                    f"must be at most 100 (percent), got {loss[i]:g}"))
        if not e or not m:
            continue
        o_rows = offers.iloc[offers_at.get((e, m), [])]
        n_rows = needs.iloc[[j for j in needs_at.get(e, [])
                             if need_mats[j] in taxonomy.materials
                             and taxonomy.rule(need_mats[j], m) is not None]]
        if len(o_rows) and len(n_rows):
            problems.append(Problem(label, row, "material",
                                    f"'{e}' both offers and needs '{m}': a store serves one "
                                    "side; list the two stores under different materials or "
                                    "leave one out"))
            continue
        found, what = (o_rows, "offers") if len(o_rows) else (n_rows, "needs")
        if len(found) > 1:
            at = ", ".join(str(r) for r in found[ROW])
            problems.append(Problem(label, row, "material",
                                    f"'{e}' has {len(found)} {what} that '{m}' would serve "
                                    f"({what}.csv rows {at}); one store serves one listing: "
                                    "merge them into one row"))
            continue
        if not len(found):
            problems.append(Problem(label, row, "material",
                                    f"'{e}' neither offers nor needs '{m}' (nor a material it "
                                    "serves): the store changes nothing", "warning"))
            continue
        side[i] = "supplier" if what == "offers" else "receiver"
        listing[i] = str(found["id"].iat[0])
    out["side"] = side
    out["listing_id"] = listing
    return out
