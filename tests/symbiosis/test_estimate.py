"""Estimating by-products from capacities (symbiosis.estimate): hand-computed plants, the
coefficient table's provenance, and bad capacities named by file, row and column."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from symbiosis.errors import InvalidDataError, Problem
from symbiosis.estimate import (
    Estimate,
    estimate_dataset,
    estimate_row,
    load_factors,
)


def _by_material(estimates: list[Estimate]) -> dict[str, tuple[float, float, float]]:
    return {e.material: (e.low, e.quantity, e.high) for e in estimates}


def test_coal_plant_with_stated_coal_ash_and_sulphur() -> None:
    """1 Mt coal at 20 % ash, 1 % S, 95 % FGD in a pc boiler:
    fly ash 1e6 x 0.20 x (0.80, 0.85, 0.90) = 160,000 / 170,000 / 180,000 t;
    bottom ash 1e6 x 0.20 x (0.10, 0.15, 0.20) = 20,000 / 30,000 / 40,000 t;
    gypsum 1e6 x 0.01 x (1.6, 1.7, 1.8) x 0.95 x (2.69, 3.0, 3.3)
          = 40,888 -> 40,890 / 48,450 / 56,430 t."""
    found = _by_material(estimate_row({"enterprise_id": "P1", "coal_t": 1e6,
                                       "coal_ash_pct": 20.0, "coal_sulphur_pct": 1.0,
                                       "desulphurisation_pct": 95.0}))
    assert found == {
        "fly_ash": (160_000, 170_000, 180_000),
        "bottom_ash": (20_000, 30_000, 40_000),
        "fgd_gypsum": (40_890, 48_450, 56_430),
    }


def test_coal_from_installed_mw_and_hours() -> None:
    """600 MW x 5000 h = 3,000,000 MWh x (0.28, 0.30, 0.33) tce/MWh x 1.40 t/tce
    = 1.176 / 1.26 / 1.386 Mt coal; x 20 % ash x (0.80, 0.85, 0.90) fly ash
    = 188,160 -> 188,200 / 214,200 / 249,480 -> 249,500 t."""
    problems: list[Problem] = []
    est = estimate_row({"enterprise_id": "P1", "installed_mw": 600.0,
                        "operating_hours": 5000.0, "coal_ash_pct": 20.0}, 2, "cap.csv",
                       problems)
    fly = next(e for e in est if e.material == "fly_ash")
    assert (fly.low, fly.quantity, fly.high) == (188_200, 214_200, 249_500)
    assert fly.basis.startswith("installed_mw 600 x operating_hours 5000 x net_coal_rate 0.3")
    assert fly.factors == ("net_coal_rate", "tce_to_raw_coal", "fly_ash_share_pc")
    assert fly.confidence == "unverified"  # the weakest factor: net_coal_rate
    assert "China Electricity Council" in fly.source
    # no sulphur stated: gypsum is not guessed, and the row says so
    assert [p.column for p in problems] == ["coal_sulphur_pct"]
    assert problems[0].severity == "warning"


def test_cfb_boiler_gives_cfb_ash_only() -> None:
    """CFB: 100,000 t coal x 30 % ash x (1.0, 1.1, 1.3) = 30,000 / 33,000 / 39,000 t of
    cfb_ash; no fly_ash, bottom_ash or wet-FGD gypsum."""
    found = _by_material(estimate_row({"enterprise_id": "C", "boiler": "循环流化床",
                                       "coal_t": 100_000.0, "coal_ash_pct": 30.0,
                                       "coal_sulphur_pct": 2.0}))
    assert found == {"cfb_ash": (30_000, 33_000, 39_000)}


def test_steel_alumina_phosphate_ore_and_cement() -> None:
    found = {(e.table, e.material): (e.low, e.quantity, e.high) for e in estimate_row({
        "enterprise_id": "S", "hot_metal_t": 2e6, "crude_steel_t": 2e6, "alumina_t": 1e6,
        "p2o5_t": 1e5, "ore_t": 1e6, "concentrate_t": 3e5, "cement_t": 1e6})}
    assert found == {
        ("offers", "bf_slag"): (500_000, 600_000, 800_000),  # 2 Mt x 0.25/0.30/0.40
        ("offers", "steel_slag"): (200_000, 250_000, 300_000),  # 2 Mt x 0.10/0.125/0.15
        ("offers", "red_mud"): (1_000_000, 1_200_000, 1_800_000),  # 1 Mt x 1.0/1.2/1.8
        ("offers", "phosphogypsum"): (400_000, 500_000, 550_000),  # 0.1 Mt x 4/5/5.5
        ("offers", "tailings"): (700_000, 700_000, 700_000),  # 1 Mt - 0.3 Mt, exact
        ("needs", "set_retarder"): (30_000, 40_000, 50_000),  # 1 Mt cement x 3/4/5 %
    }


def test_no_ash_content_gives_the_wide_default_range() -> None:
    """1e6 t coal x (0.15, 0.25, 0.35) x (0.80, 0.85, 0.90) = 120,000 / 212,500 / 315,000."""
    problems: list[Problem] = []
    found = _by_material(estimate_row({"enterprise_id": "P", "coal_t": 1e6}, 3, "c",
                                      problems))
    assert found["fly_ash"] == (120_000, 212_500, 315_000)
    assert Problem("c", 3, "coal_ash_pct", "no ash content: the estimate uses Chinese "
                   "thermal coal's range (15-35 %), so it is wide", "warning") in problems


def test_factor_table_carries_provenance() -> None:
    """Every coefficient has a source, a confidence from the house scale, a verification
    note, and 0 < low <= central <= high; those not verified say so."""
    factors = load_factors()
    assert len(factors) >= 12
    for f in factors.values():
        assert f.source, f.key
        assert f.confidence in {"high", "medium", "low", "derived", "unverified"}, f.key
        assert f.verification, f.key
        assert 0 < f.low <= f.central <= f.high, f.key
        if f.confidence in ("low", "unverified"):
            assert "unverified" in f.verification or "secondary" in f.verification, f.key
    # the stoichiometric FGD gypsum yield: 172.17 / 64.066
    assert math.isclose(factors["fgd_gypsum_per_so2"].low, 172.17 / 64.066, rel_tol=2e-3)


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_capacities_in_chinese_with_wan_tonnes_and_reported_offers_win(tmp_path: Path) -> None:
    """A 产能.csv with Chinese headers, tonnages in 万吨 per row and a percent written 20%;
    an offer the plant reported itself supersedes the estimate of the same material."""
    _write(tmp_path, "产能.csv", "企业编号,年耗煤量,煤灰分(%),单位\nP1,100,20%,万吨\n")
    run = estimate_dataset(tmp_path, {"offers": [("P1", "fly_ash")]})
    found = {e.material: e.quantity for e in run.estimates}
    assert found == {"fly_ash": 170_000, "bottom_ash": 30_000}  # 1e6 t x 20 % x share
    assert [e.material for e in run.superseded] == ["fly_ash"]
    assert [e.material for e in run.used] == ["bottom_ash"]


def test_bad_capacities_are_named_by_file_row_and_column(tmp_path: Path) -> None:
    _write(tmp_path, "capacities.csv",
           "enterprise_id,installed_mw,ore_t,concentrate_t,煤灰分(%),boiler,unit\n"
           "A,300,,,,,\n"
           "B,,10,20,,,\n"
           "C,,,,120,,\n"
           "D,,,,,grate,\n"
           "E,,5,,,,GJ\n")
    with pytest.raises(InvalidDataError) as info:
        estimate_dataset(tmp_path)
    label = str(tmp_path / "capacities.csv")
    errors = [str(p) for p in info.value.problems if p.severity == "error"]
    assert errors == [
        f"{label}:4:煤灰分(%): a percentage must be <= 100, got 120",
        f"{label}:6:unit: 'GJ' is not a unit of tonnes per year (t, 万吨, kt ...)",
        f"{label}:2:operating_hours: installed_mw needs operating_hours (or give coal_t) to "
        "estimate the coal burned",
        f"{label}:3:concentrate_t: concentrate 20 t is more than the ore processed (10 t)",
        f"{label}:5:boiler: unknown boiler type 'grate': use pc (煤粉炉) or cfb (循环流化床)",
    ]


def test_no_capacities_table_is_an_error_with_the_fix(tmp_path: Path) -> None:
    _write(tmp_path, "enterprises.csv", "id,name,lon,lat\nA,a,112,28\n")
    with pytest.raises(InvalidDataError) as info:
        estimate_dataset(tmp_path)
    assert "symbiosis template" in info.value.problems[0].message
