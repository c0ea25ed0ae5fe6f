"""The lean report (matching.lean) and the national-scale sparse pieces: laziness changes no
reported number, the skipped parts are stated, per-arc money on a subset equals the full
arrays at those arcs, the histogram-cut sparse start equals the sorted one, and `auto`
solves sparse (certified) above its size threshold with the dense optimum."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from symbiosis import Dataset, dataset_from_records, load_dataset
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching import model as model_module
from symbiosis.matching.candidates import build_candidates
from symbiosis.matching.economics import arc_values
from symbiosis.matching.lean import EXPLAIN_MAX_ARCS, explains, for_park, lean_warnings
from symbiosis.matching.result import MatchResult
from symbiosis.matching.sparse import sparse_start

SKIPPED_OFFER_COLUMNS = ["reason", "explanation", "marginal_value"]
# what a lean run may differ in: the notes, its own timings and the solver's seconds
VOLATILE = {"warnings", "timings_s", "solver"}

OFFERS = ("fly_ash", "bf_slag", "fgd_gypsum", "steel_slag")
NEEDS = ("cement_admixture", "wallboard_gypsum", "set_retarder", "road_base", "fly_ash",
         "bf_slag")


def random_dataset(seed: int, n: int = 60) -> Dataset:
    """`n` enterprises scattered over about 100 km, offering and needing several bulk
    materials with disposal, treatment and virgin costs (so money, carbon and processing
    power are all reported), some needs large enough to leave offers unmatched."""
    rng = np.random.default_rng(seed)
    pos = np.array([112.0, 27.0]) + rng.random((n, 2)) * 1.0
    enterprises = [{"id": f"E{i}", "name": f"E{i}", "lon": float(pos[i, 0]),
                    "lat": float(pos[i, 1])} for i in range(n)]
    offers = [{"id": f"O{i}", "enterprise_id": f"E{int(rng.integers(n))}",
               "material": str(rng.choice(OFFERS)),
               "quantity": int(rng.integers(1_000, 50_000)),
               "disposal_cost": float(rng.integers(0, 40)),
               "treatment_cost": float(rng.integers(0, 10))} for i in range(n)]
    needs = [{"id": f"N{j}", "enterprise_id": f"E{int(rng.integers(n))}",
              "material": str(rng.choice(NEEDS)),
              "quantity": int(rng.integers(500, 30_000)),
              "virgin_cost": float(rng.integers(10, 80))} for j in range(n)]
    return dataset_from_records({"enterprises": enterprises, "offers": offers,
                                 "needs": needs})


# with objective cost the exchange prices are the core's midpoint, a dual value: a lean run
# (no duals) prices at the even split, and says so (economics.prices.method)
CORE_PRICED = ["price_cny_per_unit", "price_low_cny_per_unit", "price_high_cny_per_unit",
               "supplier_gain_cny", "receiver_gain_cny"]


def assert_same_figures(lean: MatchResult, full: MatchResult, core_priced: bool = False
                        ) -> None:
    """Every figure the lean result reports equals the full result's (with `core_priced`,
    all but the dual-derived prices and gains)."""
    drop = ["alternatives"] + (CORE_PRICED if core_priced else [])
    pd.testing.assert_frame_equal(lean.exchanges.drop(columns=drop),
                                  full.exchanges.drop(columns=drop))
    pd.testing.assert_frame_equal(
        lean.offers.drop(columns=SKIPPED_OFFER_COLUMNS, errors="ignore"),
        full.offers.drop(columns=SKIPPED_OFFER_COLUMNS, errors="ignore"),
        check_dtype=False)
    duals = ["marginal_value", "marginal_unit"]
    pd.testing.assert_frame_equal(lean.needs.drop(columns=duals, errors="ignore"),
                                  full.needs.drop(columns=duals, errors="ignore"),
                                  check_dtype=False)
    gains = [c for c in full.enterprises if c.endswith("gain_cny")] if core_priced else []
    pd.testing.assert_frame_equal(lean.enterprises.drop(columns=gains),
                                  full.enterprises.drop(columns=gains))
    assert lean.candidates == full.candidates
    a, b = lean.summary.model_dump(), full.summary.model_dump()
    if core_priced:
        assert a["economics"]["prices"]["method"] == "even_split"
        assert b["economics"]["prices"]["method"] == "core_midpoint"
        for body in (a, b):
            del body["economics"]["prices"]
    assert {k: v for k, v in a.items() if k not in VOLATILE} == \
        {k: v for k, v in b.items() if k not in VOLATILE}
    assert a["solver"]["objective"] == b["solver"]["objective"]
    assert a["solver"]["delivered"] == b["solver"]["delivered"]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("objective", ["utilization", "cost", "co2"])
def test_lean_report_changes_no_number(seed: int, objective: str) -> None:
    """explain=False on random instances: the same exchanges, money, carbon, status, KPIs."""
    ds = random_dataset(seed)
    full = solve_match(ds, MatchOptions(objective=objective, max_km=60))
    lean = solve_match(ds, MatchOptions(objective=objective, max_km=60, explain=False))
    assert len(full.exchanges) > 0
    assert_same_figures(lean, full, core_priced=objective == "cost")
    assert full.summary.warnings == [] or all("not computed" not in w
                                              for w in full.summary.warnings)
    assert any("explanations" in w and "not computed" in w for w in lean.summary.warnings)


def test_lean_report_on_the_demo_states_what_is_skipped(demo_path: Path) -> None:
    """The skipped columns carry the note; the unmatched offers say how to get reasons."""
    ds = load_dataset(demo_path)
    full = solve_match(ds, MatchOptions())
    lean = solve_match(ds, MatchOptions(explain=False))
    assert_same_figures(lean, full)
    note = "not computed (lean report): run `symbiosis match` with --explain"
    assert set(lean.exchanges["alternatives"]) == {note}
    unmatched = lean.offers["unmatched"] > 0
    assert unmatched.any()
    assert set(lean.offers.loc[unmatched, "explanation"]) == {note}
    assert set(lean.offers.loc[~unmatched, "explanation"]) == {""}
    assert "marginal_value" in full.offers and "marginal_value" not in lean.offers
    assert "prices" not in lean.summary.timings_s
    assert len(lean.summary.warnings) == 2  # explanations, and dual values


def test_explain_defaults_by_size() -> None:
    """Auto: full up to EXPLAIN_MAX_ARCS candidate arcs, lean above; explicit wins."""
    assert explains(MatchOptions(), EXPLAIN_MAX_ARCS)
    assert not explains(MatchOptions(), EXPLAIN_MAX_ARCS + 1)
    assert explains(MatchOptions(explain=True), 10 * EXPLAIN_MAX_ARCS)
    assert not explains(MatchOptions(explain=False), 1)
    assert lean_warnings(MatchOptions(), EXPLAIN_MAX_ARCS) == []
    big = lean_warnings(MatchOptions(), 31_275_774)
    assert len(big) == 2 and "31,275,774 candidate arcs" in big[0]
    assert len(lean_warnings(MatchOptions(valuate=False), 31_275_774)) == 1


def test_a_park_scoped_run_explains_at_any_size() -> None:
    """`--park`: explained whatever the size unless the run says no; the other options
    are kept."""
    assert explains(for_park(MatchOptions()), 10 * EXPLAIN_MAX_ARCS)
    assert not explains(for_park(MatchOptions(explain=False)), 1)
    assert for_park(MatchOptions(max_km=40.0)).max_km == 40.0


@pytest.mark.parametrize("seed", range(4))
def test_arc_values_on_a_subset_equal_the_full_arrays(seed: int) -> None:
    """arc_values(arcs=...) = arc_values()[arcs] array by array, with the same info."""
    ds = random_dataset(seed)
    cand = build_candidates(ds, 80.0, accept_unstated_quality=True)
    assert len(cand) > 10
    arcs = np.random.default_rng(seed).choice(len(cand), len(cand) // 3, replace=False)
    full, sub = arc_values(ds, cand), arc_values(ds, cand, arcs=arcs)
    assert sub.info == full.info
    assert full.info["processing"]  # the processing rows are exercised
    for name in ("avoided_disposal", "avoided_virgin", "transport", "treatment",
                 "co2_avoided_kg", "co2_transport_kg", "pipe_fixed", "pipe_unit",
                 "co2_processing_kg", "saving", "co2_net_kg"):
        np.testing.assert_array_equal(getattr(sub, name), getattr(full, name)[arcs],
                                      err_msg=name)


@pytest.mark.parametrize("seed", range(8))
def test_sparse_start_histogram_cut_equals_the_full_sort(seed: int) -> None:
    """With and without the histogram pass: the same k cheapest per tail and per head,
    ties (costs rounded to 1 km) going to the earlier position."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 20_000))
    tails = rng.integers(0, max(1, n // int(rng.integers(1, 60))), n)
    heads = rng.integers(0, max(1, n // int(rng.integers(1, 60))), n).astype(np.int32)
    costs = np.round(rng.uniform(0, 150, n) ** (1 + seed % 3), 0)
    for k in (0, 1, 3, 20):
        sorted_all = sparse_start(tails, heads, costs, k, prefilter_min=n + 1)
        cut = sparse_start(tails, heads, costs, k, prefilter_min=0)
        np.testing.assert_array_equal(cut, sorted_all)


@pytest.mark.parametrize("seed", range(3))
def test_auto_solves_sparse_above_its_threshold(seed: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With the threshold at 1 arc, `auto` takes the certified sparse route (a certificate
    in the solver facts) and finds the dense optimum: delivered and t-km."""
    ds = random_dataset(seed, 80)
    common: dict[str, Any] = {"max_km": 100, "accept_unstated_quality": True,
                              "valuate": False}
    dense = solve_match(ds, MatchOptions(method="dense", **common)).summary
    monkeypatch.setattr(model_module, "SPARSE_AUTO_MIN_ARCS", 1)
    auto = solve_match(ds, MatchOptions(**common)).summary
    assert dense.solver.certificate is None
    cert = auto.solver.certificate
    assert cert is not None and cert.violations == 0 and cert.rounds >= 1
    assert auto.tonnes_matched == dense.tonnes_matched
    assert abs(auto.tonne_km - dense.tonne_km) < 1e-3 * dense.tonnes_matched


def test_cli_explain_flag(run_cli: Any, demo_path: Path, tmp_path: Path) -> None:
    """`symbiosis match --explain` is accepted (explanations forced on) and the demo,
    small, is explained with or without it."""
    for extra in ((), ("--explain",)):
        out = tmp_path / ("out" + "".join(extra))
        proc = run_cli("match", demo_path, "--out", out, *extra)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert not any("not computed" in w for w in summary["warnings"])
        offers = pd.read_csv(out / "offers.csv")
        assert offers["explanation"].fillna("").str.len().gt(0).any()


def test_cli_no_explain_turns_them_off(run_cli: Any, demo_path: Path,
                                       tmp_path: Path) -> None:
    """`--no-explain` makes even a small run lean (the flag could only switch them on), and
    summary.json says what was left out and why."""
    proc = run_cli("match", demo_path, "--out", tmp_path / "out", "--no-explain")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert sum("explain=false" in w for w in summary["warnings"]) == 2
    offers = pd.read_csv(tmp_path / "out" / "offers.csv")
    said = set(offers["explanation"].dropna())
    assert len(said) == 1 and "--explain" in said.pop()  # the lean marker, no reasons
    # the console's unmatched table says why its reason column is empty
    assert (offers["unmatched"] > 0).any()
    assert "not computed (--explain)" in proc.stdout


@pytest.mark.parametrize("seed", range(10))
def test_sparse_bound_is_the_dense_bound(seed: int) -> None:
    """km with more decimals than the solver's scale: the sparse solve reports the same
    honest bound as the dense one (rounded optimum minus the rounding error per unit)."""
    from test_sparse import random_transport

    from symbiosis.matching.flow import solve_transport_mcf
    from symbiosis.matching.sparse import solve_transport_sparse

    rng = np.random.default_rng(seed)
    supply, demand, offer, need = random_transport(rng, 2, 30)
    km = rng.uniform(0, 150, len(offer)) + 1e-7  # never exact at any scale the solver takes
    dense = solve_transport_mcf(supply, demand, offer, need, km)
    sparse, _ = solve_transport_sparse(supply, demand, offer, need, km, k=2)
    assert dense.bound < dense.objective  # rounding makes the bound strict
    assert sparse.bound <= sparse.objective
    assert sparse.bound == pytest.approx(dense.bound, rel=1e-9)


@pytest.mark.parametrize("decimals", [0, 1, 2, 3, None])
@pytest.mark.parametrize("cost_limit", [1e6, 2.0**53 / 30])
def test_sparse_scales_chosen_by_slices_equal_one_choice(decimals: int | None,
                                                         cost_limit: float) -> None:
    """The sparse solve's scale over all arcs, chosen 7 arcs at a time, is the scale
    `choose_scales` picks for all arcs at once (exact or not)."""
    from symbiosis.matching.flow import choose_scales
    from symbiosis.matching.sparse import _full_scales

    rng = np.random.default_rng(0 if decimals is None else decimals)
    q = rng.integers(1, 100, 50).astype(float)
    km = rng.uniform(0, 150, 40)
    km = km if decimals is None else np.round(km, decimals)
    km[5] = np.round(km[5])  # one slice may be exact at a coarser scale than the rest
    assert _full_scales(q, km, 50, cost_limit, chunk=7) == \
        choose_scales(q, km, 50, cost_limit=cost_limit)
