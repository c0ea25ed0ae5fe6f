"""A park is not an island (issue 12, item 4): a park-scoped run plans the park's
enterprises with every partner in reach, inside and outside the park, and reports the park's
own rate and its intra-park and cross-boundary exchanges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from symbiosis.dataset import Dataset, dataset_from_records
from symbiosis.errors import OptionsError
from symbiosis.matching.model import MatchOptions, solve_match
from symbiosis.matching.park_scope import park_scope, with_park_scope
from symbiosis.store import dataset_from_rows, park_rows
from symbiosis.store.records import rows_from_dataset

if TYPE_CHECKING:
    from conftest import CliRunner

Rows = list[dict[str, Any]]

ENTERPRISES: Rows = [
    {"id": "P", "name": "Power plant", "lon": 112.9, "lat": 27.8, "park": "Xiangtan"},
    {"id": "Q", "name": "Boiler house", "lon": 112.9, "lat": 27.8, "park": "Xiangtan"},
    {"id": "W", "name": "Board plant", "lon": 112.9, "lat": 27.8, "park": "Xiangtan"},
    {"id": "K", "name": "Road works", "lon": 112.9, "lat": 27.8, "park": "Xiangtan"},
    {"id": "C", "name": "Concrete plant", "lon": 112.9, "lat": 27.8, "park": ""},
    {"id": "M", "name": "Mine", "lon": 112.9, "lat": 27.8, "park": "Other"},
]
OFFERS: Rows = [
    # the case: 504 kt of fly ash, all generated this year, none used in the park
    {"id": "fa", "enterprise_id": "P", "material": "fly_ash", "quantity": 504_000,
     "generated": 504_000, "used_existing": 0},
    {"id": "gy", "enterprise_id": "Q", "material": "fgd_gypsum", "quantity": 1_000},
    {"id": "ta", "enterprise_id": "M", "material": "tailings", "quantity": 300},
]
NEEDS: Rows = [
    {"id": "ca", "enterprise_id": "C", "material": "concrete_admixture",
     "quantity": 504_000},
    {"id": "wb", "enterprise_id": "W", "material": "wallboard_gypsum", "quantity": 1_000},
    {"id": "rb", "enterprise_id": "K", "material": "road_base", "quantity": 300},
]
DISTANCES: Rows = [
    {"from_id": "P", "to_id": "C", "distance_km": 54},
    {"from_id": "Q", "to_id": "W", "distance_km": 5},
    {"from_id": "M", "to_id": "K", "distance_km": 20},
]
OPTIONS = MatchOptions(accept_unstated_quality=True)


def region() -> Dataset:
    return dataset_from_records({"enterprises": ENTERPRISES, "offers": OFFERS,
                                 "needs": NEEDS, "distances": DISTANCES})


def test_fly_ash_used_outside_the_park_counts_for_the_park() -> None:
    """All 504 kt go to the concrete plant 54 km away outside the park: the park's rate is
    (0 + 505,000) / (504,000 + 1,000) = 100 %, baseline 0 %; 1 exchange of each kind."""
    ds = region()
    result = with_park_scope(solve_match(ds, OPTIONS), ds, "Xiangtan")
    scope = result.summary.park_scope
    assert scope is not None
    bulk = scope.bulk_solid_waste
    assert bulk.official
    assert bulk.generated == 505_000.0
    assert bulk.matched == 505_000.0
    assert bulk.utilization_rate == 1.0
    assert bulk.baseline_rate == 0.0
    assert bulk.target_met is True
    assert bulk.materials_counted == ["fgd_gypsum", "fly_ash"]  # not the mine's tailings
    assert scope.enterprises == 4 and scope.offers == 2 and scope.needs == 2
    assert scope.partners_outside == 2  # the concrete plant and the mine
    assert scope.tonnes_offered == 505_000.0
    assert scope.listed_surplus_share_matched == 1.0
    x = scope.exchanges
    assert (x["intra_park"].exchanges, x["outbound"].exchanges, x["inbound"].exchanges) \
        == (1, 1, 1)
    assert x["intra_park"].tonnes == 1_000.0 and x["intra_park"].tonne_km == 5_000.0
    assert x["outbound"].tonnes == 504_000.0 and x["outbound"].tonne_km == 504_000.0 * 54
    assert x["inbound"].tonnes == 300.0 and x["inbound"].tonne_km == 6_000.0
    assert x["outbound"].share_of_tonnes == pytest.approx(504_000 / 505_300)
    # the region's own figures are untouched: the park view is a slice of the same plan
    assert result.summary.tonnes_matched == 505_300.0


def test_the_island_run_would_have_said_zero() -> None:
    """The park's rows alone (the old park run) place only 300 t of the fly ash (into the
    park's road works, which the mine's tailings serve in the regional plan): 1,300 / 505,000
    = 0.26 %. The scoped run says 100 %: the difference is the point of the issue."""
    rows = rows_from_dataset(region())
    island = solve_match(dataset_from_rows(park_rows(rows, "Xiangtan"), source="t"), OPTIONS)
    bulk = island.summary.bulk_solid_waste
    assert bulk is not None
    assert bulk.utilization_rate == pytest.approx(1_300 / 505_000)


def test_unknown_park_is_a_clear_error() -> None:
    ds = region()
    with pytest.raises(OptionsError, match=r"no enterprise is in park 'Nowhere'.*Other"):
        park_scope(ds, solve_match(ds, OPTIONS), "Nowhere")


def region_folder(tmp_path: Path) -> Path:
    """The region as a dataset folder of CSVs."""
    folder = tmp_path / "ds"
    folder.mkdir()
    for name, rows in (("enterprises", ENTERPRISES), ("offers", OFFERS), ("needs", NEEDS),
                       ("distances", DISTANCES)):
        header = list(rows[0])
        lines = [",".join(header)] + [",".join(str(r.get(h, "")) for h in header)
                                      for r in rows]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_cli_park_option(run_cli: CliRunner, tmp_path: Path) -> None:
    """`symbiosis match --park` writes park_scope into summary.json and leads with it."""
    folder = region_folder(tmp_path)
    out = tmp_path / "out"
    done = run_cli("match", folder, "--out", out, "--park", "Xiangtan",
                   "--accept-unstated-quality")
    assert done.returncode == 0, done.stderr
    assert "Park Xiangtan: bulk solid waste rate" in done.stdout
    scope = json.loads((out / "summary.json").read_text(encoding="utf-8"))["park_scope"]
    assert scope["bulk_solid_waste"]["utilization_rate"] == 1.0
    assert scope["exchanges"]["outbound"]["tonnes"] == 504_000.0
    bad = run_cli("match", folder, "--out", tmp_path / "bad", "--park", "Nowhere")
    assert bad.returncode == 1
    assert "no enterprise is in park 'Nowhere'" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_headline_of_a_park_run_is_the_parks() -> None:
    """The tiles of a park run: the park's official rate (100 %, baseline 0 %), its
    exchanges (3) and t-km (1,000 x 5 + 504,000 x 54 + 300 x 20), its 4 enterprises."""
    ds = region()
    head = with_park_scope(solve_match(ds, OPTIONS), ds, "Xiangtan").headline()
    assert head.park == "Xiangtan"
    assert head.bulk_official is True
    assert head.bulk_rate == 1.0 and head.bulk_baseline_rate == 0.0
    assert head.bulk_target_met is True
    assert head.exchanges == 3 and head.enterprises == 4
    assert head.tonne_km == 5_000 + 504_000 * 54 + 6_000
    assert head.tonnes_offered == 505_000.0
    assert head.economics_computed is False and head.saving_cny is None
    assert head.solver_exact is True
    region_head = solve_match(ds, OPTIONS).headline()
    assert region_head.park is None and region_head.enterprises == 6
    assert region_head.bulk_official is True


def test_per_park_gaps_see_outside_takers() -> None:
    """The park's gaps come from the region's plan: the fly ash the concrete plant outside
    takes is no gap; the island's plan would call 503,700 t of it unmatched."""
    from symbiosis.matching.gaps import find_gaps
    from symbiosis.matching.park_scope import park_result

    ds = region()
    seen = park_result(solve_match(ds, OPTIONS), ds, "Xiangtan")
    assert find_gaps(ds, seen, OPTIONS).unmatched == ()
    assert set(seen.offers["enterprise_id"]) == {"P", "Q"}
    island_ds = dataset_from_rows(park_rows(rows_from_dataset(ds), "Xiangtan"), source="t")
    island = find_gaps(island_ds, solve_match(island_ds, OPTIONS), OPTIONS)
    assert [(u.material, u.quantity) for u in island.unmatched] == [("fly_ash", 503_700.0)]


def test_a_park_run_is_explained_above_the_lean_size(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With every run lean by size (limit 0 arcs), `match --park` still explains: no
    "not computed" warning and reasons for the offers left over; the same run without
    --park is lean."""
    from symbiosis.api.cli import run_match
    from symbiosis.matching import lean

    monkeypatch.setattr(lean, "EXPLAIN_MAX_ARCS", 0)
    folder = region_folder(tmp_path)
    options = MatchOptions(accept_unstated_quality=True)
    for park in ("Xiangtan", None):
        out = tmp_path / f"out-{park}"
        run_match(folder, out, options, quiet=True, as_json=False, top=5, park=park)
        warnings = json.loads((out / "summary.json").read_text(encoding="utf-8"))["warnings"]
        lean_notes = [w for w in warnings if "not computed at this size" in w]
        assert (lean_notes == []) == (park is not None), warnings
