"""geo — coordinates and distances: great-circle x circuity, road-distance overrides, and
the vectorised radius query that finds candidate pairs. Imports only from `symbiosis`."""

from geo.distance import (
    DEFAULT_CIRCUITY,
    EARTH_RADIUS_KM,
    haversine_km,
    pairs_within_km,
)

__all__ = ["DEFAULT_CIRCUITY", "EARTH_RADIUS_KM", "haversine_km", "pairs_within_km"]
