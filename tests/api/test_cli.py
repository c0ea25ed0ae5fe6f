"""The `symbiosis` command line, run as a real process (`api.cli`).

Bad input: exit 1, every problem as `file:row:column: message`, no traceback, nothing
written. Usage errors: exit 2. Good input: exit 0 and the files of the CLI contract.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from symbiosis.dataset import validate_dataset

if TYPE_CHECKING:
    from conftest import CliRunner, DatasetTables

EXCHANGES_HEADER = ("offer_enterprise_id,need_enterprise_id,offer_material,need_material,"
                    "quantity,distance_km")
SOLVER_KEYS = {"status", "objective", "bound", "gap", "seconds"}


@dataclass(frozen=True)
class BadCase:
    """A broken dataset and lines (after `<dataset path>/`) the CLI must print for it."""

    id: str
    edit: Callable[[DatasetTables], object]
    lines: tuple[str, ...]
    xlsx: bool = False


# one case per category of problem; tests/symbiosis/test_dataset.py covers every variant in-process
BAD_CASES = [
    BadCase("missing_file", lambda d: d.remove("offers"),
            ("offers.csv: required file is missing",)),
    BadCase("missing_column", lambda d: d.rename_column("offers", "quantity", "quantiy"),
            ("offers.csv:1:quantiy: warning: unknown column, ignored (did you mean "
             "'quantity'?); expected columns: id, enterprise_id, material, quantity, unit, "
             "disposal_cost, treatment_cost, generated, used_existing, stock, medium, estimated, "
             "quantity_low, quantity_high, estimate_basis, estimate_source, "
             "estimate_confidence, min_lot, max_partners, contract_cny_per_year, "
             "cv, q.<attribute>",
             "offers.csv:1:quantity: required column is missing")),
    BadCase("bad_values",
            lambda d: d.set("offers", 3, "quantity", "abc").set("needs", 2, "quantity", "0")
                       .set("enterprises", 4, "lat", "112.9").set("offers", 2, "quantity", "inf"),
            ("offers.csv:3:quantity: not a finite number: 'abc'",
             "offers.csv:2:quantity: not a finite number: 'inf'",
             "needs.csv:2:quantity: must be > 0, got 0",
             "enterprises.csv:4:lat: latitude 112.9 is outside [-90, 90] "
             "(are lon and lat swapped?)")),
    BadCase("references_and_duplicates",
            lambda d: d.set("offers", 4, "enterprise_id", "STL2")
                       .set("offers", 2, "material", "fly_asj")
                       .set("offers", 3, "id", "OF1")
                       .append("enterprises", ["CEM1", "Second kiln", "3011", "113", "27.9"]),
            ("offers.csv:4:enterprise_id: 'STL2' is not an id in enterprises.csv "
             "(did you mean 'STL1'?)",
             "offers.csv:2:material: unknown material 'fly_asj' "
             "(did you mean 'fly_ash' (粉煤灰, Coal fly ash)?)",
             "offers.csv:3:id: duplicate id 'OF1' (first at row 2)",
             "enterprises.csv:6:id: duplicate id 'CEM1' (first at row 3)")),
    BadCase("distances_and_substitutions",
            lambda d: d.set("distances", 3, "distance_km", "-4")
                       .append("distances", ["PWR1", "CEM1", "13"])
                       .append("substitutions", ["cement_admixture", "reclaimed_water", "1"]),
            ("distances.csv:3:distance_km: must be >= 0, got -4",
             "distances.csv:4:to_id: pair listed twice (first at row 2)",
             "substitutions.csv:5:offer_material: 'reclaimed_water' (water) cannot serve "
             "'cement_admixture' (mass): rules must stay within one unit family")),
    BadCase("ragged_row_after_blank_line",
            lambda d: d.insert_blank("needs", 3)
                       .set_row("needs", 4, ["ND2", "CEM1", "set_retarder", "200", "t", "x"])
                       .set("needs", 5, "quantity", "-1"),
            ("needs.csv:4: row has 6 fields but the header has 5",
             "needs.csv:5:quantity: must be > 0, got -1")),
    BadCase("several_files",
            lambda d: d.set("enterprises", 3, "lon", "200").drop_column("offers", "quantity")
                       .set("needs", 3, "enterprise_id", "ZZZ")
                       .set("substitutions", 2, "ratio", "0")
                       .set("distances", 2, "to_id", "QQQ"),
            ("enterprises.csv:3:lon: longitude 200 is outside [-180, 180]",
             "offers.csv:1:quantity: required column is missing",
             "needs.csv:3:enterprise_id: 'ZZZ' is not an id in enterprises.csv",
             "substitutions.csv:2:ratio: must be > 0, got 0",
             "distances.csv:2:to_id: 'QQQ' is not an id in enterprises.csv")),
    BadCase("xlsx",
            lambda d: d.set("offers", 3, "quantity", "-3").insert_blank("needs", 2)
                       .set("needs", 4, "unit", "m3"),
            ("[offers]:3:quantity: must be > 0, got -3",
             "[needs]:4:unit: 'm3' is a unit of water but 'set_retarder' is measured in t "
             "(mass)"),
            xlsx=True),
]


def _write(tables: DatasetTables, tmp_path: Path, xlsx: bool) -> tuple[Path, str]:
    """Write the dataset; return its path and the prefix its problem lines start with."""
    if xlsx:
        book = tables.write_xlsx(tmp_path / "bad.xlsx")
        return book, str(book)
    folder = tables.write_csv(tmp_path / "bad")
    return folder, f"{folder}/"


def _assert_clean_failure(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.id)
def test_match_on_bad_dataset_lists_every_problem_and_writes_nothing(
        case: BadCase, dataset_tables: DatasetTables, run_cli: CliRunner,
        tmp_path: Path) -> None:
    """`symbiosis match BAD --out OUT` exits 1, prints every problem (the expected lines among
    them) on stderr, no traceback, and OUT is never created."""
    case.edit(dataset_tables)
    path, prefix = _write(dataset_tables, tmp_path, case.xlsx)
    out = tmp_path / "out"
    proc = run_cli("match", path, "--out", out)
    _assert_clean_failure(proc)
    lines = proc.stderr.splitlines()
    for line in case.lines:
        assert prefix + line in lines, proc.stderr
    problems = validate_dataset(path)
    for problem in problems:
        assert str(problem) in lines
    errors = sum(p.severity == "error" for p in problems)
    assert lines[-1] == f"{errors} error(s): nothing was written"
    assert not out.exists()


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.id)
def test_validate_bad_dataset_prints_every_problem(
        case: BadCase, dataset_tables: DatasetTables, run_cli: CliRunner,
        tmp_path: Path) -> None:
    """`symbiosis validate BAD` exits 1 and prints exactly the problems of `validate_dataset`,
    one `file:row:column: message` line each, then the counts."""
    case.edit(dataset_tables)
    path, prefix = _write(dataset_tables, tmp_path, case.xlsx)
    proc = run_cli("validate", path)
    _assert_clean_failure(proc)
    problems = validate_dataset(path)
    assert proc.stdout.splitlines() == [str(p) for p in problems]
    for line in case.lines:
        assert prefix + line in proc.stdout.splitlines()
    errors = sum(p.severity == "error" for p in problems)
    assert proc.stderr.strip() == f"{errors} error(s), {len(problems) - errors} warning(s)"


@pytest.mark.parametrize("args", [["--help"], ["match", "--help"]], ids=["top", "match"])
def test_help_exits_0(args: list[str], run_cli: CliRunner) -> None:
    """Help for the program and for `match` prints usage and exits 0."""
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: symbiosis" in proc.stdout


def test_help_wraps_paragraphs_not_source_lines(run_cli: CliRunner) -> None:
    """A command's help is its docstring's paragraphs rewrapped to the terminal (200
    columns here): a sentence the source wraps is whole on one line, and the example stays
    a paragraph of its own."""
    proc = run_cli("match", "--help")
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip(" │") for line in proc.stdout.splitlines()]
    assert ("Find the optimal exchanges for DATASET and write exchanges.csv, offers.csv, "
            "needs.csv, enterprises.csv and summary.json.") in lines
    assert any(line.startswith("Example: symbiosis match data/hunan") for line in lines)


def test_version_is_the_package_s(run_cli: CliRunner) -> None:
    """`symbiosis --version` prints the installed package's version (pyproject.toml's) and
    exits 0 without running anything."""
    import tomllib

    import symbiosis

    proc = run_cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"symbiosis {symbiosis.__version__}"
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert symbiosis.__version__ == pyproject["project"]["version"]


@pytest.mark.parametrize(("option", "value"), [("--circuity", "abc"), ("--objective", "nope"),
                                               ("--max-km", "-5"), ("--max-km", "0"),
                                               ("--circuity", "0.5")])
def test_bad_option_value_is_a_usage_error(option: str, value: str, dataset_tables: DatasetTables,
                                           run_cli: CliRunner, tmp_path: Path) -> None:
    """A bad option value exits 2 with a usage message naming the option, no traceback, and
    writes nothing."""
    folder = dataset_tables.write_csv(tmp_path / "ds")
    out = tmp_path / "out"
    proc = run_cli("match", folder, "--out", out, option, value)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"Invalid value for '{option}'" in proc.stderr
    assert not out.exists()


def _haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def _exchanges(out: Path) -> list[dict[str, str]]:
    with (out / "exchanges.csv").open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_match_base_dataset_json(dataset_tables: DatasetTables, run_cli: CliRunner,
                                 tmp_path: Path) -> None:
    """On the base dataset `match --json` prints parseable JSON with the optimum known by hand:
    1,500 t of admixture and 200 t of retarder delivered; fly ash to the near kiln, slag over
    its listed 130 km road, the rest of the fly ash by great circle x 1.3. The fly ash states
    SO3, which GB/T 1596-2017 limits for cement admixture (unstated, it would not go)."""
    dataset_tables.add_column("offers", "q.so3_pct", ["1.2", "", ""])
    folder = dataset_tables.write_csv(tmp_path / "ds")
    out = tmp_path / "out"
    proc = run_cli("match", folder, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary == json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["tonnes_offered"] == 2300
    assert summary["tonnes_matched"] == pytest.approx(1700, rel=1e-9)
    assert summary["utilization_rate"] == pytest.approx(1700 / 2300, rel=1e-9)
    pwr1_cem2 = 1.3 * _haversine_km(112.88, 27.86, 113.13, 27.83)
    expected_tkm = 600 * 12.5 + 200 * 12.5 + 500 * 130 + 400 * pwr1_cem2
    assert summary["tonne_km"] == pytest.approx(expected_tkm, rel=1e-6)
    flows = {(r["offer_id"], r["need_id"]): float(r["quantity"]) for r in _exchanges(out)}
    assert flows == pytest.approx({("OF1", "ND1"): 600, ("OF1", "ND3"): 400,
                                   ("OF2", "ND2"): 200, ("OF3", "ND3"): 500})


def test_max_km_zero_gives_no_exchanges(dataset_tables: DatasetTables, run_cli: CliRunner,
                                        tmp_path: Path) -> None:
    """A reach shorter than every pair (`--max-km 0.001`) is a valid run: exit 0, zero
    exchanges, utilization 0, header-only CSV. (`--max-km 0` is refused, by the CLI and the API
    alike: MatchOptions.max_km > 0.)"""
    folder = dataset_tables.write_csv(tmp_path / "ds")
    out = tmp_path / "out"
    proc = run_cli("match", folder, "--out", out, "--max-km", "0.001", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["exchanges"] == 0
    assert summary["tonnes_matched"] == 0
    assert summary["utilization_rate"] == 0
    assert summary["tonne_km"] == 0
    assert (out / "exchanges.csv").read_text(encoding="utf-8-sig").startswith(EXCHANGES_HEADER)
    assert _exchanges(out) == []


def test_match_generates_ids_and_tolerates_warnings(dataset_tables: DatasetTables,
                                                    run_cli: CliRunner, tmp_path: Path) -> None:
    """Without id columns, with an extra `contact` column and a GBK enterprises file, `match`
    exits 0, prints the warnings, and names offers O<row> and needs N<row> in its outputs."""
    dataset_tables.drop_column("offers", "id").drop_column("needs", "id")
    dataset_tables.add_column("offers", "contact", ["张工", "张工", "李工"])
    dataset_tables.add_column("offers", "q.so3_pct", ["1.2", "", ""])  # GB/T 1596 limits it
    dataset_tables.set("enterprises", 2, "name", "湘潭电厂")
    folder = dataset_tables.write_csv(tmp_path / "ds")
    (folder / "enterprises.csv").write_bytes(
        (folder / "enterprises.csv").read_text(encoding="utf-8").encode("gb18030"))
    out = tmp_path / "out"
    proc = run_cli("match", folder, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Match summary" in proc.stdout
    lines = proc.stderr.splitlines()
    assert f"{folder}/enterprises.csv: warning: not UTF-8; read as GB18030 (GBK)" in lines
    assert any(line.startswith(f"{folder}/offers.csv:1:contact: warning: unknown column")
               for line in lines)
    flows = {(r["offer_id"], r["need_id"]) for r in _exchanges(out)}
    assert flows == {("O2", "N2"), ("O2", "N4"), ("O3", "N3"), ("O4", "N4")}


@pytest.fixture(scope="module")
def demo_out(run_cli: CliRunner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Outputs of one `symbiosis demo --out DIR` run (exit 0 checked here)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = run_cli("demo", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Match summary" in proc.stdout
    return out


def _summary(out: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return result


def test_demo_writes_the_contract_outputs(demo_out: Path) -> None:
    """`symbiosis demo --out DIR` writes exchanges.csv (contract columns first), offers.csv and
    summary.json with the contract keys, consistent with the exchanges."""
    assert sorted(p.name for p in demo_out.iterdir()) == [
        "enterprises.csv", "exchanges.csv", "needs.csv", "offers.csv", "report.html",
        "report.xlsx", "summary.json"]
    text = (demo_out / "exchanges.csv").read_text(encoding="utf-8-sig")
    assert text.startswith(EXCHANGES_HEADER + ",") or text.startswith(EXCHANGES_HEADER + "\n")
    summary = _summary(demo_out)
    assert {"tonnes_offered", "tonnes_matched", "utilization_rate", "tonne_km",
            "materials", "solver"} <= set(summary)
    assert set(summary["solver"]) >= SOLVER_KEYS
    assert summary["solver"]["status"] == "optimal"
    assert summary["tonnes_matched"] > 0
    assert summary["utilization_rate"] == pytest.approx(
        summary["tonnes_matched"] / summary["tonnes_offered"], rel=1e-9)
    tonnes = [r for r in _exchanges(demo_out) if r["unit"] == "t"]
    assert sum(float(r["quantity"]) for r in tonnes) == pytest.approx(
        summary["tonnes_matched"], rel=1e-6)
    assert sum(float(r["quantity"]) * float(r["distance_km"]) for r in tonnes) == pytest.approx(
        summary["tonne_km"], rel=1e-6)
    assert "fly_ash" in summary["materials"]


def test_match_on_workbook_equals_csv_folder(demo_out: Path, dataset_tables: DatasetTables,
                                            demo_path: Path, run_cli: CliRunner,
                                            tmp_path: Path) -> None:
    """The demo converted to an .xlsx workbook gives the same tonnes matched and tonne-km as
    the CSV folder (which is what `symbiosis demo` runs)."""
    book = type(dataset_tables).from_csv_folder(demo_path).write_xlsx(tmp_path / "demo.xlsx")
    out = tmp_path / "out"
    proc = run_cli("match", book, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    from_xlsx, from_csv = _summary(out), _summary(demo_out)
    for key in ("tonnes_offered", "tonnes_matched", "tonne_km"):
        assert from_xlsx[key] == pytest.approx(from_csv[key], rel=1e-9), key


def test_validate_demo_is_ok(demo_path: Path, run_cli: CliRunner) -> None:
    """`symbiosis validate` on the bundled demo exits 0 and reports no errors or warnings."""
    proc = run_cli("validate", demo_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "OK: no errors, 0 warning(s)"


def test_match_cost_objective_writes_prices_and_money(demo_path: Path, run_cli: CliRunner,
                                                      tmp_path: Path) -> None:
    """`--objective cost` prices each exchange at the core midpoint and reports money and
    carbon; the per-exchange savings add up to the summary's, and no exchange loses money."""
    out = tmp_path / "cost"
    proc = run_cli("match", demo_path, "--out", out, "--objective", "cost",
                   "--transport-rate", "0.3", "--loading-cost", "4")
    assert proc.returncode == 0, proc.stderr
    assert "Net saving" in proc.stdout and "core_midpoint" in proc.stdout
    summary = _summary(out)
    econ = summary["economics"]
    assert econ["prices"]["method"] == "core_midpoint"
    assert summary["parameters"]["objective"] == "cost"
    rows = _exchanges(out)
    assert sum(float(r["saving_cny"]) for r in rows) == pytest.approx(econ["saving_cny"],
                                                                     rel=1e-9)
    assert min(float(r["saving_cny"]) for r in rows) >= 0
    for r in rows:  # the split adds up to the exchange's saving
        assert float(r["supplier_gain_cny"]) + float(r["receiver_gain_cny"]) == \
            pytest.approx(float(r["saving_cny"]), rel=1e-9, abs=1e-6)
    rates = {(x["material"], x["field"]): x for x in econ["rates"]}
    assert rates[("fly_ash", "cny_per_unit_km")]["value"] == 0.3
    assert rates[("fly_ash", "loading_cny_per_unit")]["source"] == "command-line option"
    with (out / "needs.csv").open(encoding="utf-8-sig") as fh:
        needs = list(csv.DictReader(fh))
    assert {"marginal_value", "marginal_unit"} <= set(needs[0])


@pytest.mark.parametrize(("args", "message"), [
    (("--objective", "weighted"), "weighted objective needs weights"),
    (("--weights", "cost=1"), "weights apply to the weighted objective"),
    (("--objective", "weighted", "--weights", "cost=lots"), "not a number"),
    (("--report", "docx"), "unknown report format"),
])
def test_match_value_options_usage_errors(args: tuple[str, ...], message: str,
                                          demo_path: Path, run_cli: CliRunner,
                                          tmp_path: Path) -> None:
    out = tmp_path / "never"
    proc = run_cli("match", demo_path, "--out", out, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr.replace("\n", " ")
    assert "Traceback" not in proc.stderr
    if message != "unknown report format":
        assert not out.exists()


def test_frontier_command_writes_table_plans_and_plots(demo_path: Path, run_cli: CliRunner,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "front"
    proc = run_cli("frontier", demo_path, "--between", "utilization,co2", "--points", "4",
                   "--out", out)
    assert proc.returncode == 0, proc.stderr
    with (out / "frontier.csv").open(encoding="utf-8-sig") as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["point"]) for r in table] == [1, 2, 3, 4]
    tonnes = [float(r["tonnes_matched"]) for r in table]
    co2 = [float(r["co2_net_t"]) for r in table]
    assert tonnes == sorted(tonnes)
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(co2))
    for r in table:
        plan = out / r["plan"]
        assert plan.is_file()
        assert _summary(plan.parent)["tonnes_matched"] == pytest.approx(
            float(r["tonnes_matched"]))
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "points/01/report.html" in (out / "frontier.html").read_text(encoding="utf-8")
    assert (out / "points" / "01" / "report.html").is_file()
    bad = run_cli("frontier", demo_path, "--between", "cost", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "two objectives" in bad.stderr


def test_report_command_rewrites_reports_in_chinese(demo_out: Path, run_cli: CliRunner,
                                                    tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(demo_out, folder)
    (folder / "report.html").unlink()
    proc = run_cli("report", folder, "--lang", "zh", "--format", "html")
    assert proc.returncode == 0, proc.stderr
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "粉煤灰" in html and "57" in html
    missing = run_cli("report", tmp_path / "nowhere")
    assert missing.returncode == 2 and "summary.json" in missing.stderr
