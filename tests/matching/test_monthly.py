"""The monthly plan (issue 15, matching.monthly): hand-computed plans of a power plant and a
cement kiln stopped in winter, silos at either end, the annual run as the special case of
even months, and the network cross-checked against an independent LP (scipy HiGHS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import lil_matrix

from symbiosis.dataset import Dataset, dataset_from_records
from symbiosis.errors import OptionsError
from symbiosis.matching.candidates import candidates_for
from symbiosis.matching.model import solve_match
from symbiosis.matching.options import MatchOptions
from symbiosis.months import load_profiles, monthly_quantities

KILN = [0, 0, 200, 200, 100, 100, 100, 100, 100, 100, 100, 100]  # stopped Jan and Feb


def _months(values: list[float]) -> dict[str, str]:
    return {f"m{t + 1:02d}": f"{v:g}" for t, v in enumerate(values)}


def plant_and_kiln(storage: list[dict[str, Any]] | None = None,
                   kiln: list[float] | None = KILN, ash: float = 1200,
                   need_extra: dict[str, str] | None = None) -> Dataset:
    """A power plant making `ash` t/yr of fly ash evenly, 10 km from a kiln whose need of
    ash follows `kiln` (None: no months on the need)."""
    need: dict[str, str] = {"id": "ND1", "enterprise_id": "CEM", "material": "fly_ash",
                            "quantity": "" if kiln is not None else "1200"}
    if kiln is not None:
        need.update(_months(kiln))
    need.update(need_extra or {})
    records: dict[str, list[dict[str, Any]]] = {
        "enterprises": [{"id": "PWR", "name": "power plant", "lon": 112.90, "lat": 27.86},
                        {"id": "CEM", "name": "cement kiln", "lon": 113.00, "lat": 27.86}],
        "offers": [{"id": "OF1", "enterprise_id": "PWR", "material": "fly_ash",
                    "quantity": ash}],
        "needs": [need],
        "distances": [{"from_id": "PWR", "to_id": "CEM", "distance_km": 10}],
    }
    if storage is not None:
        records["storage"] = storage
    return dataset_from_records(records)


def monthly(result: Any) -> list[float]:
    assert result.summary.monthly is not None
    return [m.matched_t for m in result.summary.monthly.months]


def levels(result: Any) -> list[float]:
    table = result.tables["storage"]
    return [float(table[f"m{t:02d}"].iat[0]) for t in range(1, 13)]


def test_kiln_stopped_in_winter_loses_that_ash_without_storage() -> None:
    result = solve_match(plant_and_kiln())
    assert monthly(result) == [0, 0, 100, 100] + [100] * 8
    assert result.summary.tonnes_offered == 1200
    assert result.summary.tonnes_matched == 1000
    assert result.summary.tonne_km == 10_000
    assert result.offers["unmatched"].tolist() == [200]
    by_month = result.tables["exchanges_monthly"]
    assert by_month["month"].tolist() == list(range(3, 13))
    assert set(by_month["quantity"]) == {100}


def test_a_silo_at_the_power_plant_carries_winter_ash_into_spring() -> None:
    silo = [{"enterprise_id": "PWR", "material": "fly_ash", "capacity": 300,
             "cost_per_unit_month": 2}]
    result = solve_match(plant_and_kiln(silo))
    # Jan 100 in, Feb 200, March takes 200 (100 made + 100 held), April 200 (100 + 100)
    assert monthly(result) == [0, 0, 200, 200] + [100] * 8
    assert result.summary.tonnes_matched == 1200
    assert levels(result) == [100, 200, 100] + [0] * 9
    row = result.tables["storage"].iloc[0]
    assert row["side"] == "supplier" and row["listing_id"] == "OF1"
    assert row["months_full"] == 0 and row["year_end"] == 0
    assert row["holding_cost_cny"] == (100 + 200 + 100) * 2
    assert row["marginal_used_per_unit"] == 0  # never full: a bigger silo adds nothing


def test_the_silo_capacity_binds_and_its_marginal_value_is_one_tonne_per_tonne() -> None:
    silo = [{"enterprise_id": "PWR", "material": "fly_ash", "capacity": 150}]
    result = solve_match(plant_and_kiln(silo))
    # February ends with the silo full (150): 50 t of Jan+Feb ash cannot be kept
    assert monthly(result) == [0, 0, 200, 150] + [100] * 8
    assert result.summary.tonnes_matched == 1150
    assert levels(result) == [50, 150, 50] + [0] * 9
    row = result.tables["storage"].iloc[0]
    assert row["months_full"] == 1
    assert row["marginal_used_per_unit"] == pytest.approx(1.0, abs=1e-12)
    assert row["marginal_unit_km_per_unit"] == pytest.approx(10.0, abs=1e-9)
    store = result.summary.monthly.storage[0]
    assert store.marginal_used_per_unit == pytest.approx(1.0, abs=1e-12)


def test_a_silo_at_the_kiln_takes_winter_deliveries() -> None:
    silo = [{"enterprise_id": "CEM", "material": "fly_ash", "capacity": 200}]
    result = solve_match(plant_and_kiln(silo))
    by_month = result.tables["exchanges_monthly"]
    assert by_month.groupby("month")["quantity"].sum().tolist() == [100] * 12
    assert result.summary.tonnes_matched == 1200
    assert levels(result) == [100, 200, 100] + [0] * 9
    assert result.tables["storage"]["side"].iat[0] == "receiver"


def test_a_receivers_initial_stock_is_used_first_and_never_counts_as_matched() -> None:
    silo = [{"enterprise_id": "CEM", "material": "fly_ash", "capacity": 200,
             "initial": 150}]
    result = solve_match(plant_and_kiln(silo, kiln=[100] * 12))
    # January and half of February come from the silo; 150 t of ash has no taker
    assert monthly(result) == [0, 50] + [100] * 10
    assert result.summary.tonnes_matched == 1050
    assert levels(result)[:3] == [50, 0, 0]


def test_a_suppliers_initial_stock_is_offered_in_january_and_reported_as_drawn() -> None:
    silo = [{"enterprise_id": "PWR", "material": "fly_ash", "capacity": 300,
             "initial": 100}]
    # the kiln takes 100 t more in March: Jan 200 held, Feb 300 (full), March 300
    result = solve_match(plant_and_kiln(silo, kiln=[0, 0, 300, 200] + [100] * 8))
    assert monthly(result) == [0, 0, 300, 200] + [100] * 8
    assert levels(result)[:3] == [200, 300, 100]
    assert result.summary.tonnes_matched == 1300
    assert result.offers["stock_used"].tolist() == [100]
    assert result.summary.utilization_rate == pytest.approx(1.0)


def test_losses_make_it_an_lp_with_the_hand_computed_plan() -> None:
    silo = [{"enterprise_id": "PWR", "material": "fly_ash", "capacity": 150,
             "loss_pct_per_month": 10}]
    result = solve_match(plant_and_kiln(silo))
    # Feb ends full: 0.9 h1 + 100 = 150, h1 = 55.6; March 100 + 135 -> 200 and 35 held;
    # April 100 + 31.5
    assert result.solver.methods == ("lp_highs",)
    assert result.summary.tonnes_matched == pytest.approx(1131.5, rel=1e-7)
    assert levels(result)[:3] == pytest.approx([500 / 9, 150, 35], rel=1e-6)
    row = result.tables["storage"].iloc[0]
    assert row["lost"] == pytest.approx(0.1 * (500 / 9 + 150 + 35), rel=1e-6)
    # one more t of silo: 0.9 t more reaches March's store, 0.81 t of it April's kiln
    assert row["marginal_used_per_unit"] == pytest.approx(0.81, rel=1e-6)


def test_a_lossy_silo_at_the_kiln_keeps_winter_deliveries_less_its_losses() -> None:
    silo = [{"enterprise_id": "CEM", "material": "fly_ash", "capacity": 200,
             "loss_pct_per_month": 10}]
    result = solve_match(plant_and_kiln(silo))
    # Jan 100 in, Feb 90 + 100, March 171 + 100 -> 200 used and 71 held, April 63.9 + 100
    assert result.solver.methods == ("lp_highs",)
    assert result.summary.tonnes_matched == pytest.approx(1200, rel=1e-7)
    assert levels(result)[:4] == pytest.approx([100, 190, 71, 0], abs=1e-5)
    assert result.tables["storage"]["lost"].iat[0] == pytest.approx(36.1, rel=1e-6)


def test_a_need_named_by_the_hunan_kiln_profile_follows_its_operating_days() -> None:
    profile = load_profiles()["cement_kiln_hunan_staggered"]
    assert sum(profile.weights) == 365 - 85
    stopped = [d - w for d, w in zip([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
                                     profile.weights, strict=True)]
    assert sum(stopped[:3]) >= 35 and sum(stopped[9:]) >= 20  # Q1 and Q4 minimums
    assert sum(stopped[3:9]) == 0  # only in the special control period
    data = plant_and_kiln(kiln=None, ash=2800,
                          need_extra={"quantity": "2800",
                                      "profile": "cement_kiln_hunan_staggered"})
    result = solve_match(data)
    expected = [10 * w for w in profile.weights]
    # the plant makes 2800 / 12 a month: the kiln takes the smaller of the two each month
    assert monthly(result) == pytest.approx([min(2800 / 12, e) for e in expected], rel=1e-9)
    assert result.summary.monthly.profiles == {
        "cement_kiln_hunan_staggered": profile.source}


def test_annual_run_equals_the_monthly_run_when_every_month_is_even(
        demo_path: Path) -> None:
    from symbiosis.dataset import load_dataset

    # both judge the demo's heat at delivery (the default where heat states a temperature)
    annual = solve_match(load_dataset(demo_path))
    data = load_dataset(demo_path)
    needs = data.needs.copy()
    needs["profile"] = "even"
    from dataclasses import replace

    plan = solve_match(replace(data, needs=needs))
    assert plan.summary.monthly is not None and annual.summary.monthly is None
    assert plan.summary.tonnes_matched == pytest.approx(annual.summary.tonnes_matched,
                                                        rel=1e-9)
    assert plan.summary.tonne_km == pytest.approx(annual.summary.tonne_km, rel=1e-9)
    for fam, totals in annual.summary.families.items():
        assert plan.summary.families[fam].matched == pytest.approx(totals.matched, rel=1e-9)


def test_annual_totals_are_the_sums_of_the_months() -> None:
    silo = [{"enterprise_id": "PWR", "material": "fly_ash", "capacity": 150}]
    result = solve_match(plant_and_kiln(silo))
    months = result.summary.monthly.months
    assert sum(m.matched_t for m in months) == pytest.approx(result.summary.tonnes_matched)
    assert sum(m.tonne_km for m in months) == pytest.approx(result.summary.tonne_km)
    assert sum(m.offered_t for m in months) == pytest.approx(result.summary.tonnes_offered)
    by_month = result.tables["exchanges_monthly"]
    assert by_month["quantity"].sum() == pytest.approx(result.exchanges["quantity"].sum())


def test_value_objectives_are_refused_for_a_monthly_plan() -> None:
    with pytest.raises(OptionsError, match="default objective only"):
        solve_match(plant_and_kiln(), MatchOptions(objective="co2"))


# ----------------------------------------------------------------------------- cross-check


def random_instance(seed: int) -> Dataset:
    """Three plants, three kilns, random months and stores (some with losses)."""
    rng = np.random.default_rng(seed)
    ents = [{"id": f"E{i}", "name": f"e{i}", "lon": 112.9 + 0.05 * rng.random(),
             "lat": 27.8 + 0.05 * rng.random()} for i in range(6)]
    offers = []
    for i in range(3):
        row: dict[str, Any] = {"id": f"O{i}", "enterprise_id": f"E{i}",
                               "material": "fly_ash", "quantity": ""}
        row.update(_months(list(rng.integers(0, 60, 12))))
        offers.append(row)
    needs = []
    for i in range(3, 6):
        row = {"id": f"N{i}", "enterprise_id": f"E{i}", "material": "fly_ash",
               "quantity": ""}
        row.update(_months(list(rng.integers(0, 2, 12) * rng.integers(1, 70, 12))))
        needs.append(row)
    storage = []
    for i in rng.choice(6, size=3, replace=False):
        storage.append({"enterprise_id": f"E{i}", "material": "fly_ash",
                        "capacity": int(rng.integers(0, 80)),
                        "loss_pct_per_month": 0})
    return dataset_from_records({"enterprises": ents, "offers": offers, "needs": needs,
                                 "storage": storage})


def independent_lp(data: Dataset) -> tuple[float, float]:
    """The monthly model written directly from the tables (not from matching.monthly):
    max delivered, then min t-km; variables x[a,t], then h[s,t] for t = 0..10."""
    cand = candidates_for(data, MatchOptions())
    supply = monthly_quantities(data.offers)
    demand = monthly_quantities(data.needs)
    stores = data.storage
    n_a, n_s, months = len(cand), len(stores), 12
    n_x, n_h = n_a * months, n_s * 11
    a_ub = lil_matrix(((len(data.offers) + len(data.needs)) * months, n_x + n_h))
    b_ub = []
    r = 0
    offer_ids, need_ids = list(data.offers.index), list(data.needs.index)
    for side, frame, arcs_of, amount in (("supplier", data.offers, cand.offer, supply),
                                         ("receiver", data.needs, cand.need, demand)):
        ids = offer_ids if side == "supplier" else need_ids
        for i in range(len(frame)):
            store = [k for k in range(n_s) if stores["side"].iat[k] == side
                     and stores["listing_id"].iat[k] == ids[i]]
            for t in range(months):
                for a in np.flatnonzero(arcs_of == i):
                    a_ub[r, a * months + t] = 1
                if store:  # supplier: out + h_t - h_{t-1} <= made; receiver: in - ...
                    if t < 11:
                        a_ub[r, n_x + store[0] * 11 + t] = 1 if side == "supplier" else -1
                    if t > 0:
                        a_ub[r, n_x + store[0] * 11 + t - 1] = -1 if side == "supplier" \
                            else 1
                b_ub.append(amount[i, t])
                r += 1
    caps = [(0, None)] * n_x + [(0, float(stores["capacity"].iat[k]))
                                for k in range(n_s) for _ in range(11)]
    km = np.concatenate([np.repeat(cand.distance_km, months), np.zeros(n_h)])
    deliver = np.concatenate([np.ones(n_x), np.zeros(n_h)])
    first = linprog(-deliver, A_ub=a_ub.tocsr(), b_ub=b_ub, bounds=caps, method="highs")
    z1 = -first.fun
    second = linprog(km, A_ub=np.vstack([a_ub.toarray(), -deliver]),
                     b_ub=[*b_ub, -z1 * (1 - 1e-10)], bounds=caps, method="highs")
    return z1, float(second.fun)


@pytest.mark.parametrize("seed", range(8))
def test_monthly_network_agrees_with_an_independent_lp(seed: int) -> None:
    data = random_instance(seed)
    delivered, tkm = independent_lp(data)
    result = solve_match(data)
    assert result.solver.methods == ("min_cost_flow",)
    assert result.summary.tonnes_matched == pytest.approx(delivered, rel=1e-7, abs=1e-6)
    assert result.summary.tonne_km == pytest.approx(tkm, rel=1e-6, abs=1e-5)
    lp_path = solve_match(data, MatchOptions(method="lp"))
    assert lp_path.solver.methods == ("lp_highs",)
    assert lp_path.summary.tonnes_matched == pytest.approx(delivered, rel=1e-7, abs=1e-6)
    assert lp_path.summary.tonne_km == pytest.approx(tkm, rel=1e-6, abs=1e-5)
    # invariants: no month's supply or need exceeded, stores within capacity
    by_month = result.tables["exchanges_monthly"]
    out = by_month.groupby(["offer_id", "month"])["quantity"].sum()
    made = monthly_quantities(data.offers)
    cap_total = data.storage["capacity"].sum()
    for (oid, month), q in out.items():
        assert q <= made[list(data.offers.index).index(oid), :month].sum() + 1e-6
    table = result.tables["storage"]
    for t in range(1, 12):
        assert (table[f"m{t:02d}"] <= table["capacity"] + 1e-9).all()
    assert table[[f"m{t:02d}" for t in range(1, 12)]].to_numpy().sum() <= 11 * cap_total + 1e-6


def test_outputs_of_a_monthly_cli_run(tmp_path: Path, run_cli: Any) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "enterprises.csv").write_text(
        "id,name,lon,lat\nPWR,power,112.90,27.86\nCEM,cement,113.00,27.86\n",
        encoding="utf-8")
    (folder / "offers.csv").write_text("id,enterprise_id,material,quantity,unit\n"
                                       "OF1,PWR,fly_ash,0.12,万吨\n", encoding="utf-8")
    kiln = ",".join(f"{v:g}" for v in KILN)
    header = ",".join(f"m{t:02d}" for t in range(1, 13))
    (folder / "needs.csv").write_text(f"id,enterprise_id,material,quantity,{header}\n"
                                      f"ND1,CEM,fly_ash,,{kiln}\n", encoding="utf-8")
    (folder / "storage.csv").write_text("enterprise_id,material,capacity\n"
                                        "PWR,fly_ash,150\n", encoding="utf-8")
    (folder / "distances.csv").write_text("from_id,to_id,distance_km\nPWR,CEM,10\n",
                                          encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli("match", folder, "--out", out, "--quiet", "--report", "html")
    assert proc.returncode == 0, proc.stderr
    assert (out / "monthly.png").read_bytes().startswith(b"\x89PNG")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["tonnes_matched"] == 1150
    assert [m["matched_t"] for m in summary["monthly"]["months"]][:4] == [0, 0, 200, 150]
    assert (out / "exchanges_monthly.csv").exists()
    assert "marginal_used_per_unit" in (out / "storage.csv").read_text(encoding="utf-8-sig")


def test_stockpile_draws_by_month_are_reported_where_the_annual_split_differs() -> None:
    from dataclasses import replace

    data = plant_and_kiln()
    offers = data.offers.copy()
    offers["stock"] = 300.0
    result = solve_match(replace(data, offers=offers))
    # January's and February's ash has no taker; March and April draw 100 t each from the
    # heap; the rest of the year the surplus is enough
    assert monthly(result) == [0, 0, 200, 200] + [100] * 8
    assert result.summary.monthly.stockpile_drawn == 200
    assert any("draws 200 from stockpiles" in w for w in result.summary.warnings)
