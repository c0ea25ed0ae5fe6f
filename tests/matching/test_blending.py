"""Blending: offers meet a need's limits on their mass-weighted average (matching.blending).

Hand-computed blends on tiny instances, the unstated-quality rule, blends.csv, bad input
with file:row:column, and the graded LP cross-checked against an independent LP (scipy's
HiGHS) on random small instances."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from grades_support import grid, row
from scipy.optimize import linprog

from symbiosis.dataset import load_dataset
from symbiosis.errors import InvalidDataError
from symbiosis.matching.model import MatchOptions, solve_match
from symbiosis.matching.result import write_outputs

ASH = {"q.fineness_45um_pct": 20.0}


def two_ashes(b_qty: float = 60.0, **need_cols: object) -> list[list[dict[str, object]]]:
    """a: LOI 10 % (over 7), SO3 1; b: LOI 4, SO3 3 % (over 2.5): neither alone meets the
    need's max.loi_pct 7 and max.so3_pct 2.5."""
    offers = [row("a", "A", "fly_ash", 100, **{"q.loi_pct": 10.0, "q.so3_pct": 1.0}, **ASH),
              row("b", "B", "fly_ash", b_qty, **{"q.loi_pct": 4.0, "q.so3_pct": 3.0}, **ASH)]
    needs = [row("n", "C", "fly_ash", 200, **{"max.loi_pct": 7, "max.so3_pct": 2.5},
                 **need_cols)]
    return [offers, needs]


LINKS = {("A", "C"): 2.0, ("B", "C"): 3.0}


def test_a_blend_meets_limits_neither_offer_meets_alone() -> None:
    """LOI: 3a - 3b <= 0, so a <= b; SO3: -1.5a + 0.5b <= 0, so b <= 3a. With b = 60:
    a = 60, b = 60, 120 t delivered, LOI average 7.0 (at the limit), SO3 2.0; t-km =
    60 x 2 + 60 x 3 = 300."""
    offers, needs = two_ashes(blend="yes")
    result = solve_match(grid("ABC", LINKS, offers, needs))
    q = dict(zip(result.exchanges["offer_id"], result.exchanges["quantity"], strict=True))
    assert q == pytest.approx({"a": 60.0, "b": 60.0})
    assert result.summary.tonnes_matched == pytest.approx(120.0)
    assert result.summary.tonne_km == pytest.approx(300.0)
    assert result.solver.methods == ("lp_blend",)
    blends = result.blends.set_index("attribute")
    assert blends.loc["loi_pct", "average"] == pytest.approx(7.0)
    assert blends.loc["so3_pct", "average"] == pytest.approx(2.0)
    assert blends.loc["loi_pct", "limit"] == 7.0
    assert blends.loc["so3_pct", "quantity"] == pytest.approx(120.0)
    assert set(blends["offers"]) == {"a=60;b=60"}


def test_without_blending_neither_offer_serves_the_need() -> None:
    offers, needs = two_ashes()
    result = solve_match(grid("ABC", LINKS, offers, needs))
    assert result.summary.tonnes_matched == 0.0
    assert result.blends.empty


def test_the_blend_option_blends_every_limited_need() -> None:
    """--blend does for every need what the need's blend=yes does for one; with b = 300 the
    SO3 row no longer binds: a = 100 (all of it), b = 100 (LOI: a <= b), 200 t."""
    offers, needs = two_ashes(b_qty=300.0)
    result = solve_match(grid("ABC", LINKS, offers, needs), MatchOptions(blend=True))
    q = dict(zip(result.exchanges["offer_id"], result.exchanges["quantity"], strict=True))
    assert q == pytest.approx({"a": 100.0, "b": 100.0})


def test_an_offer_that_does_not_state_a_limited_attribute_is_not_blended_in() -> None:
    """c states LOI 2 but no SO3: it cannot enter the blend, even accepting unstated
    quality; the plan stays a = b = 60."""
    offers, needs = two_ashes(blend="yes")
    offers.append(row("c", "A", "fly_ash", 500, **{"q.loi_pct": 2.0}, **ASH))
    for accept in (False, True):
        result = solve_match(grid("ABC", LINKS, offers, needs),
                             MatchOptions(accept_unstated_quality=accept))
        q = dict(zip(result.exchanges["offer_id"], result.exchanges["quantity"],
                     strict=True))
        assert q == pytest.approx({"a": 60.0, "b": 60.0})


def test_rule_limits_of_a_standard_are_blended_per_material() -> None:
    """cement_admixture <- fly_ash carries GB/T 1596's LOI <= 8 %: ash at 10 % and 6 %
    blend 1:1 at most (2a - 2b <= 0): 100 + 100 t, average exactly 8 %."""
    offers = [row("a", "A", "fly_ash", 100, **{"q.loi_pct": 10.0, "q.so3_pct": 2.0}, **ASH),
              row("b", "B", "fly_ash", 100, **{"q.loi_pct": 6.0, "q.so3_pct": 2.0}, **ASH)]
    needs = [row("n", "C", "cement_admixture", 1000, blend="yes")]
    result = solve_match(grid("ABC", LINKS, offers, needs))
    assert result.summary.tonnes_matched == pytest.approx(200.0)
    loi = result.blends.set_index("attribute").loc["loi_pct"]
    assert loi["average"] == pytest.approx(8.0)
    assert loi["scope"] == "fly_ash->cement_admixture"
    assert "GB/T 1596" in loi["source"]


def test_blends_csv_is_written(tmp_path: Path) -> None:
    offers, needs = two_ashes(blend="yes")
    result = solve_match(grid("ABC", LINKS, offers, needs))
    write_outputs(result, tmp_path)
    with (tmp_path / "blends.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert {r["attribute"]: float(r["average"]) for r in rows} == pytest.approx(
        {"loi_pct": 7.0, "so3_pct": 2.0})


def test_a_bad_blend_value_names_file_row_and_column(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "enterprises.csv").write_text(
        "id,name,lon,lat\nA,A,112.9,28.0\nC,C,112.9,28.01\n", encoding="utf-8")
    (folder / "offers.csv").write_text(
        "id,enterprise_id,material,quantity,q.loi_pct,medium\n"
        "a,A,fly_ash,100,5,\nh,A,waste_heat,10,,lava\n", encoding="utf-8")
    (folder / "needs.csv").write_text(
        "id,enterprise_id,material,quantity,max.loi_pct,blend\n"
        "n,C,fly_ash,100,7,yes\nm,C,fly_ash,100,7,perhaps\n", encoding="utf-8")
    with pytest.raises(InvalidDataError) as err:
        load_dataset(folder)
    found = {(Path(p.file).name, p.row, p.column) for p in err.value.problems
             if p.severity == "error"}
    assert found == {("needs.csv", 3, "blend"), ("offers.csv", 3, "medium")}


# --------------------------------------------------------------------------------------
# cross-check against an independent LP


def _reference(q: np.ndarray, d: np.ndarray, km: np.ndarray, v: np.ndarray,
               limits: np.ndarray) -> tuple[float, float]:
    """max delivered, then min unit-km, over x[i, j] (offer i -> need j, every pair), with
    sum_i (v[i, k] - limits[j, k]) x[i, j] <= 0 for every need j and attribute k; scipy's
    HiGHS, built from dense matrices."""
    n_o, n_n = km.shape
    n_k = v.shape[1]
    n_x = n_o * n_n
    a_rows, b = [], []
    for i in range(n_o):
        r = np.zeros(n_x)
        r[i * n_n:(i + 1) * n_n] = 1
        a_rows.append(r)
        b.append(q[i])
    for j in range(n_n):
        r = np.zeros(n_x)
        r[j::n_n] = 1
        a_rows.append(r)
        b.append(d[j])
        for k in range(n_k):
            r = np.zeros(n_x)
            r[j::n_n] = v[:, k] - limits[j, k]
            a_rows.append(r)
            b.append(0.0)
    a, bb = np.array(a_rows), np.array(b)
    first = linprog(-np.ones(n_x), A_ub=a, b_ub=bb, method="highs")
    assert first.status == 0
    z1 = -first.fun
    second = linprog(km.ravel(), A_ub=np.vstack([a, -np.ones(n_x)]),
                     b_ub=np.append(bb, -z1 * (1 - 1e-9)), method="highs")
    assert second.status == 0
    return z1, float(second.fun)


@pytest.mark.parametrize("seed", range(20))
def test_graded_lp_agrees_with_an_independent_lp(seed: int) -> None:
    """Random offers and needs (every pair linked, 1-9 km), two blended attributes: the
    engine's delivered tonnes equal scipy's maximum to 1e-9 (the t-km stage runs on the
    delivery stage's optimal face: nothing of the maximum is given up) and its t-km equal
    scipy's second stage, and every blend meets its limits."""
    rng = np.random.default_rng(seed)
    n_o, n_n = int(rng.integers(2, 6)), int(rng.integers(1, 4))
    names = "ABCDEFGHIJ"[:n_o + n_n]
    q = rng.integers(10, 200, n_o).astype(float)
    d = rng.integers(20, 300, n_n).astype(float)
    v = np.round(rng.uniform(1.0, 12.0, (n_o, 2)), 2)
    limits = np.round(rng.uniform(4.0, 8.0, (n_n, 2)), 2)
    km = np.round(rng.uniform(1.0, 9.0, (n_o, n_n)), 3)
    offers = [row(f"o{i}", names[i], "fly_ash", q[i],
                  **{"q.loi_pct": v[i, 0], "q.so3_pct": v[i, 1]}, **ASH) for i in range(n_o)]
    needs = [row(f"n{j}", names[n_o + j], "fly_ash", d[j], blend="yes",
                 **{"max.loi_pct": limits[j, 0], "max.so3_pct": limits[j, 1]})
             for j in range(n_n)]
    links = {(names[i], names[n_o + j]): km[i, j] for i in range(n_o) for j in range(n_n)}
    result = solve_match(grid(names, links, offers, needs))
    delivered, unit_km = _reference(q, d, km, v, limits)
    assert result.summary.tonnes_matched == pytest.approx(delivered, rel=1e-12, abs=1e-9)
    assert result.summary.tonne_km == pytest.approx(unit_km, rel=1e-6, abs=1e-5)
    assert result.solver.methods == ("lp_blend",) and not result.solver.note
    live = result.blends[result.blends["quantity"] > 0]
    assert (live["average"] <= live["limit"] + 1e-6).all()


def test_the_cli_blends_with_the_flag_and_prints_the_blend(tmp_path: Path,
                                                           run_cli: Any) -> None:
    """`symbiosis match DATA --blend` blends (no blend column in the data), writes
    blends.csv and prints the blends table; without the flag nothing is matched."""
    folder = tmp_path / "ash"
    folder.mkdir()
    (folder / "enterprises.csv").write_text(
        "id,name,lon,lat\nA,A,112.9,20\nB,B,112.9,21\nC,C,112.9,22\n", encoding="utf-8")
    (folder / "distances.csv").write_text(
        "from_id,to_id,distance_km\nA,C,2\nB,C,3\n", encoding="utf-8")
    (folder / "offers.csv").write_text(
        "id,enterprise_id,material,quantity,q.loi_pct,q.so3_pct,q.fineness_45um_pct\n"
        "a,A,fly_ash,100,10,1,20\nb,B,fly_ash,60,4,3,20\n", encoding="utf-8")
    (folder / "needs.csv").write_text(
        "id,enterprise_id,material,quantity,max.loi_pct,max.so3_pct\n"
        "n,C,fly_ash,200,7,2.5\n", encoding="utf-8")
    proc = run_cli("match", folder, "--out", tmp_path / "out", "--blend")
    assert proc.returncode == 0, proc.stderr
    assert "Blends" in proc.stdout
    with (tmp_path / "out" / "blends.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert {r["attribute"]: float(r["average"]) for r in rows} == pytest.approx(
        {"loi_pct": 7.0, "so3_pct": 2.0})
    plain = run_cli("match", folder, "--out", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    with (tmp_path / "plain" / "exchanges.csv").open(encoding="utf-8-sig") as f:
        assert list(csv.DictReader(f)) == []


def test_graded_lp_row_fallback_gives_the_same_blend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where HiGHS gives no dual solution (forced here), each stage is held by a row to
    1e-9 instead of its optimal face: the hand blend of
    `test_a_blend_meets_limits_neither_offer_meets_alone` comes out the same, and the
    solver note says how the stages were held."""
    from symbiosis.matching import flow

    offers, needs = two_ashes(blend="yes")
    monkeypatch.setattr(flow._HighsLP, "keep_optimal_face", lambda self, scale: False)
    result = solve_match(grid("ABC", LINKS, offers, needs))
    q = dict(zip(result.exchanges["offer_id"], result.exchanges["quantity"], strict=True))
    assert q == pytest.approx({"a": 60.0, "b": 60.0}, rel=1e-8)
    assert result.summary.tonne_km == pytest.approx(300.0, rel=1e-8)
    assert "held to within 1e-09" in result.solver.note
