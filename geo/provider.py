"""`GeoDistances`: road distances and zone rules, the `ComputedDistances` that the one
distance rule (`geo.distance.pair_km`, `DistanceRule`) asks for pairs that distances.csv
does not list, so candidates, explanations and gaps see the same road km.

For each batch of pairs (found within reach by great-circle distance, which is a lower
bound of any road distance) it returns the distance to use and where it came from:

- with a road network: the road km (snap legs included); a pair whose road distance is
  over the reach gets inf and is dropped; a pair on road components that do not connect
  falls back to great-circle x circuity (an extract clipped at a province border is the
  usual cause, and dropping real partners for a data gap would be worse), flagged;
- a hazardous material with drinking-water protection zones: routed on the road graph
  without the zones' segments (the pair is *rerouted* when that is longer, *excluded* when
  no route remains within reach); without roads, a pair whose straight line crosses a zone
  is excluded. Every decision is recorded in `events` for the report.

distances.csv entries are not passed here: a listed pair is a known, permitted route
(`pair_km` takes it before asking).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from symbiosis.dataset import Dataset
from symbiosis.geo.crs import project
from symbiosis.geo.distance import DistanceSource
from symbiosis.geo.roads import RoadRouter
from symbiosis.geo.zones import WATER_RULE, Zones
from symbiosis.types import FloatArray, IntArray

__all__ = ["GeoDistances"]




@dataclass
class GeoDistances:
    """Road distances and zone rules for one dataset (enterprise positions = row order)."""

    dataset: Dataset
    router: RoadRouter | None = None
    zones: Zones | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    _hazard_router: RoadRouter | None = field(default=None, init=False, repr=False)
    _xy: tuple[FloatArray, FloatArray] | None = field(default=None, init=False, repr=False)
    _seen: set[tuple[str, str, str, str]] = field(default_factory=set, init=False, repr=False)

    @property
    def has_roads(self) -> bool:
        """True when a road network is attached."""
        return self.router is not None

    def prepare(self, sources: IntArray, limit_km: FloatArray) -> None:
        """Run the bounded shortest paths of every source enterprise in one batch."""
        if self.router is not None:
            self.router.prepare(sources, limit_km)

    def _hazardous(self, material: str) -> bool:
        mat = self.dataset.taxonomy.materials.get(material)
        return bool(mat is not None and mat.hazardous and self.zones is not None
                    and self.zones.has_water)

    def _hazard(self) -> RoadRouter:
        assert self.router is not None and self.zones is not None
        if self._hazard_router is None:
            r = self.router
            self._hazard_router = RoadRouter(r.network, r.lon, r.lat, r.ids,
                                             blocked=self.zones.blocked_edges(r.network),
                                             snap_warn_m=r.snap_warn_m, threads=r.threads)
        return self._hazard_router

    def router_for(self, material: str) -> RoadRouter | None:
        """The road router a load of `material` uses (zone roads removed if hazardous)."""
        if self.router is None:
            return None
        return self._hazard() if self._hazardous(material) else self.router

    def computed_km(self, src: IntArray, dst: IntArray, material: str | None,
                    gc_km: FloatArray, circuity: float, limit_km: float,
                    log: bool = True) -> tuple[FloatArray, NDArray[np.int8]]:
        """km per enterprise pair not listed in distances.csv (inf = no permitted route
        within `limit_km`) and its `DistanceSource` code: road km with a network (great
        circle x circuity where the road components do not connect), else great circle x
        circuity; zone rules for a hazardous `material`. `log` records the zone decisions
        in `events` (explanations look further than the run and pass False).

        The great-circle km `gc_km` is used as it is: only the fallbacks multiply it by
        circuity; road km are never divided or multiplied by it."""
        km = gc_km * circuity
        code = np.full(len(src), DistanceSource.GREAT_CIRCLE.code, np.int8)
        hazardous = material is not None and self._hazardous(material)
        if self.router is not None:
            road = self.router.km(src, dst, limit_km)
            if hazardous:
                assert material is not None
                safe = self._hazard().km(src, dst, limit_km)
                broken = np.isnan(safe) & ~np.isnan(road)  # the zone cut the only roads
                safe[broken] = np.inf
                if log:
                    self._log_hazard(src, dst, material, road, safe)
                road = safe
            ok = np.isfinite(road)
            km = np.where(ok, road, np.where(np.isnan(road), km, np.inf))
            code[ok] = DistanceSource.ROAD.code
            code[np.isnan(road)] = DistanceSource.NO_ROAD_CONNECTION.code
            straight = np.isnan(road)
        else:
            straight = np.ones(len(src), bool)
        if hazardous and straight.any():
            assert material is not None
            idx = np.flatnonzero(straight & np.isfinite(km))
            crossed = self._straight_crossings(src[idx], dst[idx])
            for k, zone in zip(idx, crossed, strict=True):
                if zone:
                    km[k] = np.inf
                    if log:
                        self._event(int(src[k]), int(dst[k]), material, "excluded",
                                    f"the straight line crosses {zone}; {WATER_RULE}",
                                    float(gc_km[k] * circuity), None)
        return km, code

    def excluded(self, src: str, dst: str, material: str) -> bool:
        """True when the run excluded the pair (enterprise ids) for `material` by a zone."""
        return (src, dst, material, "excluded") in self._seen

    def _straight_crossings(self, src: IntArray, dst: IntArray) -> list[str]:
        assert self.zones is not None
        if self._xy is None:
            ent = self.dataset.enterprises
            self._xy = project(ent["lon"].to_numpy(float), ent["lat"].to_numpy(float),
                               self.zones.crs)
        x, y = self._xy
        return self.zones.water_crossings(x[src], y[src], x[dst], y[dst])

    def _log_hazard(self, src: IntArray, dst: IntArray, material: str, road: FloatArray,
                    safe: FloatArray) -> None:
        rerouted = np.isfinite(safe) & np.isfinite(road) & (safe > road + 1e-9)
        excluded = ~np.isfinite(safe) & np.isfinite(road)
        for k in np.flatnonzero(rerouted):
            self._event(int(src[k]), int(dst[k]), material, "rerouted",
                        f"the shortest road crosses a drinking-water protection zone; "
                        f"{WATER_RULE}", float(road[k]), float(safe[k]))
        for k in np.flatnonzero(excluded):
            self._event(int(src[k]), int(dst[k]), material, "excluded",
                        "every road route within reach crosses a drinking-water protection "
                        f"zone; {WATER_RULE}", float(road[k]), None)

    def _event(self, s: int, d: int, material: str, action: str, reason: str,
               km: float, km_after: float | None) -> None:
        ids = self.dataset.enterprises.index
        key = (str(ids[s]), str(ids[d]), material, action)
        if key in self._seen:
            return
        self._seen.add(key)
        self.events.append({"offer_enterprise_id": key[0], "need_enterprise_id": key[1],
                            "material": material, "action": action, "reason": reason,
                            "distance_km": round(km, 3),
                            "rerouted_km": None if km_after is None else round(km_after, 3)})

    def events_frame(self) -> pd.DataFrame:
        """The excluded and rerouted pairs as a table."""
        cols = ["offer_enterprise_id", "need_enterprise_id", "material", "action", "reason",
                "distance_km", "rerouted_km"]
        return pd.DataFrame(self.events, columns=cols)
