"""Datasets that use every column and every optional file of the dataset contract
(`symbiosis.dataset.SPECS`), for the store's round-trip and plan tests (issues 14-17):
months, profiles and storage; heat, water and blend grades; integer logistics and existing
contracts; baselines; uncertainty; estimated listings; transport, carbon, hazardous and
licence tables; a GCJ-02 enterprise and a listing given in 万吨.

Each builder returns records as `symbiosis.dataset.dataset_from_records` takes them (text
cells, as a CSV holds them); `write_records` writes them as a CSV folder."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

__all__ = ["Records", "full_records", "grades_records", "logistics_records",
           "monthly_records", "write_records"]

Records = dict[str, list[dict[str, Any]]]
MONTHS = [f"m{i:02d}" for i in range(1, 13)]


def write_records(records: Records, folder: Path) -> Path:
    """One CSV per table (the header is the union of the rows' keys, in first-seen order)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in records.items():
        header: list[str] = []
        for row in rows:
            header += [k for k in row if k not in header]
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows([["" if row.get(h) is None else str(row.get(h)) for h in header]
                              for row in rows])
    return folder


def _ent(eid: str, name: str, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    return {"id": eid, "name": name, "sector": "", "lon": lon, "lat": lat, "park": "",
            "crs": "", **extra}


def _months(values: list[float]) -> dict[str, Any]:
    return dict(zip(MONTHS, values, strict=True))


def full_records() -> Records:
    """Every SPECS column of every table filled on at least one row, and every optional
    table present (not meant to be solved: integer logistics and grades are combined)."""
    ents = [
        _ent("PWR", "湘潭电厂 'No. 2'", 112.90, 27.86, sector="4411", park="Xiangtan EDZ"),
        _ent("CEM", r"C:\kiln \n 1", 113.00, 27.86, sector="3011", park="Xiangtan EDZ"),
        _ent("STL", "Steel, \"Hunan\"", 112.95, 27.95, sector="3120", park=""),
        # GCJ-02 (Amap) coordinates: the store keeps them converted to WGS 84
        _ent("CHM", "化工厂", 112.9548, 27.8312, sector="2614", crs="gcj02"),
        _ent("WTR", "reclaimed water plant", 112.97, 27.90, sector="4620"),
    ]
    offers = [
        {"id": "OF1", "enterprise_id": "PWR", "material": "fly_ash", "quantity": 12,
         "unit": "万吨", "disposal_cost": 25, "treatment_cost": 3.5, "generated": 150000,
         "used_existing": 20000, "stock": 50000, "q.loi_pct": 6.5, "q.so3_pct": 1.2,
         "min_lot": 1000, "max_partners": 3, "contract_cny_per_year": 20000, "cv": 0.2,
         **_months([1.0] * 12)},  # in the row's unit: 万吨
        {"id": "OF2", "enterprise_id": "STL", "material": "bf_slag", "quantity": 80000,
         "estimated": "yes", "quantity_low": 70000, "quantity_high": 90000,
         "estimate_basis": "hot metal 200 kt x 0.4 t/t", "estimate_source":
         "MEE 2021 handbook (unverified), 'row 7'", "estimate_confidence": "low",
         "profile": "even"},
        {"id": "OF3", "enterprise_id": "CHM", "material": "waste_heat", "quantity": 50000,
         "medium": "steam", "q.temperature_c": 180},
        {"id": "OF4", "enterprise_id": "WTR", "material": "reclaimed_water",
         "quantity": 300000, "q.ss_mg_l": 10, "q.chloride_mg_l": 120, "cv": 0},
        {"id": "OF5", "enterprise_id": "STL", "material": "smelting_slag", "quantity": 3000},
    ]
    needs = [
        {"id": "ND1", "enterprise_id": "CEM", "material": "cement_admixture",
         "quantity": 100000, "unit": "t", "virgin_cost": 80, "replaces": "limestone",
         "blend": "yes", "max.loi_pct": 8, "min_lot": 500, "max_partners": 2,
         "contract_cny_per_year": 5000, "cv": 0.1,
         **_months([0, 0, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000,
                    10000])},
        {"id": "ND2", "enterprise_id": "CEM", "material": "fly_ash", "quantity": 2000,
         "estimated": "yes", "quantity_low": 1500, "quantity_high": 2500,
         "estimate_basis": "clinker", "estimate_source": "GB 175-2023", "estimate_confidence":
         "medium", "profile": "cement_kiln_hunan_staggered"},
        {"id": "ND3", "enterprise_id": "STL", "material": "process_heat", "quantity": 30000,
         "min.temperature_c": 150, "return_temperature_c": 90, "return_share": 0.6},
        {"id": "ND4", "enterprise_id": "PWR", "material": "process_water",
         "quantity": 100000, "water_class": "cooling_once_through"},
        # capped at the licence's 5,000 t on load; the store keeps the stated 8,000 t
        {"id": "ND5", "enterprise_id": "CEM", "material": "smelting_slag", "quantity": 8000},
    ]
    return {
        "enterprises": ents,
        "offers": offers,
        "needs": needs,
        "substitutions": [
            {"need_material": "cement_admixture", "offer_material": "fly_ash", "ratio": 1},
            {"need_material": "cement_admixture", "offer_material": "bf_slag", "ratio": 1},
            {"need_material": "process_heat", "offer_material": "waste_heat", "ratio": 1},
            {"need_material": "process_water", "offer_material": "reclaimed_water",
             "ratio": 1},
        ],
        "distances": [{"from_id": "PWR", "to_id": "CEM", "distance_km": 12.5},
                      {"from_id": "STL", "to_id": "CEM", "distance_km": 30}],
        "transport": [
            {"material": "", "cny_per_unit_km": 0.6, "loading_cny_per_unit": 8,
             "kg_co2e_per_unit_km": 0.078, "source": "GB/T 51366-2019 App. D"},
            {"material": "fly_ash", "cny_per_unit_km": 0.5, "truck_capacity_t": 30,
             "cny_per_trip_km": 12, "source": "carrier quote, 2026"},
            {"material": "waste_heat", "cny_per_km_year": 150000, "source": "pipe estimate"},
        ],
        "carbon": [{"need_material": "cement_admixture", "kg_co2e_per_unit": 800,
                    "displaced": "clinker", "source": "GB 16780-2021 (unverified)"}],
        "hazardous": [{"material": "smelting_slag", "hw_code": "321-002-48"}],
        "licences": [{"enterprise_id": "CEM", "hw_code": "321-002-48", "capacity": 5000,
                      "valid_until": "2099-12-31"}],
        "contracts": [{"offer_id": "OF1", "need_id": "ND1", "quantity": 5000},
                      {"offer_id": "OF2", "need_id": "ND1", "quantity": ""}],
        "storage": [
            {"enterprise_id": "PWR", "material": "fly_ash", "capacity": 3000,
             "initial": 500, "cost_per_unit_month": 2, "loss_pct_per_month": 0.5},
            {"enterprise_id": "CEM", "material": "cement_admixture", "capacity": 4000},
        ],
    }


def monthly_records() -> Records:
    """A power plant making fly ash all year, a kiln stopped in January and February with a
    silo at the plant, an estimated slag offer with its range, and a kiln need following
    the Hunan staggered-production profile (issue 15, issue 14's estimates)."""
    ents = [_ent("PWR", "power plant", 112.90, 27.86), _ent("CEM", "kiln", 113.00, 27.86),
            _ent("STL", "steel works", 112.95, 27.95), _ent("CEM2", "kiln 2", 112.98, 27.92)]
    return {
        "enterprises": ents,
        "offers": [
            {"id": "OF1", "enterprise_id": "PWR", "material": "fly_ash", "quantity": 1200,
             "generated": 1500, "used_existing": 300, "stock": 0},
            {"id": "OF2", "enterprise_id": "STL", "material": "bf_slag", "quantity": 600,
             "estimated": "yes", "quantity_low": 500, "quantity_high": 700,
             "estimate_basis": "hot metal", "estimate_source": "reference coefficient",
             "estimate_confidence": "low", "cv": 0.15},
        ],
        "needs": [
            {"id": "ND1", "enterprise_id": "CEM", "material": "fly_ash", "quantity": "",
             **_months([0, 0, 200, 200, 100, 100, 100, 100, 100, 100, 100, 100])},
            {"id": "ND2", "enterprise_id": "CEM2", "material": "cement_admixture",
             "quantity": 560, "profile": "cement_kiln_hunan_staggered"},
        ],
        "distances": [{"from_id": "PWR", "to_id": "CEM", "distance_km": 10},
                      {"from_id": "STL", "to_id": "CEM2", "distance_km": 15}],
        "storage": [{"enterprise_id": "PWR", "material": "fly_ash", "capacity": 150,
                     "initial": 20, "cost_per_unit_month": 1}],
    }


def grades_records() -> Records:
    """Two ashes blended to meet an LOI limit one of them fails alone, steam with a heat
    cascade, and reclaimed water by GB/T 19923 use class (issue 15's grades)."""
    ents = [_ent(e, e, 112.9, 20.0 + k) for k, e in enumerate("ABCDEFG")]
    links = {("A", "C"): 10, ("B", "C"): 20, ("D", "E"): 2, ("D", "F"): 3, ("E", "F"): 1,
             ("G", "F"): 5, ("G", "E"): 5}
    dist = [{"from_id": a, "to_id": b, "distance_km": km} for (a, b), km in links.items()]
    dist += [{"from_id": b, "to_id": a, "distance_km": km} for (a, b), km in links.items()]
    return {
        "enterprises": ents,
        "offers": [
            {"id": "O1", "enterprise_id": "A", "material": "fly_ash", "quantity": 100,
             "q.loi_pct": 9.0},
            {"id": "O2", "enterprise_id": "B", "material": "fly_ash", "quantity": 100,
             "q.loi_pct": 5.0},
            {"id": "H1", "enterprise_id": "D", "material": "waste_heat", "quantity": 500,
             "medium": "steam", "q.temperature_c": 200},
            {"id": "W1", "enterprise_id": "G", "material": "reclaimed_water",
             "quantity": 1000, "q.ss_mg_l": 20, "q.chloride_mg_l": 100},
        ],
        "needs": [
            {"id": "N1", "enterprise_id": "C", "material": "fly_ash", "quantity": 150,
             "max.loi_pct": 7.0, "blend": "yes"},
            {"id": "U1", "enterprise_id": "E", "material": "process_heat", "quantity": 300,
             "min.temperature_c": 150, "return_temperature_c": 110, "return_share": 0.5},
            {"id": "U2", "enterprise_id": "F", "material": "process_heat", "quantity": 200,
             "min.temperature_c": 90},
            {"id": "WN", "enterprise_id": "F", "material": "process_water", "quantity": 800,
             "water_class": "cooling_once_through"},
        ],
        "distances": dist,
        "substitutions": [
            {"need_material": "process_heat", "offer_material": "waste_heat", "ratio": 1},
            {"need_material": "process_water", "offer_material": "reclaimed_water",
             "ratio": 1},
        ],
    }


def logistics_records() -> Records:
    """Integer logistics (issue 16): 30-t trucks, a minimum lot, a partner limit, contract
    costs and an existing contract, with prices so the cost objective has something to
    weigh."""
    ents = [_ent(e, e, 112.9, 27.8) for e in "ABCDE"]
    ash = "fly_ash"
    return {
        "enterprises": ents,
        "offers": [
            {"id": "O1", "enterprise_id": "A", "material": ash, "quantity": 100,
             "disposal_cost": 40, "min_lot": 30, "max_partners": 2,
             "contract_cny_per_year": 300},
            {"id": "O2", "enterprise_id": "D", "material": ash, "quantity": 70,
             "disposal_cost": 30},
        ],
        "needs": [
            {"id": "N1", "enterprise_id": "B", "material": ash, "quantity": 60,
             "virgin_cost": 60, "contract_cny_per_year": 200},
            {"id": "N2", "enterprise_id": "C", "material": ash, "quantity": 50,
             "virgin_cost": 55, "min_lot": 20},
            {"id": "N3", "enterprise_id": "E", "material": ash, "quantity": 10,
             "virgin_cost": 50},
        ],
        "distances": [{"from_id": a, "to_id": b, "distance_km": km} for a, b, km in (
            ("A", "B", 10), ("A", "C", 20), ("A", "E", 5), ("D", "B", 15), ("D", "C", 8),
            ("D", "E", 30))],
        "transport": [{"material": "", "cny_per_unit_km": 1, "loading_cny_per_unit": 0},
                      {"material": ash, "truck_capacity_t": 30, "cny_per_trip_km": 5,
                       "source": "carrier quote"}],
        "contracts": [{"offer_id": "O2", "need_id": "N2", "quantity": 20}],
    }
