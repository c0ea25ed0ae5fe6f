"""Numbers that add up (issue 12, item 6): the engine against an independent LP (HiGHS
through scipy.optimize.linprog) on both objective stages, on instances with many decimals,
distances differing in the fourth decimal and ratios 0.37 and 2.5; the written files against
summary.json; an honest bound whenever an integer scale rounded the data."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from symbiosis import dataset_from_records
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching import flow as flow_module
from symbiosis.matching.flow import choose_scales, solve_transport_mcf
from symbiosis.matching.result import write_outputs

# the complete rule set of the random instances: (need material, offer material, ratio)
RULES = [("cement_admixture", "fly_ash", 0.37), ("cement_admixture", "bf_slag", 2.5),
         ("fly_ash", "fly_ash", 1.0), ("bf_slag", "bf_slag", 1.0),
         ("steel_slag", "steel_slag", 1.0)]
OFFER_MATERIALS = ["fly_ash", "bf_slag", "steel_slag"]
NEED_MATERIALS = ["cement_admixture", "fly_ash", "bf_slag", "steel_slag"]


def _instance(seed: int) -> tuple[dict[str, list[dict[str, Any]]], dict[tuple[str, str], float]]:
    rng = np.random.default_rng(seed)
    n_e = int(rng.integers(4, 12))
    ids = [f"E{i}" for i in range(n_e)]
    km: dict[tuple[str, str], float] = {}
    for a in ids:
        for b in ids:
            if a != b:
                # many decimals; some pairs differ from another only in the 4th decimal
                km[(a, b)] = float(rng.uniform(1.0, 60.0))
    base = km[(ids[0], ids[1])]
    km[(ids[2], ids[1])] = base + 0.0003
    offers = [{"id": f"o{i}", "enterprise_id": str(rng.choice(ids)),
               "material": str(rng.choice(OFFER_MATERIALS)),
               "quantity": float(rng.uniform(0.5, 900.0))} for i in range(int(rng.integers(3, 9)))]
    needs = [{"id": f"n{i}", "enterprise_id": str(rng.choice(ids)),
              "material": str(rng.choice(NEED_MATERIALS)),
              "quantity": float(rng.uniform(0.5, 900.0))} for i in range(int(rng.integers(3, 9)))]
    records = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in ids],
        "offers": offers, "needs": needs,
        "distances": [{"from_id": a, "to_id": b, "distance_km": d} for (a, b), d in km.items()],
        "substitutions": [{"need_material": n, "offer_material": o, "ratio": r}
                          for n, o, r in RULES if n != o],
    }
    return records, km


def _highs(records: dict[str, list[dict[str, Any]]],
           km: dict[tuple[str, str], float]) -> tuple[float, float]:
    """Both lexicographic stages solved from the rows alone: max sum x, then min sum km x."""
    offers, needs = records["offers"], records["needs"]
    ratio = {(n, o): r for n, o, r in RULES}
    arcs = [(i, j, ratio[(nd["material"], of["material"])],
             km[(of["enterprise_id"], nd["enterprise_id"])])
            for i, of in enumerate(offers) for j, nd in enumerate(needs)
            if (nd["material"], of["material"]) in ratio
            and of["enterprise_id"] != nd["enterprise_id"]]
    if not arcs:
        return 0.0, 0.0
    a = np.arange(len(arcs))
    oi = np.array([x[0] for x in arcs])
    nj = np.array([x[1] for x in arcs])
    r = np.array([x[2] for x in arcs])
    d = np.array([x[3] for x in arcs])
    n_o, n_n = len(offers), len(needs)
    rows = np.concatenate([oi, n_o + nj])
    cols = np.concatenate([a, a])
    vals = np.concatenate([np.ones(len(a)), r])
    mat = coo_matrix((vals, (rows, cols)), shape=(n_o + n_n, len(a))).tocsr()
    b = np.array([o["quantity"] for o in offers] + [n["quantity"] for n in needs])
    first = linprog(-np.ones(len(a)), A_ub=mat, b_ub=b, bounds=(0, None), method="highs")
    assert first.status == 0
    z1 = -first.fun
    mat2 = coo_matrix(np.vstack([mat.toarray(), -np.ones((1, len(a)))]))
    second = linprog(d, A_ub=mat2, b_ub=np.append(b, -z1 * (1 - 1e-9)), bounds=(0, None),
                     method="highs")
    assert second.status == 0
    return z1, float(second.fun)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("simplex", [False, True])
def test_engine_agrees_with_highs_on_both_stages_and_files(
        seed: int, simplex: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both stages equal an independent HiGHS LP, and the written files add up to
    summary.json, whichever min-cost flow solves (OR-Tools, or the network simplex that
    takes networks from flow.SIMPLEX_MIN_ARCS arcs)."""
    monkeypatch.setattr(flow_module, "SIMPLEX_MIN_ARCS", 0 if simplex else 10**12)
    records, km = _instance(seed)
    z1, z2 = _highs(records, km)
    # the random offers state no quality: accepted, so the engine solves the same arcs as
    # the reference LP (the unstated-quality default is tested in test_taxonomy)
    result = solve_match(dataset_from_records(records), MatchOptions(accept_unstated_quality=True))
    solver = result.summary.solver
    # instances whose needs take ratios are an LP (no min-cost flow at all)
    flows_by = {"min_cost_flow", "network_simplex"} & set(solver.methods)
    assert flows_by <= {"network_simplex" if simplex else "min_cost_flow"}
    assert solver.delivered == pytest.approx(z1, rel=1e-7, abs=1e-6)
    assert solver.objective == pytest.approx(z2, rel=1e-6, abs=1e-5)
    # the bound is honest: never above the true optimum (beyond LP tolerances)
    assert solver.bound <= z2 * (1 + 1e-7) + 1e-6
    # no flow below the quantity resolution
    assert (result.exchanges["quantity"] >= 1e-6).all()
    write_outputs(result, tmp_path)
    text = (tmp_path / "exchanges.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(text.splitlines()))
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    qty = sum(float(r["quantity"]) for r in rows)
    unit_km = sum(float(r["unit_km"]) for r in rows)
    assert qty == pytest.approx(summary["tonnes_matched"], rel=1e-12, abs=1e-9)
    assert unit_km == pytest.approx(summary["tonne_km"], rel=1e-12, abs=1e-9)
    assert summary["tonnes_matched"] == pytest.approx(z1, rel=1e-7, abs=1e-6)
    # exact text: what the CSV says is the float the engine computed
    assert [float(r["quantity"]) for r in rows] == result.exchanges["quantity"].tolist()


def test_distances_differing_in_the_fourth_decimal_pick_the_nearer() -> None:
    """Two suppliers 10.00014 and 10.00006 km from one need of 1 t: at metre resolution both
    read 10.000 km; the plan takes the nearer one and says it is exact."""
    records = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in "ABC"],
        "offers": [{"id": "oa", "enterprise_id": "A", "material": "fly_ash", "quantity": 1},
                   {"id": "ob", "enterprise_id": "B", "material": "fly_ash", "quantity": 1}],
        "needs": [{"id": "n", "enterprise_id": "C", "material": "fly_ash", "quantity": 1}],
        "distances": [{"from_id": "A", "to_id": "C", "distance_km": 10.00014},
                      {"from_id": "B", "to_id": "C", "distance_km": 10.00006}],
    }
    result = solve_match(dataset_from_records(records))
    assert result.exchanges["offer_id"].tolist() == ["ob"]
    assert result.summary.solver.exact
    assert result.summary.solver.objective == pytest.approx(10.00006, rel=1e-15)
    assert result.summary.solver.gap == 0.0


def test_rounded_costs_report_a_bound_not_gap_zero() -> None:
    """km with 17 significant digits cannot be scaled exactly: the solution says so, and the
    bound brackets the true optimum (here 2 x 1/3 + 1 x 2/3, computed by hand)."""
    km = np.array([1 / 3, 2 / 3])
    sol = solve_transport_mcf(np.array([2.0, 1.0]), np.array([3.0]), np.array([0, 1]),
                              np.array([0, 0]), km)
    assert sol.scales is not None and not sol.scales.distance_exact
    true = 2 / 3 + 2 / 3
    assert sol.objective == pytest.approx(true, rel=1e-15)
    assert sol.bound <= true + 1e-15
    assert true - sol.bound < 1e-9


def test_scales_as_large_as_int64_allows_when_inexact() -> None:
    """Inexact km get the finest power of ten within the guards, not metres."""
    s = choose_scales(np.array([10.0, 5.0]), np.array([12.3456789012345]), num_nodes=4)
    assert not s.distance_exact
    assert s.distance >= 10**12
    assert (12.3456789012345 * s.distance + 1) * 7 * 2 < 2**63
    assert s.quantity == 1 and s.quantity_exact


def _highs_with_stock(sup: np.ndarray, stock: np.ndarray, dem: np.ndarray,
                      arcs: list[tuple[int, int, float]]) -> tuple[float, float, float]:
    """Three stages from the arrays alone: max delivered, min stock drawn, min km."""
    n_a, n_o, n_n = len(arcs), len(sup), len(dem)
    # variables: x_a (arcs), then y_o (stock drawn per offer)
    rows, cols, vals = [], [], []
    for a, (o, n, _) in enumerate(arcs):
        rows += [o, n_o + n]
        cols += [a, a]
        vals += [1.0, 1.0]
    for o in range(n_o):
        rows.append(o)
        cols.append(n_a + o)
        vals.append(-1.0)
    mat = coo_matrix((vals, (rows, cols)), shape=(n_o + n_n, n_a + n_o)).toarray()
    b = np.concatenate([sup, dem])
    bounds = [(0, None)] * n_a + [(0, float(s)) for s in stock]
    ones_x = np.concatenate([np.ones(n_a), np.zeros(n_o)])
    ones_y = np.concatenate([np.zeros(n_a), np.ones(n_o)])
    km = np.concatenate([[k for _, _, k in arcs], np.zeros(n_o)])
    first = linprog(-ones_x, A_ub=mat, b_ub=b, bounds=bounds, method="highs")
    z1 = -first.fun
    a2 = np.vstack([mat, -ones_x])
    b2 = np.append(b, -z1 * (1 - 1e-10))
    second = linprog(ones_y, A_ub=a2, b_ub=b2, bounds=bounds, method="highs")
    z2 = second.fun
    third = linprog(km, A_ub=np.vstack([a2, ones_y]), b_ub=np.append(b2, z2 * (1 + 1e-10)
                                                                      + 1e-9),
                    bounds=bounds, method="highs")
    return z1, z2, float(third.fun)


@pytest.mark.parametrize("method", ["auto", "lp"])
@pytest.mark.parametrize("seed", range(6))
def test_stockpiles_agree_with_highs(seed: int, method: str) -> None:
    """Random fly-ash instances with stockpiles on some offers: delivered, stock drawn and
    km at the engine's optimum equal HiGHS' three lexicographic stages."""
    rng = np.random.default_rng(100 + seed)
    n_o, n_n = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    sup = rng.uniform(1, 500, n_o)
    stock = np.where(rng.random(n_o) < 0.6, rng.uniform(1, 400, n_o), 0.0)
    dem = rng.uniform(1, 900, n_n)
    ids_o = [f"S{i}" for i in range(n_o)]
    ids_n = [f"R{j}" for j in range(n_n)]
    km = {(a, b): float(rng.uniform(1, 100)) for a in ids_o for b in ids_n}
    records = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in ids_o + ids_n],
        "offers": [{"id": f"o{i}", "enterprise_id": ids_o[i], "material": "fly_ash",
                    "quantity": float(sup[i]), "stock": float(stock[i]) if stock[i] else ""}
                   for i in range(n_o)],
        "needs": [{"id": f"n{j}", "enterprise_id": ids_n[j], "material": "fly_ash",
                   "quantity": float(dem[j])} for j in range(n_n)],
        "distances": [{"from_id": a, "to_id": b, "distance_km": d} for (a, b), d in km.items()],
    }
    arcs = [(i, j, km[(ids_o[i], ids_n[j])]) for i in range(n_o) for j in range(n_n)]
    z1, z2, z3 = _highs_with_stock(sup, stock, dem, arcs)
    result = solve_match(dataset_from_records(records), MatchOptions(method=method))
    bulk = result.summary.bulk_solid_waste
    assert bulk is not None
    # the LP fixes each stage to within 1e-9 of its optimum (LP_STAGE_TOLERANCE)
    assert result.summary.tonnes_matched == pytest.approx(z1, rel=1e-8)
    assert bulk.stock_used == pytest.approx(z2, rel=1e-7, abs=1e-6)
    assert result.summary.tonne_km == pytest.approx(z3, rel=1e-7)


def test_cli_never_says_gap_0_for_rounded_data(tmp_path: Path, run_cli: Any) -> None:
    """km with 12 decimals cannot be scaled exactly: the CLI says the plan is optimal for
    the rounded data and prints the bound's gap; exact km print gap 0."""
    def folder(km: float, name: str) -> Path:
        out = tmp_path / name
        out.mkdir()
        tables = {
            "enterprises": "id,name,lon,lat\nA,A,112.9,27.8\nB,B,112.9,27.8\n",
            "offers": "id,enterprise_id,material,quantity\no,A,fly_ash,7\n",
            "needs": "id,enterprise_id,material,quantity\nn,B,fly_ash,7\n",
            "distances": f"from_id,to_id,distance_km\nA,B,{km!r}\n",
        }
        for table, text in tables.items():
            (out / f"{table}.csv").write_text(text, encoding="utf-8")
        return out

    rounded = run_cli("match", folder(10.123456789012, "r"), "--out", tmp_path / "o1")
    assert rounded.returncode == 0, rounded.stderr
    text = " ".join(rounded.stdout.split())
    assert "for data rounded to the integer scale" in text and "gap <=" in text
    exact = run_cli("match", folder(10.125, "e"), "--out", tmp_path / "o2")
    text = " ".join(exact.stdout.split())
    assert "gap 0" in text and "rounded" not in text
