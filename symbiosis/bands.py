"""Bands that hide exact figures from counterparts: quantity ranges and distance bands.

An enterprise listing a by-product does not want competitors to read its volume, and a
counterparty's exact distance would locate it. Before both sides agree an exchange, the API
shows these bands instead. Bands are fixed (not data-dependent) so that repeated queries
reveal nothing more than one query does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DISTANCE_BANDS_KM", "QUANTITY_BANDS", "Band", "distance_band", "quantity_band"]

# upper bounds of the quantity bands, in the material's unit per year (1-2-5 steps per decade)
QUANTITY_BANDS: tuple[float, ...] = (
    100.0, 500.0, 1_000.0, 5_000.0, 10_000.0, 50_000.0, 100_000.0, 500_000.0, 1_000_000.0,
    5_000_000.0)
DISTANCE_BANDS_KM: tuple[float, ...] = (5.0, 10.0, 25.0, 50.0, 100.0, 200.0)


@dataclass(frozen=True)
class Band:
    """A half-open range [low, high); `high` is None for the open top band."""

    low: float
    high: float | None
    label: str

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"min": self.low, "max": self.high, "label": self.label}


def _fmt(value: float) -> str:
    return f"{value:,.0f}"


def _band(value: float, bounds: tuple[float, ...], unit: str) -> Band:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"cannot band {value!r}: a finite value >= 0 is expected")
    low = 0.0
    for high in bounds:
        if value < high:
            return Band(low, high, f"{_fmt(low)}–{_fmt(high)} {unit}".strip())
        low = high
    return Band(low, None, f"≥ {_fmt(low)} {unit}".strip())


def quantity_band(quantity: float, unit: str = "") -> Band:
    """The fixed range an annual quantity falls in, e.g. 12,300 t -> 10,000–50,000 t."""
    return _band(quantity, QUANTITY_BANDS, unit)


def distance_band(distance_km: float) -> Band:
    """The fixed distance band of a haul, e.g. 37 km -> 25–50 km."""
    return _band(distance_km, DISTANCE_BANDS_KM, "km")
