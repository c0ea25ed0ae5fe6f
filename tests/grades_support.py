"""Tiny hand-made datasets for the blending, heat and water tests: enterprises 1 degree of
latitude apart (111 km, beyond every default reach) linked by listed distances."""

from __future__ import annotations

from typing import Any

from symbiosis.dataset import Dataset, dataset_from_records

Rows = list[dict[str, Any]]


def grid(names: str, links: dict[tuple[str, str], float], offers: Rows, needs: Rows,
         **extra: Rows) -> Dataset:
    """Enterprises named by the letters of `names`, 1 degree of latitude apart, with
    `links` as distances.csv rows in both directions."""
    ents = [{"id": n, "name": n, "lon": 112.9, "lat": 20.0 + k}
            for k, n in enumerate(names)]
    dist = [{"from_id": a, "to_id": b, "distance_km": km} for (a, b), km in links.items()]
    dist += [{"from_id": b, "to_id": a, "distance_km": km} for (a, b), km in links.items()]
    return dataset_from_records({"enterprises": ents, "offers": offers, "needs": needs,
                                 "distances": dist, **extra})


def row(rid: str, ent: str, material: str, qty: float, **cols: Any) -> dict[str, Any]:
    return {"id": rid, "enterprise_id": ent, "material": material, "quantity": qty, **cols}
