"""Hazardous waste: National Hazardous Waste List codes, declarations, licensed receivers
(no licence -> no flow, with the reason), the licensed capacity as an exact bound, the
transfer-manifest fields, and licences.csv validation located as file:row:column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from symbiosis import Dataset, dataset_from_records, load_dataset, load_taxonomy
from symbiosis.errors import InvalidDataError
from symbiosis.matching import build_candidates, solve_match
from symbiosis.matching.admission import blocked_by_offer
from symbiosis.matching.reasons import UnmatchedReason
from symbiosis.taxonomy import hw_category_of

Rows = list[dict[str, Any]]
ZLR = "zinc_leach_residue"
CODE = "321-004-48"


def make(offers: Rows, needs: Rows, licences: Rows | None = None,
         hazardous: Rows | None = None, km: dict[str, float] | None = None) -> Dataset:
    """Generator A; receivers B, C, D at the listed road distances from A."""
    km = km or {"B": 10.0, "C": 30.0, "D": 20.0}
    records: dict[str, Rows] = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8}
                        for i in ("A", "B", "C", "D")],
        "offers": offers, "needs": needs,
        "distances": [{"from_id": "A", "to_id": k, "distance_km": v} for k, v in km.items()]}
    if licences is not None:
        records["licences"] = licences
    if hazardous is not None:
        records["hazardous"] = hazardous
    return dataset_from_records(records)


def lic(ent: str, capacity: float, code: str = CODE, until: str = "2099-12-31") -> dict[str, Any]:
    return {"enterprise_id": ent, "hw_code": code, "capacity": capacity, "valid_until": until}


def zlr_offer(q: float = 100) -> Rows:
    return [{"id": "z", "enterprise_id": "A", "material": ZLR, "quantity": q}]


def zlr_need(ent: str, q: float) -> dict[str, Any]:
    return {"id": f"n{ent}", "enterprise_id": ent, "material": ZLR, "quantity": q}


def test_built_in_hazardous_material_carries_its_code() -> None:
    mat = load_taxonomy().materials[ZLR]
    assert mat.hazardous and mat.hw_code == CODE and mat.hw_category == "HW48"
    assert hw_category_of("900-000-49") == "HW49"
    with pytest.raises(ValueError, match="ddd-ddd-dd"):
        hw_category_of("HW48")


def test_no_licence_no_flow_with_the_reason() -> None:
    ds = make(zlr_offer(), [zlr_need("B", 50)])
    cand = build_candidates(ds)
    assert len(cand) == 0
    assert blocked_by_offer(cand, 1)["no_licence"].tolist() == [CODE]
    result = solve_match(ds)
    assert result.exchanges.empty
    assert result.offers["reason"].tolist() == [UnmatchedReason.NO_LICENCE.value]
    assert result.offers["no_licence"].tolist() == [CODE]
    assert CODE in result.offers["explanation"].iat[0]


def test_expired_or_other_code_licence_admits_nothing() -> None:
    expired = make(zlr_offer(), [zlr_need("B", 50)], [lic("B", 100, until="2025-06-30")])
    assert len(build_candidates(expired, licences_as_of=dt.date(2026, 1, 1))) == 0
    assert len(build_candidates(expired, licences_as_of=dt.date(2025, 6, 30))) == 1
    other = make(zlr_offer(), [zlr_need("B", 50)], [lic("B", 100, code="321-002-48")])
    assert len(build_candidates(other)) == 0


def test_licensed_capacity_is_respected_exactly() -> None:
    """100 t from A; B (10 km) needs 50 but is licensed for 30, C (30 km) needs 40 with a
    licence of 100, D (20 km) needs 40 and holds no licence. Optimum: B 30, C 40, D 0:
    70 t matched, 30 x 10 + 40 x 30 = 1,500 t-km (without the cap B would take 50)."""
    ds = make(zlr_offer(), [zlr_need("B", 50), zlr_need("C", 40), zlr_need("D", 40)],
              [lic("B", 30), lic("C", 100)])
    assert ds.needs.loc["nB", "quantity"] == 30.0
    assert ds.needs.loc["nB", "unlicensed_quantity"] == 50.0
    result = solve_match(ds)
    flows = dict(zip(result.exchanges["need_id"], result.exchanges["quantity"], strict=True))
    assert flows == {"nB": 30.0, "nC": 40.0}
    assert result.summary.tonnes_matched == 70.0
    assert result.summary.tonne_km == pytest.approx(1500.0)
    assert any("licensed capacity" in w.message for w in ds.warnings)


def test_exchange_carries_the_transfer_manifest_fields() -> None:
    ds = make(zlr_offer(), [zlr_need("B", 50)], [lic("B", 80, until="2031-03-31")])
    ex = solve_match(ds).exchanges
    row = ex.iloc[0]
    assert (row["hw_code"], row["hw_category"], row["waste_name_zh"]) == (CODE, "HW48", "锌浸出渣")
    assert row["receiver_licence_valid_until"] == "2031-03-31"
    assert (row["generator_id"], row["receiver_id"]) == ("A", "B")
    assert "Art. 82" in row["manifest"]
    assert row["legal_status"] == f"hazardous waste HW48 {CODE}"


def test_general_exchanges_have_a_legal_status_and_no_manifest_columns() -> None:
    ds = make([{"id": "s", "enterprise_id": "A", "material": "slag_powder", "quantity": 10,
                "q.loi_pct": 0.5, "q.activity_28d_pct": 96, "q.so3_pct": 2}],
              [{"id": "c", "enterprise_id": "B", "material": "concrete_admixture",
                "quantity": 10}])
    ex = solve_match(ds).exchanges
    assert "hw_code" not in ex.columns
    assert ex["legal_status"].iat[0].startswith("product if it meets GB/T 18046-2017")


def test_a_declared_hazardous_builtin_goes_only_to_a_licensed_kiln() -> None:
    """A smelter's slag identified as hazardous keeps its raw-meal rule but needs a
    licensed receiver: B is licensed, C is not."""
    code = "321-002-48"
    offers = [{"id": "s", "enterprise_id": "A", "material": "smelting_slag", "quantity": 100}]
    needs = [{"id": "kB", "enterprise_id": "B", "material": "raw_meal_iron", "quantity": 20},
             {"id": "kC", "enterprise_id": "C", "material": "raw_meal_iron", "quantity": 20}]
    ds = make(offers, needs, [lic("B", 500, code=code)],
              [{"material": "smelting_slag", "hw_code": code}])
    assert ds.taxonomy.materials["smelting_slag"].hazardous
    flows = dict(zip(*(solve_match(ds).exchanges[c] for c in ("need_id", "quantity")),
                     strict=True))
    assert flows == {"kB": 20.0}
    # without the declaration both kilns take it
    plain = make(offers, needs)
    assert len(solve_match(plain).exchanges) == 2


def test_a_custom_hazardous_material_is_declared_in_the_dataset() -> None:
    ds = make([{"id": "d", "enterprise_id": "A", "material": "copper_flue_dust",
                "quantity": 5}],
              [{"id": "r", "enterprise_id": "B", "material": "copper_flue_dust",
                "quantity": 5}],
              [lic("B", 5, code="321-002-48")],
              [{"material": "copper_flue_dust", "hw_code": "321-002-48"}])
    mat = ds.taxonomy.materials["copper_flue_dust"]
    assert (mat.kind, mat.hazardous, mat.hw_category) == ("custom", True, "HW48")
    assert solve_match(ds).exchanges["quantity"].tolist() == [5.0]


def test_a_capacity_that_cannot_be_stated_exactly_is_refused() -> None:
    """A kiln licensed for 10 t whose raw-meal need (40 t) also takes general steel slag:
    the cap cannot be put on the need without also capping the steel slag, so it is an
    error naming the licence row; a capacity that cannot bind is accepted."""
    code = "321-002-48"
    offers = [{"id": "s", "enterprise_id": "A", "material": "smelting_slag", "quantity": 100}]
    needs = [{"id": "kB", "enterprise_id": "B", "material": "raw_meal_iron", "quantity": 40}]
    decl = [{"material": "smelting_slag", "hw_code": code}]
    with pytest.raises(InvalidDataError) as err:
        make(offers, needs, [lic("B", 10, code=code)], decl)
    assert "licences:2:capacity" in str(err.value)
    ds = make(offers, needs, [lic("B", 40, code=code)], decl)
    assert ds.needs.loc["kB", "quantity"] == 40.0


def test_licences_csv_errors_name_file_row_and_column(tmp_path: Path) -> None:
    (tmp_path / "enterprises.csv").write_text("id,name,lon,lat\nA,a,112.9,27.8\n"
                                              "B,b,113.0,27.9\n")
    (tmp_path / "offers.csv").write_text(f"enterprise_id,material,quantity\nA,{ZLR},10\n")
    (tmp_path / "needs.csv").write_text(f"enterprise_id,material,quantity\nB,{ZLR},10\n")
    (tmp_path / "licences.csv").write_text(
        "enterprise_id,hw_code,capacity,valid_until\n"
        f"B,HW48,10,2030-01-01\nX,{CODE},10,2030-01-01\nB,{CODE},-1,2030-01-01\n"
        f"B,{CODE},5,31/12/2030\n")
    (tmp_path / "hazardous.csv").write_text("material,hw_code\nfly_ash,48\n")
    with pytest.raises(InvalidDataError) as err:
        load_dataset(tmp_path)
    text = str(err.value)
    lic_file, haz_file = tmp_path / "licences.csv", tmp_path / "hazardous.csv"
    for where in (f"{lic_file}:2:hw_code", f"{lic_file}:3:enterprise_id",
                  f"{lic_file}:4:capacity", f"{lic_file}:5:valid_until",
                  f"{haz_file}:2:hw_code"):
        assert where in text, where


def test_a_declared_hazardous_load_keeps_the_drinking_water_zone_rule(tmp_path: Path) -> None:
    """Smelting slag declared hazardous, two licensed kilns: Q1 lies across a
    drinking-water reservoir (the straight line is excluded without roads), Q2 is clear.
    The licence admits both; the zone rule still removes Q1."""
    from geo_world import lonlat, write_polygons

    from symbiosis.geo.provider import GeoDistances
    from symbiosis.geo.zones import load_zones

    code = "321-002-48"
    places = {"P": (0.0, 0.0), "Q1": (10.0, 0.0), "Q2": (0.0, 10.0)}
    ents = [{"id": e, "name": e, "lon": lonlat(*xy)[0], "lat": lonlat(*xy)[1]}
            for e, xy in places.items()]
    ds = dataset_from_records({
        "enterprises": ents,
        "offers": [{"id": "s", "enterprise_id": "P", "material": "smelting_slag",
                    "quantity": 100}],
        "needs": [{"id": q, "enterprise_id": q, "material": "raw_meal_iron", "quantity": 20}
                  for q in ("Q1", "Q2")],
        "hazardous": [{"material": "smelting_slag", "hw_code": code}],
        "licences": [lic(q, 500, code=code) for q in ("Q1", "Q2")]})
    zones = write_polygons(tmp_path / "zones.geojson",
                           [[(4, -1), (6, -1), (6, 1), (4, 1), (4, -1)]],
                           kind=["drinking_water_protection"], name=["Test reservoir"],
                           source=["crafted for the test"])
    plain = build_candidates(ds)
    assert sorted(ds.needs.index[plain.need]) == ["Q1", "Q2"]
    zoned = build_candidates(ds, distances=GeoDistances(ds, zones=load_zones(zones)))
    assert sorted(ds.needs.index[zoned.need]) == ["Q2"]
