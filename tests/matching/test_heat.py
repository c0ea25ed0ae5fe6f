"""Heat by temperature (matching.heat): temperature drop and heat loss per km of pipe,
limits checked where the heat arrives, and a three-user heat cascade, all by hand.

Coefficients (symbiosis/data/heat_pipes.csv): steam 10 °C and 2 % per km, hot water 1 °C
and 1 % per km."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from grades_support import grid, row
from scipy.optimize import linprog

from symbiosis.dataset import load_dataset
from symbiosis.errors import InvalidDataError, OptionsError
from symbiosis.grades import heat_pipes
from symbiosis.matching.blending import prepare_grades
from symbiosis.matching.candidates import candidates_for
from symbiosis.matching.heat import delivered_temperature, heat_applies
from symbiosis.matching.model import MatchOptions, solve_match


def test_the_coefficients_are_the_documented_ones() -> None:
    pipes = heat_pipes()
    assert (pipes["steam"].temperature_drop_c_per_km, pipes["steam"].heat_loss_frac_per_km) \
        == (10.0, 0.02)
    assert (pipes["hot_water"].temperature_drop_c_per_km,
            pipes["hot_water"].heat_loss_frac_per_km) == (1.0, 0.01)
    assert all("unverified" in p.verification for p in pipes.values())


def test_delivered_temperature_by_hand() -> None:
    """200 °C steam over 5 km: 200 - 10 x 5 = 150 °C; 90 °C hot water over 10 km: 80 °C."""
    out = delivered_temperature(np.array([200.0, 90.0]),
                                np.array(["steam", "hot_water"], dtype=object),
                                np.array([5.0, 10.0]))
    assert out == pytest.approx([150.0, 80.0])


@pytest.mark.parametrize(("floor", "served"), [(150.0, True), (150.5, False)])
def test_the_temperature_limit_is_checked_at_delivery(floor: float, served: bool) -> None:
    """Steam at 200 °C, 5 km away: arrives at 150 °C. A need asking 150 °C is served, one
    asking 150.5 °C is not (at the source it would pass). 100 GJ sent arrive as
    100 x (1 - 0.02 x 5) = 90 GJ."""
    offers = [row("s", "S", "waste_heat", 100, medium="steam", **{"q.temperature_c": 200})]
    needs = [row("n", "U", "process_heat", 1000, **{"min.temperature_c": floor})]
    result = solve_match(grid("SU", {("S", "U"): 5.0}, offers, needs))
    if not served:
        assert result.exchanges.empty
        return
    ex = result.exchanges.iloc[0]
    assert ex["quantity"] == pytest.approx(100.0)
    assert ex["need_quantity"] == pytest.approx(90.0)
    assert ex["ratio"] == pytest.approx(0.9)
    assert ex["delivered_temperature_c"] == pytest.approx(150.0)
    assert ex["medium"] == "steam"


def test_heat_is_judged_at_delivery_by_default_and_at_the_source_on_request() -> None:
    """A waste-heat offer with a temperature (no medium, no return, no flag) is judged at
    delivery: 200 °C steam over 5 km arrives at 150 °C, below the need's 160 °C. With
    --heat-at-source (the old rule) the source's 200 °C passes and the rule's flat ratio
    0.9 applies: 100 GJ sent, 90 GJ received."""
    offers = [row("s", "S", "waste_heat", 100, **{"q.temperature_c": 200})]
    needs = [row("n", "U", "process_heat", 1000, **{"min.temperature_c": 160})]
    data = grid("SU", {("S", "U"): 5.0}, offers, needs)
    assert solve_match(data).exchanges.empty
    assert solve_match(data, MatchOptions(heat_at_delivery=True)).exchanges.empty
    old = solve_match(data, MatchOptions(heat_at_source=True)).exchanges
    assert list(old["quantity"]) == pytest.approx([100.0])
    assert list(old["need_quantity"]) == pytest.approx([90.0])
    assert "delivered_temperature_c" not in old


def test_heat_at_delivery_and_at_the_source_exclude_each_other() -> None:
    with pytest.raises(OptionsError) as err:
        MatchOptions(heat_at_delivery=True, heat_at_source=True)
    assert err.value.problems[0][0] == "heat_at_source"


def test_a_dataset_without_waste_heat_stays_on_min_cost_flow() -> None:
    """The default's heat rule never sends a dataset without waste heat to the graded
    path: prepare_grades returns the arcs untouched and no grades."""
    offers = [row("a", "A", "fly_ash", 100, **{"q.loi_pct": 5.0, "q.fineness_45um_pct": 20})]
    needs = [row("n", "B", "fly_ash", 80)]
    data = grid("AB", {("A", "B"): 4.0}, offers, needs)
    assert not heat_applies(data, False)
    options = MatchOptions()
    cand = candidates_for(data, options)
    same, arcs, grades = prepare_grades(data, cand, options)
    assert grades is None and arcs is cand and same is data
    assert solve_match(data).solver.methods == ("min_cost_flow",)


def test_a_waste_heat_offer_without_a_temperature_does_not_switch_the_rule_on() -> None:
    offers = [row("s", "S", "waste_heat", 100)]
    needs = [row("n", "U", "process_heat", 1000)]
    data = grid("SU", {("S", "U"): 5.0}, offers, needs)
    assert not heat_applies(data, False)
    assert heat_applies(data, True)
    assert not heat_applies(data, True, at_source=True)


def test_a_three_user_heat_cascade_by_hand() -> None:
    """S: 1000 GJ of steam at 200 °C. A (1 km from S) needs 490 GJ at >= 180 °C and returns
    half of it as hot water at 130 °C; B (2 km from A) needs 200 GJ at >= 120 °C and returns
    40 % at 80 °C; C (2 km from B) needs 100 GJ at >= 70 °C. Everything else is 111 km
    apart, beyond the 10 km reach of heat.

    S -> A: 190 °C arrives, ratio 0.98: 500 GJ sent, 490 received.
    A's return: 0.5 x 490 = 245 GJ at 130 °C; to B: 128 °C, ratio 0.98; B takes 200 GJ:
        200 / 0.98 = 204.0816... GJ sent.
    B's return: 0.4 x 200 = 80 GJ at 80 °C; to C: 78 °C, ratio 0.98: 80 sent, 78.4 received.
    """
    offers = [row("s", "S", "waste_heat", 1000, medium="steam", **{"q.temperature_c": 200})]
    needs = [row("a", "A", "process_heat", 490, return_temperature_c=130, return_share=0.5,
                 **{"min.temperature_c": 180}),
             row("b", "B", "process_heat", 200, return_temperature_c=80, return_share=0.4,
                 **{"min.temperature_c": 120}),
             row("c", "C", "process_heat", 100, **{"min.temperature_c": 70})]
    links = {("S", "A"): 1.0, ("A", "B"): 2.0, ("B", "C"): 2.0}
    result = solve_match(grid("SABC", links, offers, needs))
    ex = result.exchanges.set_index("offer_id")
    assert sorted(ex.index) == ["return:a", "return:b", "s"]
    assert ex.loc["s", "quantity"] == pytest.approx(500.0)
    assert ex.loc["s", "need_quantity"] == pytest.approx(490.0)
    assert ex.loc["return:a", "quantity"] == pytest.approx(200 / 0.98)
    assert ex.loc["return:a", "need_quantity"] == pytest.approx(200.0)
    assert ex.loc["return:b", "quantity"] == pytest.approx(80.0)
    assert ex.loc["return:b", "need_quantity"] == pytest.approx(78.4)
    assert list(ex["delivered_temperature_c"].loc[["s", "return:a", "return:b"]]) == \
        pytest.approx([190.0, 128.0, 78.0])
    assert ex.loc["return:b", "cascade_of"] == "b"
    assert ex.loc["return:a", "medium"] == "hot_water"
    # lexicographic: listed heat first (500 GJ), then the cascade, then GJ-km
    assert result.solver.methods == ("lp_blend",)
    assert result.solver.objective == pytest.approx(500 * 1 + 200 / 0.98 * 2 + 80 * 2)


def test_without_returns_the_cascade_users_get_nothing() -> None:
    offers = [row("s", "S", "waste_heat", 1000, medium="steam", **{"q.temperature_c": 200})]
    needs = [row("a", "A", "process_heat", 490, **{"min.temperature_c": 180}),
             row("b", "B", "process_heat", 200, **{"min.temperature_c": 120})]
    result = solve_match(grid("SAB", {("S", "A"): 1.0, ("A", "B"): 2.0}, offers, needs))
    assert list(result.exchanges["need_id"]) == ["a"]


@pytest.mark.parametrize(("cells", "column", "message"), [
    ("130,1.5,180", "return_share", "between 0 and 1"),
    ("130,,180", "return_share", "state the return_share"),
    ("190,0.5,180", "return_temperature_c", "not below"),
])
def test_bad_cascade_input_names_file_row_and_column(tmp_path: Path, cells: str,
                                                     column: str, message: str) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "enterprises.csv").write_text(
        "id,name,lon,lat\nS,S,112.9,28.0\nA,A,112.9,28.01\n", encoding="utf-8")
    (folder / "offers.csv").write_text(
        "id,enterprise_id,material,quantity,q.temperature_c\ns,S,waste_heat,100,200\n",
        encoding="utf-8")
    (folder / "needs.csv").write_text(
        "id,enterprise_id,material,quantity,return_temperature_c,return_share,"
        f"min.temperature_c\na,A,process_heat,100,{cells}\n", encoding="utf-8")
    with pytest.raises(InvalidDataError) as err:
        load_dataset(folder)
    errors = [p for p in err.value.problems if p.severity == "error"]
    assert [(Path(p.file).name, p.row, p.column) for p in errors] == [
        ("needs.csv", 2, column)]
    assert message in errors[0].message


def _random_cascade(seed: int) -> tuple[list[dict[str, object]], list[dict[str, object]],
                                         dict[tuple[str, str], float], str]:
    rng = np.random.default_rng(seed)
    n_s, n_u = 2, 5
    names = "ABCDEFGHIJ"[:n_s + n_u]
    offers = [row(f"s{i}", names[i], "waste_heat", float(rng.integers(100, 500)),
                  medium="steam", **{"q.temperature_c": float(rng.integers(180, 300))})
              for i in range(n_s)]
    needs = []
    for j in range(n_u):
        floor = float(rng.integers(60, 200))
        cols: dict[str, object] = {"min.temperature_c": floor}
        if rng.random() < 0.6:
            cols.update(return_temperature_c=floor - 30, return_share=0.5)
        needs.append(row(f"u{j}", names[n_s + j], "process_heat",
                         float(rng.integers(50, 300)), **cols))
    links = {(names[a], names[b]): float(np.round(rng.uniform(0.5, 6.0), 2))
             for a in range(len(names)) for b in range(a + 1, len(names))}
    return offers, needs, links, names


@pytest.mark.parametrize("seed", range(4))
def test_random_cascades_keep_every_floor_and_every_return_bound(seed: int) -> None:
    """Random heat users, some giving heat back: every exchange arrives at or above its
    need's floor, no need receives more than it asks, no offer gives more than it has, and
    no return gives more than its share of what its user received."""
    offers, needs, links, names = _random_cascade(seed)
    data = grid(names, links, offers, needs)
    result = solve_match(data)
    ex = result.exchanges
    floors = data.needs["min.temperature_c"]
    assert (ex["delivered_temperature_c"].to_numpy()
            >= floors.loc[ex["need_id"]].to_numpy() - 1e-9).all()
    got = ex.groupby("need_id")["need_quantity"].sum()
    assert (got <= data.needs.loc[got.index, "quantity"] * (1 + 1e-9)).all()
    listed = ex[~ex["offer_id"].str.startswith("return:")].groupby("offer_id")["quantity"]
    assert (listed.sum() <= data.offers.loc[listed.sum().index, "quantity"] + 1e-6).all()
    for rid, sent in ex[ex["offer_id"].str.startswith("return:")].groupby(
            "offer_id")["quantity"].sum().items():
        user = rid.removeprefix("return:")
        assert sent <= 0.5 * got.get(user, 0.0) + 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_random_cascades_agree_with_an_independent_lp(seed: int) -> None:
    """The same random cascades written as one LP from the raw rows (steam 10 °C and 2 %
    per km, hot-water returns 1 °C and 1 % per km, floors at delivery) and solved by scipy's
    HiGHS in three stages (listed heat, cascaded heat, GJ-km): the engine's figures match."""
    offers, needs, links, _ = _random_cascade(seed)
    km = {**links, **{(b, a): d for (a, b), d in links.items()}}
    arcs = []  # (source kind, source index, need index, km, ratio)
    for i, o in enumerate(offers):
        for j, n in enumerate(needs):
            d = km[(str(o["enterprise_id"]), str(n["enterprise_id"]))]
            if float(o["q.temperature_c"]) - 10 * d >= float(n["min.temperature_c"]):
                arcs.append(("s", i, j, d, 1 - 0.02 * d))
    for i, u in enumerate(needs):
        if "return_share" not in u:
            continue
        for j, n in enumerate(needs):
            if i == j:
                continue
            d = km[(str(u["enterprise_id"]), str(n["enterprise_id"]))]
            if float(u["return_temperature_c"]) - d >= float(n["min.temperature_c"]):
                arcs.append(("r", i, j, d, 1 - 0.01 * d))
    rows, rhs = [], []
    for i, o in enumerate(offers):
        rows.append([1.0 if a[0] == "s" and a[1] == i else 0.0 for a in arcs])
        rhs.append(float(o["quantity"]))
    for j, n in enumerate(needs):
        rows.append([a[4] if a[2] == j else 0.0 for a in arcs])
        rhs.append(float(n["quantity"]))
    for i, u in enumerate(needs):
        share = float(u.get("return_share", 0.0))  # type: ignore[arg-type]
        rows.append([(1.0 if a[0] == "r" and a[1] == i else 0.0)
                     - (share * a[4] if a[2] == i else 0.0) for a in arcs])
        rhs.append(0.0)
    a_ub, b_ub = np.array(rows), np.array(rhs)
    listed = np.array([1.0 if a[0] == "s" else 0.0 for a in arcs])
    cascaded = 1.0 - listed
    dist = np.array([a[3] for a in arcs])
    z = []
    for c, sign in ((listed, -1.0), (cascaded, -1.0), (dist, 1.0)):
        res = linprog(sign * c, A_ub=a_ub, b_ub=b_ub, method="highs")
        assert res.status == 0
        z.append(sign * res.fun)
        a_ub = np.vstack([a_ub, sign * c])  # keep this stage at its optimum
        b_ub = np.append(b_ub, res.fun + 1e-9 * max(1.0, abs(res.fun)))
    result = solve_match(grid("ABCDEFG", links, offers, needs))
    ex = result.exchanges
    is_return = ex["offer_id"].str.startswith("return:")
    assert ex.loc[~is_return, "quantity"].sum() == pytest.approx(z[0], rel=1e-7, abs=1e-6)
    assert ex.loc[is_return, "quantity"].sum() == pytest.approx(z[1], rel=1e-6, abs=1e-5)
    assert result.solver.objective == pytest.approx(z[2], rel=1e-6, abs=1e-5)


def test_heat_that_arrives_too_cold_says_so() -> None:
    """The reason names the delivered temperature, not a source check that passed."""
    offers = [row("s", "S", "waste_heat", 100, medium="steam", **{"q.temperature_c": 200})]
    needs = [row("n", "U", "process_heat", 1000, **{"min.temperature_c": 160})]
    result = solve_match(grid("SU", {("S", "U"): 5.0}, offers, needs))
    status = result.offers.set_index("offer_id").loc["s"]
    assert status["reason"] == "quality"
    assert status["explanation"] == ("n at U needs 160 °C; steam leaving at 200 °C arrives "
                                     "at 150 °C after 5.0 km of pipe")


def test_a_return_on_a_need_that_is_not_heat_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "enterprises.csv").write_text(
        "id,name,lon,lat\nS,S,112.9,28.0\nA,A,112.9,28.01\n", encoding="utf-8")
    (folder / "offers.csv").write_text(
        "id,enterprise_id,material,quantity,q.loi_pct\ns,S,fly_ash,100,5\n", encoding="utf-8")
    (folder / "needs.csv").write_text(
        "id,enterprise_id,material,quantity,return_temperature_c,return_share\n"
        "a,A,fly_ash,100,60,0.5\n", encoding="utf-8")
    with pytest.raises(InvalidDataError) as err:
        load_dataset(folder)
    errors = [p for p in err.value.problems if p.severity == "error"]
    assert [(Path(p.file).name, p.row, p.column) for p in errors] == [
        ("needs.csv", 2, "return_share")]
    assert "not heat" in errors[0].message


def test_the_cli_judges_heat_at_delivery_unless_asked_for_the_source(
        tmp_path: Path, run_cli: Any) -> None:
    """`symbiosis match` on 200 °C steam 5 km from a 160 °C need: nothing by default (it
    arrives at 150 °C), 100 GJ with --heat-at-source; both flags at once are a usage
    error naming --heat-at-source."""
    folder = tmp_path / "heat"
    folder.mkdir()
    (folder / "enterprises.csv").write_text(
        "id,name,lon,lat\nS,S,112.9,20\nU,U,112.9,21\n", encoding="utf-8")
    (folder / "distances.csv").write_text("from_id,to_id,distance_km\nS,U,5\n",
                                          encoding="utf-8")
    (folder / "offers.csv").write_text(
        "id,enterprise_id,material,quantity,q.temperature_c\ns,S,waste_heat,100,200\n",
        encoding="utf-8")
    (folder / "needs.csv").write_text(
        "id,enterprise_id,material,quantity,min.temperature_c\n"
        "n,U,process_heat,1000,160\n", encoding="utf-8")

    def exchanges(out: Path) -> list[dict[str, str]]:
        with (out / "exchanges.csv").open(encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))

    assert run_cli("match", folder, "--out", tmp_path / "d").returncode == 0
    assert exchanges(tmp_path / "d") == []
    proc = run_cli("match", folder, "--out", tmp_path / "s", "--heat-at-source")
    assert proc.returncode == 0, proc.stderr
    assert [float(r["quantity"]) for r in exchanges(tmp_path / "s")] == [100.0]
    both = run_cli("match", folder, "--out", tmp_path / "b", "--heat-at-source",
                   "--heat-at-delivery")
    assert both.returncode == 2
    assert "--heat-at-source" in both.stderr


def test_integer_logistics_keep_the_source_check_and_say_so() -> None:
    """The MILP (here --max-partners) does not model heat at delivery yet: where delivery
    is only the default it checks heat at the source (200 °C passes 160 °C, 100 GJ go)
    and warns; asking for delivery explicitly is refused."""
    offers = [row("s", "S", "waste_heat", 100, **{"q.temperature_c": 200})]
    needs = [row("n", "U", "process_heat", 1000, **{"min.temperature_c": 160})]
    data = grid("SU", {("S", "U"): 5.0}, offers, needs)
    result = solve_match(data, MatchOptions(max_partners=1))
    assert list(result.exchanges["quantity"]) == pytest.approx([100.0])
    assert any("heat checked at the source" in w for w in result.summary.warnings)
    with pytest.raises(OptionsError):
        solve_match(data, MatchOptions(max_partners=1, heat_at_delivery=True))
    quiet = solve_match(data, MatchOptions(max_partners=1, heat_at_source=True))
    assert not any("heat checked" in w for w in quiet.summary.warnings)
