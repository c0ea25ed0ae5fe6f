"""geo — coordinates and distances: great-circle x circuity, road-distance overrides, the
vectorised radius query that finds candidate pairs, metric CRS rules, road networks, parks,
restricted zones and spatial exports. Imports only from `symbiosis`.

The great-circle names load at once (numpy only); the rest on first use (PEP 562), so the
heavy libraries (geopandas, shapely, pyproj, scipy, matplotlib, plotly) stay unloaded until a
geography feature is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from geo.distance import (
    DEFAULT_CIRCUITY,
    EARTH_RADIUS_KM,
    haversine_km,
    pairs_within_km,
)

if TYPE_CHECKING:
    from geo.context import GeoContext, GeoFiles, find_geo_files, prepare_geo
    from geo.crs import GeographicDistanceError, metric_crs_for, require_metric
    from geo.export import write_geo
    from geo.parks import assign_parks, load_parks, park_kpis
    from geo.provider import GeoDistances
    from geo.roads import RoadNetwork, RoadRouter, load_roads
    from geo.zones import Zones, check_site, load_zones, shoreline_flags

_LAZY = {
    "GeoContext": "geo.context", "GeoFiles": "geo.context", "find_geo_files": "geo.context",
    "prepare_geo": "geo.context", "GeographicDistanceError": "geo.crs",
    "metric_crs_for": "geo.crs", "require_metric": "geo.crs", "write_geo": "geo.export",
    "assign_parks": "geo.parks", "load_parks": "geo.parks", "park_kpis": "geo.parks",
    "GeoDistances": "geo.provider", "RoadNetwork": "geo.roads", "RoadRouter": "geo.roads",
    "load_roads": "geo.roads", "Zones": "geo.zones", "check_site": "geo.zones",
    "load_zones": "geo.zones", "shoreline_flags": "geo.zones",
}

__all__ = [
    "DEFAULT_CIRCUITY",
    "EARTH_RADIUS_KM",
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
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'geo' has no attribute '{name}'")
