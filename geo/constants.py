"""The constants of the default distance rule, importable without numpy (the CLI reads them
to build its flags before any array work).

DESIGN.md fixes the default distance so results are comparable: haversine on a sphere of
R = 6371.0088 km (the IUGG mean Earth radius R1 of GRS 80, Moritz 1980, "Geodetic Reference
System 1980", Bulletin Géodésique 54) times a circuity factor of 1.3 road km per straight-line
km unless a known road distance is supplied.
"""

from __future__ import annotations

__all__ = ["DEFAULT_CIRCUITY", "EARTH_RADIUS_KM"]

EARTH_RADIUS_KM = 6371.0088
DEFAULT_CIRCUITY = 1.3
