"""Plans under uncertain volumes (`matching.robust`): the same seed gives the same result, a
zero spread gives the plain plan exchange for exchange, and on a tiny line the frequencies,
quantiles and firm quantities follow from the sampled factors by hand.

The line: one fly-ash offer of 100 t at A, a need of 100 t at B (about 5 km) and one of
100 t at C (about 50 km). Only the offer varies. The optimum fills B first, so in a sample
with factor F the plan is B <- min(100, 100 F) and C <- max(0, 100 F - 100): C is used
exactly in the samples with F > 1.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pandas.testing import assert_frame_equal

from symbiosis import dataset_from_records
from symbiosis.dataset import Dataset, load_dataset
from symbiosis.errors import OptionsError
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching.robust import (
    Distribution,
    RobustOptions,
    robust_plan,
    sample_factors,
)


def line(cv_column: list[float | None] | None = None) -> Dataset:
    enterprises = [{"id": e, "name": e, "lon": lon, "lat": 27.9}
                   for e, lon in (("A", 112.90), ("B", 112.94), ("C", 113.34))]
    offers: list[dict[str, Any]] = [{"id": "O", "enterprise_id": "A", "material": "fly_ash",
                                     "quantity": 100}]
    needs: list[dict[str, Any]] = [
        {"id": "NB", "enterprise_id": "B", "material": "fly_ash", "quantity": 100},
        {"id": "NC", "enterprise_id": "C", "material": "fly_ash", "quantity": 100}]
    if cv_column is not None:
        offers[0]["cv"] = cv_column[0]
    return dataset_from_records({"enterprises": enterprises, "offers": offers,
                                 "needs": needs, "substitutions": []},
                                columns={"substitutions": ["need_material", "offer_material",
                                                           "ratio"]})


def factors(seed: int, samples: int, cv: float, distribution: Distribution) -> np.ndarray:
    """The offer's factor in each sample, drawn as the module says (offers, then needs)."""
    out = []
    for k in range(samples):
        rng = np.random.default_rng(np.random.SeedSequence([seed, k]))
        out.append(sample_factors(rng, np.array([cv]), distribution)[0])
    return np.array(out)


def test_frequencies_and_firm_quantities_by_hand() -> None:
    settings = RobustOptions(samples=10, seed=3, cv=0.3, vary="offers", reliability=0.8)
    result = robust_plan(line(), MatchOptions(max_km=100), settings)
    f = factors(3, 10, 0.3, Distribution.lognormal)
    assert 0 < (f > 1).sum() < 10  # the seed gives both lean and rich years
    to_b, to_c = np.minimum(100.0, 100 * f), np.maximum(0.0, 100 * f - 100)
    table = result.exchanges.set_index("need_id")
    assert table.loc["NB", "used_share"] == 1.0
    assert table.loc["NC", "used_share"] == (f > 1).mean()
    # firm quantity at 0.8: the 8th largest of 10
    assert table.loc["NB", "firm_quantity"] == pytest.approx(np.sort(to_b)[2], rel=1e-12)
    assert table.loc["NC", "firm_quantity"] == pytest.approx(np.sort(to_c)[2], abs=1e-9)
    assert table.loc["NB", "p50"] == pytest.approx(np.quantile(to_b, 0.5), rel=1e-12)
    assert table.loc["NC", "p90"] == pytest.approx(np.quantile(to_c, 0.9), rel=1e-12)
    assert table.loc["NB", "plan_quantity"] == 100.0 and table.loc["NC", "plan_quantity"] == 0
    assert bool(table.loc["NB", "robust"]) is True
    assert result.kpis["tonnes_matched"]["p50"] == pytest.approx(
        np.quantile(np.minimum(200.0, 100 * f), 0.5), rel=1e-12)
    assert result.kpis["tonnes_matched"]["nominal"] == 100.0
    # the contracted plan (B at its firm quantity, C where firm > 0) fits an offer of 100 F
    firm = np.sort(to_b)[2] + np.sort(to_c)[2]
    assert result.plan["samples_carrying_whole_plan"] == pytest.approx(
        (100 * f >= firm - 1e-9).mean())


def test_the_same_seed_gives_the_same_result_and_another_seed_does_not(
        demo_path: Path) -> None:
    demo = load_dataset(demo_path)
    a = robust_plan(demo, robust=RobustOptions(samples=8, seed=11))
    b = robust_plan(demo, robust=RobustOptions(samples=8, seed=11))
    c = robust_plan(demo, robust=RobustOptions(samples=8, seed=12))
    assert_frame_equal(a.exchanges, b.exchanges, check_exact=True)
    assert_frame_equal(a.samples, b.samples, check_exact=True)
    assert a.kpis == b.kpis
    assert not a.samples.equals(c.samples)
    # a sample does not depend on how many are drawn: the first 8 of 12 are these 8
    d = robust_plan(demo, robust=RobustOptions(samples=12, seed=11))
    assert_frame_equal(d.samples.head(8), a.samples, check_exact=True)


@pytest.mark.parametrize("distribution", list(Distribution))
def test_zero_spread_is_the_plain_plan(demo_path: Path, distribution: Distribution) -> None:
    demo = load_dataset(demo_path)
    plain = solve_match(demo)
    result = robust_plan(demo, robust=RobustOptions(samples=3, cv=0.0,
                                                    distribution=distribution))
    robust = result.exchanges[result.exchanges["robust"]]
    got = robust.set_index(["offer_id", "need_id"])["firm_quantity"].sort_index()
    want = plain.exchanges.set_index(["offer_id", "need_id"])["quantity"].sort_index()
    assert got.index.equals(want.index)
    assert (got.to_numpy() == want.to_numpy()).all()
    assert (robust["used_share"] == 1.0).all()
    assert len(result.exchanges) == len(plain.exchanges)
    k = plain.summary
    for name, value in (("share_matched", k.utilization_rate),
                        ("tonnes_matched", k.tonnes_matched), ("tonne_km", k.tonne_km)):
        d = result.kpis[name]
        assert d["p10"] == d["p90"] == d["nominal"]
        assert d["nominal"] == pytest.approx(value, rel=1e-12)
    assert result.kpis["bulk_rate"]["nominal"] == pytest.approx(
        k.bulk_solid_waste.utilization_rate if k.bulk_solid_waste else None, rel=1e-12)
    assert result.plan["samples_carrying_whole_plan"] == 1.0


def test_a_listing_cv_column_overrides_the_run_cv() -> None:
    """cv 0 on the offer's row: every sample is the listing (needs do not vary here)."""
    fixed = robust_plan(line([0.0]), MatchOptions(max_km=100),
                        RobustOptions(samples=5, cv=0.5, vary="offers"))
    assert fixed.kpis["tonnes_matched"]["min"] == fixed.kpis["tonnes_matched"]["max"] == 100
    moving = robust_plan(line([None]), MatchOptions(max_km=100),
                         RobustOptions(samples=5, cv=0.5, vary="offers"))
    assert moving.kpis["tonnes_matched"]["min"] < moving.kpis["tonnes_matched"]["max"]


@pytest.mark.parametrize("distribution", list(Distribution))
def test_factors_keep_the_mean_and_the_spread(distribution: Distribution) -> None:
    rng = np.random.default_rng(0)
    f = sample_factors(rng, np.full(200_000, 0.25), distribution)
    assert (f >= 0).all()
    assert f.mean() == pytest.approx(1.0, abs=0.005)
    assert f.std() / f.mean() == pytest.approx(0.25, abs=0.005)
    if distribution is Distribution.uniform:
        half = 0.25 * math.sqrt(3)
        assert f.min() >= 1 - half and f.max() <= 1 + half


@pytest.mark.parametrize(("field", "value"), [("samples", 0), ("cv", -0.1), ("cv", math.inf),
                                              ("reliability", 0.0), ("reliability", 1.5),
                                              ("vary", "tenants"),
                                              ("distribution", "gamma")])
def test_bad_settings_name_their_field(field: str, value: Any) -> None:
    with pytest.raises(OptionsError) as exc:
        RobustOptions(**{field: value})
    assert exc.value.problems[0][0] == field


def test_robust_command_writes_its_files(run_cli: Any, demo_path: Path,
                                         tmp_path: Path) -> None:
    done = run_cli("robust", demo_path, "--samples", "5", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    assert "Robust plan:" in done.stdout
    assert {p.name for p in (tmp_path / "r").iterdir()} == {
        "robust.csv", "robust.json", "robust_samples.csv"}
    bad = run_cli("robust", demo_path, "--distribution", "gamma", "--out", tmp_path / "b")
    assert bad.returncode == 2 and "--distribution" in bad.stderr
    assert not (tmp_path / "b").exists()


def test_generated_moves_with_the_surplus() -> None:
    """The offer states a baseline: 50 t used under existing contracts, 150 t generated, 100 t
    surplus. A sample's extra or missing generation is surplus, so generated_k = 50 + 100 F
    and, every sampled surplus fitting the 200 t of needs, the official rate stays
    (50 + 100 F) / (50 + 100 F) = 1 in every sample (a fixed `generated` would give
    (50 + 100 F) / 150 instead)."""
    data = line()
    offers = data.offers.copy()
    offers["generated"], offers["used_existing"] = 150.0, 50.0
    data = replace(data, offers=offers)
    settings = RobustOptions(samples=10, seed=3, cv=0.3, vary="offers")
    f = factors(3, 10, 0.3, Distribution.lognormal)
    assert f.max() < 2 and f.min() < 1 < f.max()
    result = robust_plan(data, MatchOptions(max_km=100), settings)
    assert result.official
    rate = result.kpis["bulk_rate"]
    assert rate["nominal"] == 1.0
    assert rate["min"] == pytest.approx(1.0, rel=1e-12)
    assert rate["max"] == pytest.approx(1.0, rel=1e-12)
