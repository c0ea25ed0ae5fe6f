"""The `symbiosis` command line: demo, match, validate, materials (and db, runs, analyze
from `api.cli_store`).

Exit codes are decided in one place, `main`: 0 success, 1 bad input (every problem listed,
nothing written), 2 usage error. Heavy modules are imported inside commands so that
`symbiosis --help` answers at once.
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from symbiosis.errors import InvalidDataError, Problem, SymbiosisError

if TYPE_CHECKING:
    from matching.result import MatchResult

__all__ = ["app", "demo_dataset_path", "main"]

app = typer.Typer(
    name="symbiosis",
    help="Match industrial by-products (fly ash, slag, gypsum, waste heat, reclaimed water "
         "...) with the enterprises that can use them: the most by-product put to use, with "
         "the least transport.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class Objective(StrEnum):
    """Objectives the CLI offers (DESIGN.md: others are options, never the silent default)."""

    utilization = "utilization"


class Method(StrEnum):
    """Solver choice; `auto` uses min-cost flow wherever the model is a pure network."""

    auto = "auto"
    mcf = "mcf"
    lp = "lp"


def demo_dataset_path() -> Path:
    """The bundled Hunan demo dataset, installed or in a source checkout."""
    try:
        path = Path(str(resources.files("symbiosis.demo").joinpath("hunan")))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[1] / "data" / "hunan"


def _print_problems(problems: list[Problem], console: Console) -> None:
    for p in problems:
        style = "yellow" if p.severity == "warning" else "red"
        console.print(str(p), style=style, markup=False, highlight=False, soft_wrap=True)


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _report(result: MatchResult, out_dir: Path | None, top: int) -> None:
    """Human-readable report: headline KPIs, per material, largest exchanges, unmatched."""
    k = result.kpis
    s = result.solver
    head = Table(title="Match summary", show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column(justify="right")
    head.add_row("Dataset", Path(str(k["dataset"])).name)
    head.add_row("Enterprises / offers / needs",
                 f"{k['enterprises']:,} / {k['offers']:,} / {k['needs']:,}")
    head.add_row("Candidate arcs", f"{k['candidate_arcs']:,}")
    head.add_row("Exchanges", f"{k['exchanges']:,} between {k['enterprise_pairs']:,} pairs")
    head.add_row("Solid by-product offered", f"{_fmt(k['tonnes_offered'])} t/yr")
    head.add_row("Solid by-product matched", f"{_fmt(k['tonnes_matched'])} t/yr")
    rate = k["utilization_rate"]
    target = k["utilization_target"]["value"]
    flag = "" if rate is None else (" (meets 57 % target)" if rate >= target
                                    else " (below 57 % target)")
    head.add_row("Utilization rate (mass)", _pct(rate) + flag)
    head.add_row("Transport", f"{_fmt(k['tonne_km'])} t·km, average haul "
                              f"{_fmt(k['average_haul_km'], 1)} km")
    if k["transport_co2_t"] is not None:
        head.add_row("Transport CO2", f"{_fmt(k['transport_co2_t'], 1)} t CO2e/yr "
                                      f"({k['transport_co2_factor']['value']} kg/t·km)")
    for fam in ("energy", "water"):
        f = k["families"].get(fam)
        if f:
            head.add_row(f"{fam.capitalize()} matched",
                         f"{_fmt(f['matched'])} of {_fmt(f['offered'])} {f['unit']} "
                         f"({_pct(f['utilization_rate'])})")
    gap = "0" if s.gap < 1e-12 else f"{s.gap:.1e}"
    head.add_row("Solver", f"{s.status} ({', '.join(s.methods) or 'none'}), "
                           f"{s.seconds:.2f} s, gap {gap}")
    out_console.print(head)
    if k["offers"] == 0 or k["needs"] == 0:
        side = "offers" if k["offers"] == 0 else "needs"
        out_console.print(f"The dataset lists no {side}, so there is nothing to match.",
                          style="yellow")
        return

    mats = Table(title="By-products (per year)", title_justify="left")
    for col, just in (("material (unit)", "left"), ("名称", "left"), ("offered", "right"),
                      ("matched", "right"), ("rate", "right"), ("exch.", "right")):
        mats.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for slug, m in sorted(k["materials"].items(), key=lambda kv: -kv[1]["offered"]):
        mats.add_row(f"{slug} ({m['unit']})", m["name_zh"], _fmt(m["offered"]),
                     _fmt(m["matched"]), _pct(m["utilization_rate"]), str(m["exchanges"]))
    out_console.print(mats)

    ex = result.exchanges.sort_values("quantity", ascending=False).head(top)
    if len(ex):
        t = Table(title=f"Largest exchanges (top {len(ex)} of {len(result.exchanges)})",
                  title_justify="left")
        for col in ("from", "to", "material", "quantity", "km"):
            t.add_column(col, justify="right" if col in ("quantity", "km") else "left")
        for row in ex.itertuples():
            mat = row.offer_material if row.offer_material == row.need_material \
                else f"{row.offer_material} -> {row.need_material}"
            t.add_row(str(row.offer_enterprise_id), str(row.need_enterprise_id), mat,
                      f"{_fmt(row.quantity)} {row.unit}", _fmt(row.distance_km, 1))
        out_console.print(t)

    unmatched = result.offers[result.offers["unmatched"] > 0]
    unmatched = unmatched.sort_values("unmatched", ascending=False).head(top)
    if len(unmatched):
        t = Table(title="Largest unmatched offers", title_justify="left")
        for col in ("enterprise", "material", "unmatched", "why"):
            t.add_column(col, justify="right" if col == "unmatched" else "left")
        short = {"no compatible need within reach": "no taker in reach",
                 "compatible needs within reach are already full": "takers in reach full"}
        for row in unmatched.itertuples():
            t.add_row(str(row.enterprise_id), str(row.material), _fmt(row.unmatched),
                      short.get(str(row.reason), str(row.reason)))
        out_console.print(t)
    if out_dir is not None:
        out_console.print(f"Outputs written to [bold]{out_dir}[/bold]: exchanges.csv, "
                          "offers.csv (with why anything is left), summary.json")


def _run_match(dataset_path: Path, out: Path, max_km: float | None, circuity: float,
               objective: Objective, method: Method, quiet: bool, as_json: bool,
               top: int, jobs: int | None = None, save: bool = False,
               store: str | None = None) -> None:
    t_start = time.perf_counter()
    with err_console.status("Loading dataset ...", spinner="dots") as status:
        from symbiosis.dataset import load_dataset

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        dataset = load_dataset(dataset_path)
        timings["load"] = time.perf_counter() - t0
        if dataset.warnings and not quiet:
            _print_problems(list(dataset.warnings), err_console)
        status.update("Finding candidate exchanges and solving ...")
        from matching.model import MatchOptions, solve_match
        from matching.result import write_outputs

        options = MatchOptions(max_km=max_km, circuity=circuity, objective=str(objective),
                               method=method.value, jobs=jobs)
        result = solve_match(dataset, options, timings)
        status.update("Writing outputs ...")
        write_outputs(result, out, started_at=t_start)
        if save:
            status.update("Recording the run in the store ...")
            from api.cli_store import save_run

            saved = save_run(dataset, result, store)
    if save and not quiet:
        err_console.print(f"Recorded as run {saved.id} (symbiosis runs show {saved.id})")
    if as_json:
        sys.stdout.write(json.dumps(result.summary(), ensure_ascii=False, default=str) + "\n")
    elif not quiet:
        _report(result, out, top)


DatasetArg = Annotated[Path, typer.Argument(
    help="A folder of CSV files (enterprises.csv, offers.csv, needs.csv, optional "
         "substitutions.csv, distances.csv) or an .xlsx workbook with the same sheets.",
    show_default=False)]
MaxKm = Annotated[float | None, typer.Option(
    "--max-km", min=0, help="Reach in km for every material, overriding each material's "
                            "default reach.")]
Circuity = Annotated[float, typer.Option(
    "--circuity", min=0.01, help="Road km per straight-line km, for pairs without a known "
                                 "road distance.")]
ObjectiveOpt = Annotated[Objective, typer.Option(
    "--objective", help="utilization: deliver the most by-product, then the fewest "
                        "quantity x km (each unit family on its own).")]
MethodOpt = Annotated[Method, typer.Option(
    "--method", help="auto: min-cost flow where the model is a pure network, LP where a "
                     "need is served at different ratios; mcf or lp to force one.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print summary.json to stdout "
                                                     "instead of tables.")]
Top = Annotated[int, typer.Option("--top", min=0, help="Rows in the report's tables.")]
Jobs = Annotated[int | None, typer.Option(
    "--jobs", min=1, help="Worker processes for very large instances whose network splits "
                          "into independent parts (default: every usable core).")]


@app.command()
def match(
    dataset: DatasetArg,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: symbiosis-out/<dataset name>).")] = None,
    max_km: MaxKm = None,
    circuity: Circuity = 1.3,
    objective: ObjectiveOpt = Objective.utilization,
    method: MethodOpt = Method.auto,
    quiet: Quiet = False,
    as_json: AsJson = False,
    top: Top = 15,
    jobs: Jobs = None,
    save: Annotated[bool, typer.Option("--save", help="Record the run in the store "
                                                      "(see `symbiosis runs`).")] = False,
    store: Annotated[str | None, typer.Option(
        "--store", help="Store URL for --save: sqlite:///path, neo4j://host:7687 or "
                        "bolt://host:7687 (default: $SYMBIOSIS_STORE, else a SQLite file "
                        "under ~/.local/share/symbiosis).")] = None,
) -> None:
    """Find the optimal exchanges for DATASET and write exchanges.csv, offers.csv and
    summary.json.

    Example: [bold]symbiosis match data/hunan --out results --max-km 120[/bold]
    """
    out_dir = out if out is not None else Path("symbiosis-out") / (dataset.stem or "dataset")
    _run_match(dataset, out_dir, max_km, circuity, objective, method, quiet, as_json, top,
               jobs, save, store)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "symbiosis-out/demo"),
    quiet: Quiet = False,
    top: Top = 15,
) -> None:
    """Run the bundled, illustrative Hunan dataset end to end and print the report."""
    path = demo_dataset_path()
    if not quiet:
        out_console.print(f"Demo dataset: [bold]{path}[/bold] (illustrative, not real "
                          "enterprise records)")
    _run_match(path, out, None, 1.3, Objective.utilization, Method.auto, quiet, False, top)


@app.command()
def validate(dataset: DatasetArg) -> None:
    """List every problem in DATASET as file:row:column: message; exit 1 if any is an error.

    Rows count as a spreadsheet shows them (header = row 1). Unknown columns are warnings.
    """
    from symbiosis.dataset import validate_dataset

    problems = validate_dataset(dataset)
    _print_problems(problems, out_console)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors:
        err_console.print(f"{errors} error(s), {warnings} warning(s)", style="red")
        raise typer.Exit(1)
    out_console.print(f"OK: no errors, {warnings} warning(s)", style="green")


@app.command()
def materials() -> None:
    """List the built-in materials and the rules connecting by-products to needs."""
    from symbiosis.taxonomy import load_taxonomy

    tax = load_taxonomy()
    t = Table(title="Materials", title_justify="left")
    for col in ("slug", "名称", "name", "kind", "unit", "reach km", "EWC"):
        t.add_column(col)
    for m in tax.materials.values():
        t.add_row(m.slug, m.name_zh, m.name_en, m.kind, m.unit,
                  "-" if m.default_reach_km is None else f"{m.default_reach_km:g}",
                  m.ewc_code)
    out_console.print(t)
    r = Table(title="Rules (a need served by another material)", title_justify="left")
    for col in ("need", "served by", "ratio", "quality limits", "confidence"):
        r.add_column(col)
    for rule in tax.rules.values():
        limits = ", ".join(f"{lim.attribute} {'>=' if lim.bound == 'min' else '<='} "
                           f"{lim.value:g}" for lim in rule.limits)
        r.add_row(rule.need_material, rule.offer_material, f"{rule.ratio:g}", limits,
                  rule.confidence)
    out_console.print(r)


def main() -> None:
    """Console-script entry point: map the engine's errors to exit codes in one place."""
    from api.cli_store import register  # db, runs, analyze; imported here: no import cycle

    register(app)
    try:
        code = app(standalone_mode=False)
    except InvalidDataError as exc:
        _print_problems(exc.problems, err_console)
        errors = sum(p.severity == "error" for p in exc.problems)
        err_console.print(f"{errors} error(s): nothing was written", style="red")
        sys.exit(1)
    except SymbiosisError as exc:
        err_console.print(f"error: {exc}", style="red", markup=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted", style="red")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        # duck-typed: click.ClickException, or typer's vendored copy (typer >= 0.20 no
        # longer installs click, so `import click` is not an option)
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
