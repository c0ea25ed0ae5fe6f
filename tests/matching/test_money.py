"""Money that says what it knows (issue 12, item 3): no saving without costs, the cost
objective refusing a dataset without them, pipes costed per km per year, the environmental
protection tax as a disposal floor only where asked for."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest

from symbiosis import dataset_from_records
from symbiosis.errors import SolverError
from symbiosis.matching import MatchOptions, solve_match

Rows = list[dict[str, Any]]


def records(offers: Rows, needs: Rows, km: float = 5.0,
            transport: Rows | None = None) -> dict[str, Rows]:
    out = {"enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in "AB"],
           "offers": offers, "needs": needs,
           "distances": [{"from_id": "A", "to_id": "B", "distance_km": km}]}
    if transport is not None:
        out["transport"] = transport
    return out


ASH = [{"id": "o", "enterprise_id": "A", "material": "fly_ash", "quantity": 100}]
ASH_NEED = [{"id": "n", "enterprise_id": "B", "material": "fly_ash", "quantity": 100}]


def test_no_costs_no_saving_figure() -> None:
    """No disposal or virgin cost anywhere: saving, avoided costs and loss-making counts are
    not computed (null), the transport estimate stays."""
    result = solve_match(dataset_from_records(records(ASH, ASH_NEED)))
    econ = result.summary.economics
    assert econ is not None
    assert econ.computed is False and econ.note.startswith("not computed")
    assert econ.saving_cny is None and econ.avoided_disposal_cny is None
    assert econ.exchanges_losing_money is None
    assert econ.transport_cny > 0
    assert result.headline().saving_cny is None
    assert all(math.isnan(v) for v in result.exchanges["saving_cny"])


def test_cost_objective_refuses_a_dataset_without_costs() -> None:
    with pytest.raises(SolverError, match="needs costs, and the dataset gives none"):
        solve_match(dataset_from_records(records(ASH, ASH_NEED)),
                    MatchOptions(objective="cost"))
    with pytest.raises(SolverError, match="needs costs"):
        solve_match(dataset_from_records(records(ASH, ASH_NEED)),
                    MatchOptions(objective="weighted", weights="cost=1,co2=80"))


def test_cli_says_not_computed_and_cost_objective_fails_clearly(tmp_path: Path,
                                                                run_cli: Any) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    for name, rows in records(ASH, ASH_NEED).items():
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    proc = run_cli("match", folder, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "not computed: the dataset gives no costs" in " ".join(proc.stdout.split())
    proc = run_cli("match", folder, "--out", tmp_path / "out2", "--objective", "cost")
    assert proc.returncode == 1
    assert "needs costs" in " ".join(proc.stderr.split())
    assert not (tmp_path / "out2").exists()


HEAT = [{"id": "h", "enterprise_id": "A", "material": "waste_heat", "quantity": 1000,
         "q.temperature_c": 180}]
HEAT_NEED = [{"id": "p", "enterprise_id": "B", "material": "process_heat", "quantity": 900,
              "virgin_cost": 100}]


def test_heat_pipe_costs_per_km_per_year() -> None:
    """1,000 GJ of heat at ratio 0.9 meets 900 GJ worth 100 CNY/GJ: 90,000 CNY/yr avoided.
    A pipe at 10,000 CNY/km/yr over 5 km costs 50,000 CNY/yr: saving 40,000. The built-in
    pipe (365,700 CNY/km/yr, 1.83 M CNY/yr over 5 km) makes the exchange lose money, so the
    cost objective leaves it out."""
    cheap = [{"material": "waste_heat", "cny_per_km_year": 10000, "source": "test"}]
    result = solve_match(dataset_from_records(records(HEAT, HEAT_NEED, transport=cheap)),
                         MatchOptions(objective="cost"))
    ex = result.exchanges
    assert ex["quantity"].tolist() == pytest.approx([1000.0])
    assert ex["transport_cny"].tolist() == pytest.approx([50_000.0])
    assert ex["saving_cny"].tolist() == pytest.approx([40_000.0])
    econ = result.summary.economics
    assert econ is not None and econ.saving_cny == pytest.approx(40_000.0)
    default = solve_match(dataset_from_records(records(HEAT, HEAT_NEED)),
                          MatchOptions(objective="cost"))
    assert len(default.exchanges) == 0
    plan = solve_match(dataset_from_records(records(HEAT, HEAT_NEED)))
    assert plan.exchanges["transport_cny"].tolist() == pytest.approx([365_700.0 * 5])
    sources = {r.field: r.source for r in plan.summary.economics.rates  # type: ignore[union-attr]
               if r.material == "waste_heat"}
    assert "pipe_costs.csv" in sources["cny_per_km_year"]


def test_disposal_tax_floor_only_when_asked() -> None:
    """Fly ash (25 CNY/t) and coal gangue (5 CNY/t) with no disposal cost given: with the
    floor, avoided disposal is 100 x 25 + 50 x 5 = 2,750 CNY/yr; without it, not computed."""
    offers = [*ASH, {"id": "g", "enterprise_id": "A", "material": "coal_gangue",
                     "quantity": 50}]
    needs = [*ASH_NEED, {"id": "m", "enterprise_id": "B", "material": "coal_gangue",
                         "quantity": 50}]
    ds = dataset_from_records(records(offers, needs))
    on = solve_match(ds, MatchOptions(disposal_tax_floor=True))
    econ = on.summary.economics
    assert econ is not None and econ.computed
    assert econ.avoided_disposal_cny == pytest.approx(2_750.0)
    floors = [r for r in econ.rates if r.field == "disposal_cost_floor"]
    assert {r.material: r.value for r in floors} == {"coal_gangue": 5.0, "fly_ash": 25.0}
    assert all("环境保护税法" in r.source for r in floors)
    off = solve_match(ds)
    assert off.summary.economics is not None and off.summary.economics.computed is False
    assert on.summary.parameters.disposal_tax_floor is True
