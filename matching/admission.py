"""Why offers lost their arcs before the optimisation: unstated quality and missing licences.

`build_candidates` drops an arc when a standard's limit applies and the offer does not
state the attribute (unless unstated quality is accepted), and when a hazardous waste would
go to a receiver without a valid licence for its code. It records which offers lost arcs
that way (`Candidates.blocked_*`). This module turns that record into per-offer data and,
for an offer left with no arc at all, into its unmatched reason
(`UnmatchedReason.QUALITY_NOT_STATED` naming the attributes, or `UnmatchedReason.NO_LICENCE`
naming the code).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symbiosis.i18n import t
from symbiosis.matching.candidates import BLOCK_NO_LICENCE, BLOCK_QUALITY_NOT_STATED, Candidates
from symbiosis.matching.reasons import UnmatchedReason

__all__ = ["blocked_by_offer", "with_admission_reasons"]


def blocked_by_offer(cand: Candidates, n_offers: int) -> pd.DataFrame:
    """Per offer position (0..n_offers-1): `quality_not_stated` (the attributes, sorted,
    joined by ", ") and `no_licence` (the hazardous-waste code), "" where nothing was
    dropped for that reason."""
    quality = [[] for _ in range(n_offers)]  # type: list[list[str]]
    licence = [""] * n_offers
    for pos, kind, detail in zip(cand.blocked_offer.tolist(), cand.blocked_kind,
                                 cand.blocked_detail, strict=True):
        if kind == BLOCK_QUALITY_NOT_STATED:
            quality[pos].append(detail)
        elif kind == BLOCK_NO_LICENCE:
            licence[pos] = detail
    return pd.DataFrame({"quality_not_stated": [", ".join(sorted(set(q))) if q else ""
                                                for q in quality],
                         "no_licence": licence})


def with_admission_reasons(status: pd.DataFrame, cand: Candidates,
                           lang: str = "en") -> pd.DataFrame:
    """The offers frame (one row per offer, in dataset order) with `quality_not_stated` and
    `no_licence` columns (the attributes, the code) and, for an unmatched offer that has no
    arc left, the reason code `quality_not_stated` or `no_licence` and its explanation."""
    blocked = blocked_by_offer(cand, len(status))
    out = status.copy()
    out["quality_not_stated"] = blocked["quality_not_stated"].to_numpy()
    out["no_licence"] = blocked["no_licence"].to_numpy()
    arcs = np.bincount(cand.offer, minlength=len(status))
    open_ = (out["unmatched"].to_numpy(float) > 0) & (arcs == 0)
    reason = out["reason"].to_numpy(dtype=object).copy()
    has_expl = "explanation" in out.columns
    expl = out["explanation"].to_numpy(dtype=object).copy() if has_expl else None
    for i in np.flatnonzero(open_ & (out["quality_not_stated"] != "").to_numpy()):
        attrs = out["quality_not_stated"].iat[i]
        reason[i] = UnmatchedReason.QUALITY_NOT_STATED.value
        if expl is not None:
            expl[i] = t("admission.quality_not_stated", lang, attributes=attrs)
    for i in np.flatnonzero(open_ & (out["quality_not_stated"] == "").to_numpy()
                            & (out["no_licence"] != "").to_numpy()):
        code = out["no_licence"].iat[i]
        reason[i] = UnmatchedReason.NO_LICENCE.value
        if expl is not None:
            expl[i] = t("admission.no_licence", lang, code=code)
    out["reason"] = reason
    if expl is not None:
        out["explanation"] = expl
    return out

