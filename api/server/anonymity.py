"""What a competitor may learn from a feedstock search: bands and k-anonymous descriptions.

Issue 18 measured two attacks on the exact answers. (1) Trilateration: bisecting
`radius_km` from three sites located a supplier's plant to a millimetre, and its
treatment cost followed from the exact delivered cost. (2) Re-identification: the pair
(park, sector division) named the supplier. Enterprise and recycler keys therefore see:

- the search radius snapped UP to the next bound of `symbiosis.bands.DISTANCE_BANDS_KM`
  (5, 10, 25, 50, 100, 200 km; a larger radius searches 200 km), so the set of hits only
  changes at band bounds and bisection stops at a band;
- distances as a `distance_band`, never in km; delivered cost as a `cost_band`
  (`COST_BANDS_CNY`, fixed 1-2-5 steps per decade: fixed bands reveal no more on repeated
  queries than on one);
- the park only where at least `K_ANONYMITY` suppliers (enterprises with an offer) are in
  it, the sector division only where at least `K_ANONYMITY` suppliers share it within the
  shown scope (the park if shown, else the region);
- hits in band order, and within a band in the order of a keyed hash of (searcher, offer)
  (`order_hits`): never by exact distance or cost, so neither the order nor which hits a
  small `limit` keeps tells more than the bands (issue 18: the rank was a side channel);
- searches only from the key's own registered site (lon/lat in the request: 403); the site
  is changed only by an administrator, and every change is a store version whose source
  names the key.

`K_ANONYMITY` = 3: the smallest k for which a description never singles out one rival
even when the searcher is itself one of those sharing it (k - 1 >= 2 others). This is
our choice, in line with the k-anonymity model (L. Sweeney, "k-anonymity: a model for
protecting privacy", Int. J. Uncertainty, Fuzziness and Knowledge-Based Systems 10(5),
2002); no standard fixes k for industrial data.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from symbiosis.api.server.region import Snapshot, blank
from symbiosis.bands import DISTANCE_BANDS_KM, Band, distance_band

if TYPE_CHECKING:
    from symbiosis.matching.feedstock import FeedstockHit

__all__ = ["COST_BANDS_CNY", "K_ANONYMITY", "Describer", "banded_radius_km", "cost_band",
           "order_hits", "outside_label"]

K_ANONYMITY = 3
# upper bounds of the delivered-cost bands, CNY per unit (1-2-5 steps per decade)
COST_BANDS_CNY: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0,
                                     1000.0, 2000.0, 5000.0)
_DIVISION = re.compile(r"^[A-T]?(\d{2})")


def banded_radius_km(radius_km: float) -> float:
    """The radius a party's search really uses: the next distance band bound at or above
    `radius_km` (beyond the last bound: the last bound)."""
    return next((b for b in DISTANCE_BANDS_KM if radius_km <= b), DISTANCE_BANDS_KM[-1])


def cost_band(cost_cny_per_unit: float) -> dict[str, object]:
    """The fixed band of a delivered cost (negative costs, i.e. a credit, band as 'below
    0')."""
    if cost_cny_per_unit < 0:
        return {"min": None, "max": 0.0, "label": "< 0 CNY"}
    low = 0.0
    for high in COST_BANDS_CNY:
        if cost_cny_per_unit < high:
            return Band(low, high, f"{low:,.0f}–{high:,.0f} CNY").as_dict()
        low = high
    return Band(low, None, f"≥ {low:,.0f} CNY").as_dict()


class Describer:
    """Park and sector division of a supplier, shown only where >= K_ANONYMITY suppliers
    share them (counted once per snapshot over every enterprise with an offer)."""

    def __init__(self, snap: Snapshot) -> None:
        suppliers = {str(o["enterprise_id"]) for o in snap.rows.offers}
        self._park: dict[str, str | None] = {}
        self._division: dict[str, str | None] = {}
        for sid in suppliers:
            ent = snap.enterprises.get(sid) or {}
            self._park[sid] = blank(ent.get("park"))
            m = _DIVISION.match(str(ent.get("sector") or ""))
            self._division[sid] = m.group(1) if m else None
        self._parks = Counter(p for p in self._park.values() if p is not None)
        self._pairs = Counter((self._shown_park(s), d) for s, d in self._division.items()
                              if d is not None)

    def _shown_park(self, supplier: str) -> str | None:
        park = self._park.get(supplier)
        return park if park is not None and self._parks[park] >= K_ANONYMITY else None

    def describe(self, supplier: str) -> dict[str, Any]:
        """{"park": ..., "sector_division": ...} with None where it would single out."""
        park = self._shown_park(supplier)
        division = self._division.get(supplier)
        if division is not None and self._pairs[(park, division)] < K_ANONYMITY:
            division = None
        return {"park": park, "sector_division": division}


def outside_label(number: int, division: str | None = None) -> str:
    """The anonymised name of an enterprise a park run may not name (`park_view`): its
    `number` within one response and, where given (only when `Describer` shows it, i.e.
    K_ANONYMITY suppliers share it), its GB/T 4754-2017 division; in English and Chinese
    (the body is read in both, like the demo's bilingual names), e.g.
    "outside enterprise 2 (GB/T 4754 division 30) 园区外企业2（行业大类30）"."""
    from symbiosis.i18n import LANGS, t

    key = "web.outside_enterprise" if division is None else "web.outside_enterprise_division"
    return " ".join(t(key, lang, n=number, division=division) for lang in LANGS)


def public_hit(item: dict[str, Any], distance_km: float, cost: float,
               description: dict[str, Any]) -> dict[str, Any]:
    """A hit's anonymised form for a party key: bands instead of km and cost."""
    out = {k: v for k, v in item.items()
           if k not in ("distance_km", "delivered_cost_cny_per_unit")}
    return out | description | {"distance_band": distance_band(distance_km).as_dict(),
                                "delivered_cost_band": cost_band(cost)}


def order_hits(hits: list[FeedstockHit], sort: str, secret: bytes, requester: str
               ) -> list[FeedstockHit]:
    """`hits` as a party key sees them: by the band of the sort key (distance band, or
    delivered-cost band for `sort="delivered_cost"`), then by HMAC-SHA256(`secret`,
    requester + offer id + use). The order is a function of the bands and of values the
    requester cannot link to a distance, and it is stable for one requester (paging and
    repeated queries agree), different between requesters (no shared ranking to pool).
    Call it on every hit in the banded radius, then cut to the requested limit."""
    def key(hit: FeedstockHit) -> tuple[float, bytes]:
        if sort == "delivered_cost":
            low = cost_band(hit.delivered_cost_cny_per_unit)["min"]
            rank = float("-inf") if low is None else float(str(low))
        else:
            rank = distance_band(hit.distance_km).low
        tag = f"{requester}\x1f{hit.offer_id}\x1f{hit.serves or ''}".encode()
        return rank, hmac.new(secret, tag, hashlib.sha256).digest()

    return sorted(hits, key=key)
