"""geo — coordinates and distances: the one distance rule between enterprises (`pair_km`,
`DistanceRule`: distances.csv, roads, great-circle x circuity), the vectorised radius query
that finds candidate pairs, metric CRS rules, road networks, parks,
restricted zones and spatial exports. Imports only from `symbiosis`.

The two constants load at once (no numpy); everything else on first use (PEP 562), so numpy
and the heavy libraries (geopandas, shapely, pyproj, scipy, matplotlib, plotly) stay unloaded
until a distance or a geography feature is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from symbiosis.geo.constants import DEFAULT_CIRCUITY, EARTH_RADIUS_KM

if TYPE_CHECKING:
    from symbiosis.geo.context import GeoContext, GeoFiles, find_geo_files, prepare_geo
    from symbiosis.geo.crs import GeographicDistanceError, metric_crs_for, require_metric
    from symbiosis.geo.distance import (
        DistanceRule,
        DistanceSource,
        DistanceTable,
        haversine_km,
        pair_km,
        pairs_within_km,
    )
    from symbiosis.geo.export import write_geo
    from symbiosis.geo.parks import assign_parks, load_parks, park_kpis
    from symbiosis.geo.provider import GeoDistances
    from symbiosis.geo.roads import RoadNetwork, RoadRouter, load_roads
    from symbiosis.geo.zones import Zones, check_site, load_zones, shoreline_flags

_LAZY = {  # public name -> the submodule of this package that defines it (imported on use)
    **dict.fromkeys(("DistanceRule", "DistanceSource", "DistanceTable", "haversine_km",
                     "pair_km", "pairs_within_km"), "distance"),
    **dict.fromkeys(("GeoContext", "GeoFiles", "find_geo_files", "prepare_geo"), "context"),
    **dict.fromkeys(("GeographicDistanceError", "metric_crs_for", "require_metric"), "crs"),
    **dict.fromkeys(("write_geo",), "export"),
    **dict.fromkeys(("assign_parks", "load_parks", "park_kpis"), "parks"),
    **dict.fromkeys(("GeoDistances",), "provider"),
    **dict.fromkeys(("RoadNetwork", "RoadRouter", "load_roads"), "roads"),
    **dict.fromkeys(("Zones", "check_site", "load_zones", "shoreline_flags"), "zones"),
}

__all__ = [
    "DEFAULT_CIRCUITY",
    "EARTH_RADIUS_KM",
    "DistanceRule",
    "DistanceSource",
    "DistanceTable",
    "GeoContext",
    "GeoDistances",
    "GeoFiles",
    "GeographicDistanceError",
    "RoadNetwork",
    "RoadRouter",
    "Zones",
    "assign_parks",
    "check_site",
    "find_geo_files",
    "haversine_km",
    "load_parks",
    "load_roads",
    "load_zones",
    "metric_crs_for",
    "pair_km",
    "pairs_within_km",
    "park_kpis",
    "prepare_geo",
    "require_metric",
    "shoreline_flags",
    "write_geo",
]


def __getattr__(name: str) -> Any:
    """Import the geography names on first access (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute '{name}'")
