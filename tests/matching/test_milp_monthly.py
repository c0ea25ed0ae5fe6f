"""Integer logistics month by month (issue 16 with months, `matching.milp_monthly`):
whole truck trips per exchange and month, an annual lot that a silo makes reachable, a
contract cost that a seasonal exchange cannot pay, agreement with an independent
formulation solved by scipy.optimize.milp on random monthly instances, and the reports
(exchanges_monthly.csv `trips`, exchanges.csv trips = the months' sum)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from symbiosis import Dataset, dataset_from_records
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching.candidates import candidates_for
from symbiosis.matching.economics import arc_values
from symbiosis.matching.logistics import arc_logistics
from symbiosis.matching.result import MatchResult
from symbiosis.months import load_profiles, monthly_quantities

Rows = list[dict[str, Any]]
ROAD = {"material": "", "cny_per_unit_km": 1, "loading_cny_per_unit": 0}
KILN = [0, 0, 200, 200, 100, 100, 100, 100, 100, 100, 100, 100]  # stopped Jan and Feb


def months(values: list[float]) -> dict[str, float]:
    return {f"m{t + 1:02d}": float(v) for t, v in enumerate(values)}


def make(offers: Rows, needs: Rows, distances: Rows, transport: Rows | None = None,
         storage: Rows | None = None, ents: tuple[str, ...] = ("A", "B", "C")) -> Dataset:
    records: dict[str, Rows] = {
        "enterprises": [{"id": e, "name": e, "lon": 112.9, "lat": 27.8} for e in ents],
        "offers": offers, "needs": needs, "distances": distances,
        "transport": transport if transport is not None else [ROAD]}
    if storage is not None:
        records["storage"] = storage
    return dataset_from_records(records)


def ash(oid: str, ent: str, qty: float | str, **extra: Any) -> dict[str, Any]:
    return {"id": oid, "enterprise_id": ent, "material": "fly_ash", "quantity": qty, **extra}


def km(a: str, b: str, d: float) -> dict[str, Any]:
    return {"from_id": a, "to_id": b, "distance_km": d}


def plan(result: MatchResult) -> dict[tuple[str, str], float]:
    ex = result.exchanges
    return {(o, n): float(q) for o, n, q in zip(ex["offer_id"], ex["need_id"], ex["quantity"],
                                                strict=True)}


def by_month(result: MatchResult, column: str = "quantity") -> list[float]:
    table = result.tables["exchanges_monthly"]
    out = [0.0] * 12
    for m, v in zip(table["month"], table[column], strict=True):
        out[int(m) - 1] += float(v)
    return out


def trucks(cost: float | None = 5) -> Rows:
    row: dict[str, Any] = {"material": "fly_ash", "truck_capacity_t": 30}
    if cost is not None:
        row["cny_per_trip_km"] = cost
    return [ROAD, row]


# ----------------------------------------------------------------------------- hand-solved


def test_25_t_a_month_by_30_t_trucks_is_12_trips_not_10() -> None:
    """25 t in each of 12 months, 30-t trucks at 5 CNY/trip-km over 10 km (50 CNY a trip),
    saving 100 - 10 = 90 CNY/t net of road freight (which trips replace): one trip a month,
    12 a year: 300 x 100 - 12 x 50 = 29,400. The annual model would count ceil(300/30) = 10
    trips: 29,500."""
    offer = ash("O1", "A", "", disposal_cost=100, **months([25] * 12))
    ds = make([offer], [ash("N1", "B", 1000)], [km("A", "B", 10)], trucks())
    result = solve_match(ds, MatchOptions(objective="cost"))
    assert plan(result) == {("O1", "N1"): 300.0}
    assert result.exchanges["trips"].tolist() == [12.0]
    assert result.exchanges["transport_cny"].tolist() == pytest.approx([600.0])
    assert by_month(result) == [25.0] * 12
    assert by_month(result, "trips") == [1.0] * 12
    assert result.summary.solver.objective == pytest.approx(29_400.0, rel=1e-9)
    assert result.summary.solver.status == "optimal"
    assert result.summary.monthly is not None
    milp_ = result.summary.solver.milp
    assert milp_ is not None and milp_.trip_integers == 12
    annual = make([ash("O1", "A", 300, disposal_cost=100)], [ash("N1", "B", 1000)],
                  [km("A", "B", 10)], trucks())
    once = solve_match(annual, MatchOptions(objective="cost"))
    assert once.exchanges["trips"].tolist() == [10.0]
    assert once.summary.solver.objective == pytest.approx(29_500.0, rel=1e-9)


def test_a_silo_lets_the_stopped_kiln_clear_the_annual_lot() -> None:
    """A plant makes 100 t of ash a month; the kiln 10 km away is stopped in January and
    February (KILN); the offer's minimum lot is 1,100 t a year. Without a silo only 1,000 t
    can go (March to December): below the lot, nothing goes. With a 300-t silo at the plant
    the winter's 200 t wait and go in March and April: 1,200 t, trips per month ceil(q/30):
    7, 7 and 4 x 8 = 46 (not ceil(1200/30) = 40)."""
    def case(storage: Rows | None) -> Dataset:
        return make([ash("O1", "A", 1200, min_lot=1100)],
                     [ash("N1", "B", "", **months(KILN))], [km("A", "B", 10)],
                     trucks(cost=None), storage)

    bare = solve_match(case(None))
    assert plan(bare) == {}
    assert bare.offers.set_index("offer_id").at["O1", "reason"].split(";")[0] == \
        "below_min_lot"
    silo = [{"enterprise_id": "A", "material": "fly_ash", "capacity": 300,
             "cost_per_unit_month": 2}]
    result = solve_match(case(silo))
    assert plan(result) == {("O1", "N1"): 1200.0}
    assert by_month(result) == [0, 0, 200, 200] + [100] * 8
    assert by_month(result, "trips") == [0, 0, 7, 7] + [4] * 8
    assert result.exchanges["trips"].tolist() == [46.0]
    levels = result.tables["storage"]
    assert [float(levels[f"m{t:02d}"].iat[0]) for t in range(1, 5)] == [100, 200, 100, 0]
    assert result.summary.solver.status == "optimal"


def test_a_contract_cost_the_seasonal_exchange_cannot_pay() -> None:
    """O1 makes 10 t a month (saving 30 CNY/t before freight at 1 CNY/t-km). N2, 5 km away,
    runs only in January and February (50 t each); N1, 20 km away, all year. A contract
    costs 600 CNY/yr. By month N2 can get only 20 t: 20 x 25 = 500 < 600, so all 120 t go to
    N1: 120 x 10 - 600 = 600. Without months N2 would look like 100 t a year and win:
    100 x 25 - 600 = 1,900."""
    dist = [km("A", "B", 20), km("A", "C", 5)]
    seasonal = make([ash("O1", "A", 120, disposal_cost=30)],
                    [ash("N1", "B", 200), ash("N2", "C", "", **months([50, 50] + [0] * 10))],
                    dist)
    options = MatchOptions(objective="cost", contract_cost=600)
    result = solve_match(seasonal, options)
    assert plan(result) == {("O1", "N1"): 120.0}
    assert result.summary.solver.objective == pytest.approx(600.0, rel=1e-9)
    assert result.exchanges["contract_cny"].tolist() == [600.0]
    assert by_month(result) == [10.0] * 12
    yearly = make([ash("O1", "A", 120, disposal_cost=30)],
                  [ash("N1", "B", 200), ash("N2", "C", 100)], dist)
    once = solve_match(yearly, options)
    assert plan(once) == {("O1", "N2"): 100.0}
    assert once.summary.solver.objective == pytest.approx(1900.0, rel=1e-9)


# ----------------------------------------------------------------------------- random


def _random_monthly(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    n_o, n_n = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    ents = tuple(f"E{i}" for i in range(n_o + n_n))
    offers: Rows = []
    for i in range(n_o):
        q = rng.integers(0, 40, 12).astype(float)
        q[rng.random(12) < 0.2] = 0.0
        q[0] = max(q[0], 1.0)
        extra: dict[str, Any] = {"disposal_cost": float(rng.integers(5, 40))}
        if rng.random() < 0.4:
            extra["min_lot"] = float(min(rng.integers(20, 80), q.sum()))
        if rng.random() < 0.3:
            extra["max_partners"] = 1
        if rng.random() < 0.5:
            extra["contract_cny_per_year"] = float(rng.integers(0, 400))
        offers.append(ash(f"O{i}", ents[i], "", **months(list(q)), **extra))
    needs: Rows = []
    for j in range(n_n):
        d = rng.integers(0, 50, 12).astype(float)
        d[rng.random(12) < 0.25] = 0.0
        d[5] = max(d[5], 1.0)
        needs.append(ash(f"N{j}", ents[n_o + j], "", virgin_cost=float(rng.integers(0, 15)),
                         **months(list(d))))
    dist = [km(ents[i], ents[n_o + j], float(rng.integers(1, 30)))
            for i in range(n_o) for j in range(n_n)]
    transport = [ROAD, {"material": "fly_ash", "truck_capacity_t": int(rng.integers(8, 25)),
                        "cny_per_trip_km": float(rng.integers(1, 5))}]
    storage = [{"enterprise_id": ents[0], "material": "fly_ash",
                "capacity": float(rng.integers(10, 60)),
                "cost_per_unit_month": float(rng.integers(0, 3))}]
    return make(offers, needs, dist, transport, storage, ents)


def _scipy_monthly(ds: Dataset, options: MatchOptions) -> float:
    """The monthly MILP written again from the listings' months for scipy.optimize.milp:
    every arc (no pruning, no break-even cut), x_{a,t}, T_{a,t}, y_a and the silo h_t at
    offer 0 (carried from month t to t+1, charged its holding cost)."""
    cand = candidates_for(ds, options)
    values = arc_values(ds, cand, options.economics)
    lg = arc_logistics(ds, cand, options, values)
    profiles = load_profiles()
    q = monthly_quantities(ds.offers, profiles)
    d = monthly_quantities(ds.needs, profiles)
    m, T = len(cand), 12  # noqa: N806
    share = values.pipe_unit if values.pipe_unit is not None else 0.0
    w = values.saving + share + lg.road_unit_cny
    cap = float(ds.storage["capacity"].iat[0])
    hold = float(ds.storage["cost_per_unit_month"].iat[0])
    # variables: x (m*T), T (m*T), y (m), h (T-1)
    nx, ny = m * T, m
    n = 2 * nx + ny + (T - 1)
    xi = lambda a, t: a * T + t  # noqa: E731
    ti = lambda a, t: nx + a * T + t  # noqa: E731
    yi = lambda a: 2 * nx + a  # noqa: E731
    hi_ = lambda t: 2 * nx + ny + t  # noqa: E731
    c = np.zeros(n)
    for a in range(m):
        for t in range(T):
            c[xi(a, t)] = -w[a]
            c[ti(a, t)] = lg.trip_cny[a]
        c[yi(a)] = lg.contract_cny[a] + lg.pipe_cny[a]
    for t in range(T - 1):
        c[hi_(t)] = hold
    rows = lil_matrix((len(ds.offers) * T + len(ds.needs) * T + 4 * nx + m
                       + len(ds.offers) + len(ds.needs), n))
    lo: list[float] = []
    hi: list[float] = []
    r = 0
    big = float(q.sum() + cap)
    for o in range(len(ds.offers)):
        for t in range(T):
            for a in np.flatnonzero(cand.offer == o):
                rows[r, xi(a, t)] = 1
            if o == 0:
                if t < T - 1:
                    rows[r, hi_(t)] = 1
                if t > 0:
                    rows[r, hi_(t - 1)] = -1
            lo.append(-np.inf)
            hi.append(q[o, t])
            r += 1
    for nn in range(len(ds.needs)):
        for t in range(T):
            for a in np.flatnonzero(cand.need == nn):
                rows[r, xi(a, t)] = cand.ratio[a]
            lo.append(-np.inf)
            hi.append(d[nn, t])
            r += 1
    k = lg.truck_t
    for a in range(m):
        for t in range(T):
            for coefs, low, high in (({xi(a, t): 1, yi(a): -big}, -np.inf, 0),
                                     ({xi(a, t): 1, ti(a, t): -k[a]}, -np.inf, 0),
                                     ({ti(a, t): 1, yi(a): -np.ceil(big / k[a])}, -np.inf,
                                      0)):
                for col, v in coefs.items():
                    rows[r, col] = v
                lo.append(low)
                hi.append(high)
                r += 1
        for t in range(T):
            rows[r, xi(a, t)] = 1
        rows[r, yi(a)] = -lg.lot[a]
        lo.append(0)
        hi.append(np.inf)
        r += 1
    for ends, lim in ((cand.offer, lg.offer_partners), (cand.need, lg.need_partners)):
        for i in range(len(lim)):
            for a in np.flatnonzero(ends == i):
                rows[r, yi(a)] = 1
            lo.append(-np.inf)
            hi.append(float(lim[i]) if lim[i] else np.inf)
            r += 1
    integrality = np.concatenate([np.zeros(nx), np.ones(nx + ny), np.zeros(T - 1)])
    ub = np.concatenate([np.full(nx, big), np.full(nx, np.inf), np.ones(ny),
                         np.full(T - 1, cap)])
    res = milp(c, constraints=LinearConstraint(rows.tocsr()[:r], lo, hi),
               integrality=integrality, bounds=Bounds(np.zeros(n), ub),
               options={"mip_rel_gap": 1e-9})
    assert res.success
    return float(-res.fun)


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_scipy_milp_on_random_monthly_instances(seed: int) -> None:
    """Same optimum as an independent monthly formulation (scipy's HiGHS); the plan keeps
    every month within its offer (plus the silo) and need, clears the annual lots, and its
    trips are whole trucks per month summing to the annual column."""
    ds = _random_monthly(seed)
    options = MatchOptions(objective="cost", mip_gap=0.0, contract_cost=150)
    result = solve_match(ds, options)
    expected = _scipy_monthly(ds, options)
    solver = result.summary.solver
    assert solver.objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert solver.status == "optimal"
    assert solver.bound >= solver.objective - 1e-6
    monthly = result.tables["exchanges_monthly"]
    truck = float(ds.transport.loc[ds.transport["material"] == "fly_ash",
                                   "truck_capacity_t"].iat[0])
    assert np.all(monthly["trips"].to_numpy() * truck >= monthly["quantity"].to_numpy() - 1e-6)
    assert np.all(monthly["trips"].to_numpy() <
                  monthly["quantity"].to_numpy() / truck + 1 + 1e-9)
    sums = monthly.groupby(["offer_id", "need_id"])["trips"].sum()
    ex = result.exchanges.set_index(["offer_id", "need_id"])
    for key, trips in sums.items():
        assert ex.at[key, "trips"] == trips
    q = monthly_quantities(ds.needs, load_profiles())
    got = monthly.groupby(["need_id", "month"])["quantity"].sum()
    for (need, month), v in got.items():
        assert v <= q[ds.needs.index.get_loc(need), month - 1] + 1e-6
    lots = ds.offers["min_lot"].reindex(result.exchanges["offer_id"]).fillna(0).to_numpy() \
        if "min_lot" in ds.offers else np.zeros(len(result.exchanges))
    assert np.all(result.exchanges["quantity"].to_numpy() >= lots - 1e-6)


def test_a_spent_budget_keeps_the_rounded_monthly_plan_with_its_bound() -> None:
    """No time for MathOpt: the plan is the rounded continuous monthly plan, feasible, with
    the LP relaxation as its bound, per batch, and the status says the time limit stopped
    it; with time, the optimum (scipy's) is reached and is no worse."""
    ds = _random_monthly(0)
    options = MatchOptions(objective="cost", mip_gap=0.0, contract_cost=150)
    stopped = solve_match(ds, options.model_copy(update={"time_limit_s": 1e-9}))
    solver = stopped.summary.solver
    assert solver.status == "time_limit"
    assert solver.milp is not None
    assert solver.milp.batches_solved == 0
    assert [b.state for b in solver.milp.batch_report] == ["not_started"]
    assert solver.objective == pytest.approx(solver.milp.heuristic_objective)
    assert solver.objective <= _scipy_monthly(ds, options) + 1e-6 <= solver.bound + 2e-6
    assert solver.bound == pytest.approx(solver.milp.continuous_bound)
    assert "time limit" in solver.note
