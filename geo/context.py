"""One call that prepares the geography of a match run: road network, parks and zones, and
the summary they add to summary.json (`roads`, `parks`, `zones`).

`find_geo_files(dataset_folder)` picks up `roads.gpkg|geojson|osm|osm.pbf`,
`parks.geojson|gpkg` and `zones.geojson|gpkg` beside the CSV files; the CLI uses them when
asked (`--geo`) so that the default distance stays DESIGN.md's great-circle x circuity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.errors import Problem
from symbiosis.geo.provider import GeoDistances
from symbiosis.geo.roads import RoadRouter, load_roads
from symbiosis.jsonio import frame_records

__all__ = ["GeoContext", "GeoFiles", "find_geo_files", "prepare_geo"]

_ROADS = ("roads.gpkg", "roads.geojson", "roads.osm.pbf", "roads.osm")
_PARKS = ("parks.geojson", "parks.gpkg")
_ZONES = ("zones.geojson", "zones.gpkg")


@dataclass(frozen=True)
class GeoFiles:
    """Paths of the optional geography inputs (None = not used)."""

    roads: Path | None = None
    parks: Path | None = None
    zones: Path | None = None

    def merged(self, other: GeoFiles) -> GeoFiles:
        """These paths, with `other`'s filling the gaps."""
        return GeoFiles(self.roads or other.roads, self.parks or other.parks,
                        self.zones or other.zones)


def find_geo_files(dataset_path: str | Path) -> GeoFiles:
    """The geography files lying beside a CSV dataset (or an .xlsx workbook)."""
    folder = Path(dataset_path)
    folder = folder if folder.is_dir() else folder.parent

    def first(names: tuple[str, ...]) -> Path | None:
        return next((folder / n for n in names if (folder / n).exists()), None)

    return GeoFiles(first(_ROADS), first(_PARKS), first(_ZONES))


@dataclass
class GeoContext:
    """Everything geographic about one run: the dataset with parks assigned, the distance
    hook for `solve_match`, and what to report."""

    dataset: Dataset
    distances: GeoDistances
    router: RoadRouter | None = None
    parks: Any = None
    zones: Any = None
    parks_assigned: int = 0
    warnings: list[Problem] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self, exchanges: pd.DataFrame) -> dict[str, Any]:
        """The `roads`, `parks` and `zones` objects of summary.json."""
        from symbiosis.geo.parks import park_kpis
        from symbiosis.geo.zones import shoreline_flags

        out: dict[str, Any] = {}
        sources = exchanges["distance_source"].value_counts().to_dict() if len(exchanges) \
            else {}
        if self.router is not None:
            r = self.router
            net = r.network
            far = np.flatnonzero(r.snap_m > r.snap_warn_m)
            counts = np.bincount(r.component)
            off_main = np.flatnonzero(r.component != int(np.argmax(counts)))
            out["roads"] = {
                "source": net.source, "crs": net.crs, "nodes": net.n_nodes,
                "segments": net.n_edges,
                "total_km": round(float(net.length_m.sum()) / 1000.0, 3),
                "snap_m": {"median": float(np.median(r.snap_m)), "max": float(r.snap_m.max())},
                "far_from_road": {r.ids[i]: round(float(r.snap_m[i]), 1) for i in far},
                "not_on_main_component": [r.ids[i] for i in off_main],
                "exchanges_by_distance_source": {str(k): int(v) for k, v in sources.items()},
                "rule": "road km (snap legs included) where a road route exists; pairs on "
                        "road components that do not connect use great-circle x circuity",
            }
        if self.parks is not None or (self.dataset.enterprises["park"] != "").any():
            kpis = park_kpis(self.dataset, exchanges)
            kpis["assigned_by_polygon"] = self.parks_assigned
            out["parks"] = kpis
        if self.zones is not None:
            flags = shoreline_flags(self.dataset.enterprises, self.zones)
            events = self.distances.events_frame()
            out["zones"] = {
                "source": self.zones.source,
                "zones": self.zones.frame[["kind", "name", "source"]].to_dict("records"),
                "chemical_within_1km_of_shoreline": frame_records(flags),
                "excluded_pairs": frame_records(events[events["action"] == "excluded"]),
                "rerouted_pairs": frame_records(events[events["action"] == "rerouted"]),
            }
        return out


def prepare_geo(dataset: Dataset, files: GeoFiles) -> GeoContext:
    """Load the given road network, parks and zones for `dataset`; assign parks."""
    from symbiosis.geo.parks import assign_parks, empty_parks, load_parks
    from symbiosis.geo.zones import load_zones

    timings: dict[str, float] = {}
    warnings: list[Problem] = []
    t = time.perf_counter()
    parks = load_parks(files.parks) if files.parks is not None else None
    assigned = 0
    if parks is not None:
        dataset, assigned = assign_parks(dataset, parks)
        if assigned:
            warnings.append(Problem(str(files.parks), None, None,
                                    f"assigned {assigned} enterprise(s) with an empty park "
                                    "cell to the park polygon they lie in", "warning"))
        warnings += empty_parks(dataset, parks, str(files.parks))
    zones = load_zones(files.zones) if files.zones is not None else None
    timings["geo_files"] = time.perf_counter() - t
    router = None
    if files.roads is not None:
        t = time.perf_counter()
        network = load_roads(files.roads)
        timings["roads_load"] = time.perf_counter() - t
        t = time.perf_counter()
        ent = dataset.enterprises
        router = RoadRouter(network, ent["lon"].to_numpy(float), ent["lat"].to_numpy(float),
                            [str(i) for i in ent.index])
        timings["roads_snap"] = time.perf_counter() - t
        warnings += router.snap_problems()
    dataset = replace(dataset, warnings=dataset.warnings + tuple(warnings))
    distances = GeoDistances(dataset, router=router, zones=zones)
    return GeoContext(dataset=dataset, distances=distances, router=router, parks=parks,
                      zones=zones, parks_assigned=assigned, warnings=warnings,
                      timings=timings)
