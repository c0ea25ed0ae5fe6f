"""The taxonomy the benchmarks use, read from the engine's own data files.

The bare floor reads `symbiosis/data/materials.csv` and `rules.csv` with the csv module (not
through the engine's code), so it builds exactly the arcs the engine builds while staying an
independent script. Only ratio-1 rules are kept: the benchmark instances never emit a need
served at another ratio (process_heat <- waste_heat), so every instance is a pure network.
"""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = [
    "CIRCUITY",
    "EARTH_RADIUS_KM",
    "MASS_MATERIALS",
    "OFFER_MATERIALS",
    "REACH_KM",
    "SERVES",
    "UNIT",
    "need_materials_served_by",
]

EARTH_RADIUS_KM = 6371.0088
CIRCUITY = 1.3
_DATA = Path(__file__).resolve().parents[1] / "symbiosis" / "data"


def _rows(name: str) -> list[dict[str, str]]:
    with (_DATA / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


_MATERIALS = _rows("materials.csv")
UNIT: dict[str, str] = {r["slug"]: r["unit"] for r in _MATERIALS}
REACH_KM: dict[str, float] = {r["slug"]: float(r["default_reach_km"])
                              for r in _MATERIALS if r["kind"] == "byproduct"}
OFFER_MATERIALS: tuple[str, ...] = tuple(REACH_KM)
MASS_MATERIALS: frozenset[str] = frozenset(m for m in OFFER_MATERIALS if UNIT[m] == "t")

# need category -> offer materials that serve it at ratio 1
SERVES: dict[str, tuple[str, ...]] = {}
for _rule in _rows("rules.csv"):
    if float(_rule["ratio"]) == 1.0:
        SERVES.setdefault(_rule["need_material"], ())
        SERVES[_rule["need_material"]] += (_rule["offer_material"],)


def need_materials_served_by(offer_material: str) -> tuple[str, ...]:
    """Need materials an offer of `offer_material` serves at ratio 1 (itself first).

    The arc builders loop over offer materials, so they need the rules keyed that way round.
    """
    cats = tuple(n for n, offers in SERVES.items() if offer_material in offers)
    return (offer_material, *cats)
