"""The `symbiosis` command line: demo, match, frontier, report, validate, materials, the
geography commands (from `api.cli_geo`) and db, runs, analyze (from `api.cli_store`).

Exit codes are decided in one place, `main`: 0 success, 1 bad input (every problem listed,
nothing written), 2 usage error. Heavy modules are imported inside commands so that
`symbiosis --help` answers at once.
"""

from __future__ import annotations

import gc
import inspect
import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.cells import cell_len
from rich.table import Table
from typer.core import TyperGroup

from symbiosis.api import (
    cli_geo,
    cli_months,
    cli_robust,
    cli_serve,
    cli_store,
    cli_sweep,
    cli_template,
)
from symbiosis.api.cli_common import (
    AsJson,
    DatasetArg,
    Lang,
    LangOpt,
    Quiet,
    Top,
    demo_dataset_path,
    err_console,
    fmt,
    out_console,
    pct,
    print_problems,
    spinner,
    with_match_options,
)
from symbiosis.api.cli_geo import GeoRequest
from symbiosis.api.staging import staged_folder
from symbiosis.errors import InvalidDataError, SymbiosisError
from symbiosis.matching.options import MatchOptions

if TYPE_CHECKING:
    from collections.abc import Callable

    from symbiosis.matching.frontier import Frontier
    from symbiosis.matching.result import MatchResult
    from symbiosis.matching.summary import MatchSummary

__all__ = ["app", "demo_dataset_path", "main"]


class _LazyGroup(TyperGroup):
    """The `symbiosis` command group, each subcommand built from its typer registration
    when it is first looked up (to run it, or to list it in `--help`), in registration
    order. Typer builds every subcommand's click command at start, reading each function's
    signature: 14 ms for this CLI's 19, against 1 ms for `match` alone (2026-11-30), paid
    by every run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[str, Callable[[], Any]] = {}  # name -> builds its click command

    def list_commands(self, ctx: Any) -> list[str]:
        built = super().list_commands(ctx)
        return [*built, *(name for name in self.pending if name not in built)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.pending:
            self.commands[cmd_name] = self.pending.pop(cmd_name)()
        elif cmd_name not in self.commands:  # a typo: typer suggests from every command
            for name in list(self.pending):
                self.commands[name] = self.pending.pop(name)()
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    cls=_LazyGroup,
    name="symbiosis",
    help="Match industrial by-products (fly ash, slag, gypsum, waste heat, reclaimed water "
         "...) with the enterprises that can use them: the most by-product put to use, with "
         "the least transport.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from symbiosis import __version__

        out_console.print(f"symbiosis {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    # the group's own options; its help is `app`'s
    del version


def _report(result: MatchResult, out_dir: Path | None, top: int, lang: str = "en") -> None:
    """Human-readable report: headline KPIs, per material, largest exchanges, unmatched; its
    words from the message catalogue in `lang` (the report's labels where they are shared)."""
    from symbiosis.i18n import catalogue
    from symbiosis.i18n import t as msg
    from symbiosis.matching.reasons import reason_text

    def w(key: str, **params: object) -> str:
        return msg(key, lang, **params)

    k = result.summary
    s = result.solver
    head = Table(title=w("cli.match_summary"), show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column(justify="right")
    head.add_row(w("report.dataset"), Path(k.dataset).name)
    _park_rows(head, k, w)  # a park-scoped run: the park's own rate first
    _official_rows(head, k, w)  # the park's headline figure first: baseline -> plan
    head.add_row(w("cli.counts"),
                 f"{k.enterprises:,} / {k.offers:,} / {k.needs:,}")
    head.add_row(w("cli.candidate_arcs"), f"{k.candidate_arcs:,}")
    head.add_row(w("kpi.exchanges"), w("cli.exchanges_between", n=f"{k.exchanges:,}",
                                       pairs=f"{k.enterprise_pairs:,}"))
    head.add_row(w("kpi.tonnes_offered"), f"{fmt(k.tonnes_offered)} {w('unit.t/yr')}")
    head.add_row(w("fig.matched"), f"{fmt(k.tonnes_matched)} {w('unit.t/yr')}")
    bulk = k.bulk_solid_waste
    if bulk is not None and bulk.stock_used > 0:
        head.add_row(w("fig.stock_used"), f"{fmt(bulk.stock_used)} {w('unit.t/yr')}")
    head.add_row(w("fig.share_listed"), pct(k.listed_surplus_share_matched
                                            if k.listed_surplus_share_matched is not None
                                            else k.utilization_rate))
    if k.estimates is not None:  # listings estimated from capacities (symbiosis estimate)
        e = k.estimates
        head.add_row(w("estimate.cli_matched"),
                     w("estimate.cli_matched_value", t=fmt(e.tonnes_matched),
                       share=pct(e.share_of_matched), low=fmt(e.tonnes_matched_if_low)))
    head.add_row(w("kpi.tonne_km"), f"{fmt(k.tonne_km)} {w('unit.t·km/yr')}, "
                                    + w("report.average_haul",
                                        km=fmt(k.average_haul_km, 1)))
    if k.transport_co2_t is not None and k.transport_co2_factor is not None:
        head.add_row(w("kpi.transport_co2_t"),
                     f"{fmt(k.transport_co2_t, 1)} {w('unit.t CO2e/yr')} "
                     f"({k.transport_co2_factor.value} kg/t·km)")
    econ, carbon = k.economics, k.carbon
    cny = w("unit.CNY/yr")
    if econ is not None:
        cov = econ.coverage
        known = cov.offers_with_disposal_cost + cov.needs_with_virgin_cost
        if not known:
            head.add_row(w("kpi.saving_cny"), w("fig.saving_not_computed"))
        else:
            head.add_row(w("kpi.saving_cny"), f"{fmt(econ.saving_cny)} {cny}")
            head.add_row("  " + w("cli.avoided_parts"),
                         f"{fmt(econ.avoided_disposal_cny)} + "
                         f"{fmt(econ.avoided_virgin_cny)} {cny}")
            head.add_row("  " + w("cli.cost_parts"), f"{fmt(econ.transport_cny)} + "
                                                     f"{fmt(econ.treatment_cny)} {cny}")
    if carbon is not None:
        head.add_row(w("kpi.co2_net_t"), f"{fmt(carbon.net_t)} {w('unit.t CO2e/yr')}")
    for fam in ("energy", "water"):
        f = k.families.get(fam)
        if f:
            head.add_row(w("cli.family_matched", family=w(f"family.{fam}")),
                         w("cli.of_offered", matched=fmt(f.matched),
                           offered=fmt(f.offered), unit=w(f"unit.{f.unit}"),
                           rate=pct(f.utilization_rate)))
    gap = "0" if s.gap < 1e-12 and s.exact else f"{s.gap:.1e}"
    objective = str(k.parameters.objective)
    head.add_row(w("report.objective"), w(f"obj.{objective}") if f"obj.{objective}" in
                 catalogue() else objective)
    head.add_row(w("report.solver"), w("cli.solver_value" if s.exact else "fig.solver_rounded",
                                       status=s.status,
                                       methods=", ".join(s.methods) or w("cli.none"),
                                       seconds=f"{s.seconds:.2f}", gap=gap))
    out_console.print(head)
    if k.offers == 0 or k.needs == 0:
        out_console.print(w("cli.no_offers" if k.offers == 0 else "cli.no_needs"),
                          style="yellow")
        return

    mats = Table(title=w("cli.per_year", title=w("report.materials")), title_justify="left")
    name_key = "name_zh" if lang == "zh" else "name_en"
    rows = [(getattr(m, name_key) or slug, w("unit." + m.unit), fmt(m.offered),
             fmt(m.matched), pct(m.utilization_rate), str(m.exchanges))
            for slug, m in sorted(k.materials.items(), key=lambda kv: -kv[1].offered)]
    headers = (w("report.col_material"), w("report.unit"), w("report.col_offered"),
               w("report.col_matched"), w("cli.col_rate"), w("cli.col_exchanges"))
    for i, col in enumerate(headers):
        # a figure or unit is never cut or wrapped: its column is as wide as its widest
        # cell; a long name yields (ellipsis), then the headers fold
        widest = max((cell_len(r[i]) for r in rows), default=0)
        mats.add_column(col, justify="left" if i < 2 else "right", no_wrap=i == 0,
                        overflow="ellipsis" if i == 0 else "fold",
                        min_width=widest if i >= 1 else None, max_width=20 if i == 0 else None)
    for row in rows:
        mats.add_row(*row)
    out_console.print(mats)

    ex = result.exchanges.sort_values("quantity", ascending=False).head(top)
    if len(ex):
        t = Table(title=w("cli.top_of", title=w("report.largest_exchanges"), shown=len(ex),
                          total=len(result.exchanges)), title_justify="left")
        money = "saving_cny" in ex
        cols = [(w("report.col_supplier"), "left"), (w("report.col_receiver"), "left"),
                (w("report.col_offer_material"), "left"), (w("report.col_quantity"), "right"),
                (w("report.col_distance_km"), "right")]
        if money:
            cols.append((w("report.col_saving_cny"), "right"))
        for col, just in cols:
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for row in ex.itertuples():
            mat = row.offer_material if row.offer_material == row.need_material \
                else f"{row.offer_material}→{row.need_material}"
            cells = [str(row.offer_enterprise_id), str(row.need_enterprise_id), mat,
                     f"{fmt(row.quantity)} {w('unit.' + str(row.unit))}",
                     fmt(row.distance_km, 1)]
            if money:
                cells.append(fmt(row.saving_cny))
            t.add_row(*cells)
        out_console.print(t)
    blends = result.blends[(result.blends["quantity"] > 0)
                           & result.blends["offers"].str.contains(";")].head(top) \
        if len(result.blends) else result.blends  # two offers or more: a real blend
    if len(blends):  # graded runs (matching.blending)
        t = Table(title=w("blending.title"), title_justify="left")
        for key, just in (("blending.col_need", "left"), ("blending.col_attribute", "left"),
                          ("blending.col_average", "right"), ("blending.col_limit", "right"),
                          ("blending.col_offers", "left")):
            t.add_column(w(key), justify=just)  # type: ignore[arg-type]
        for b in blends.itertuples():
            sign = "≤" if b.bound == "max" else "≥"
            t.add_row(f"{b.need_id} ({b.need_enterprise_id})", str(b.attribute),
                      fmt(b.average, 2), f"{sign} {fmt(b.limit, 2)}", str(b.offers))
        out_console.print(t)

    unmatched = result.offers[result.offers["unmatched"] > 0]
    unmatched = unmatched.sort_values("unmatched", ascending=False).head(top)
    if len(unmatched):
        t = Table(title=w("cli.largest_unmatched"), title_justify="left")
        for col, just in ((w("report.col_enterprise"), "left"),
                          (w("report.col_material"), "left"),
                          (w("report.col_unmatched"), "right"), (w("report.col_reason"), "left")):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for row in unmatched.itertuples():
            why = reason_text(row.reason, lang)
            if not why and isinstance(row.explanation, str) and row.explanation:
                why = w("lean.reason_not_computed")  # a lean run: no reasons, say so
            t.add_row(str(row.enterprise_id), str(row.material), fmt(row.unmatched), why)
        out_console.print(t)
    if econ is not None and econ.prices.method:
        out_console.print(w("cli.prices", method=econ.prices.method, note=econ.prices.note),
                          style="dim")
    if out_dir is not None:
        names = ", ".join(sorted(p.name for p in out_dir.iterdir() if p.is_file()
                                 and not p.name.startswith(".")))
        out_console.print(w("cli.outputs_written", folder=f"[bold]{out_dir}[/bold]",
                            names=names))


def _official_rows(head: Table, k: MatchSummary, w: Callable[..., str]) -> None:
    """The headline's first rows: the bulk solid waste rate, baseline -> plan against the
    target when the dataset gives a baseline; otherwise the share of listed surplus matched,
    said to be no official rate, with no target claimed."""
    bulk = k.bulk_solid_waste
    if bulk is None or bulk.offers_counted == 0:
        return

    def verdict(met: bool | None) -> str:
        return w("fig.no_target_claimed") if met is None else \
            w("fig.target_met" if met else "fig.target_missed")

    if not bulk.official:
        head.add_row(w("fig.listed_rate"), w("fig.listed_note",
                                             rate=pct(bulk.utilization_rate)))
        return
    head.add_row(w("fig.official_rate"),
                 w("fig.baseline_to_plan", baseline=pct(bulk.baseline_rate),
                   plan=pct(bulk.utilization_rate)) + "; "
                 + w("fig.against_target", target=pct(bulk.target.value),
                     verdict=verdict(bulk.target_met)))
    head.add_row("", w("fig.official_parts", used=fmt(bulk.used_existing),
                       matched=fmt(bulk.matched), generated=fmt(bulk.generated),
                       stock=fmt(bulk.stock_used)))
    for name, group in bulk.groups.items():
        head.add_row("", w("fig.sub_target", group=w(f"fig.group.{name}"),
                           rate=pct(group.utilization_rate), target=pct(group.target.value),
                           verdict=verdict(group.target_met)))


def _park_rows(head: Table, k: MatchSummary, w: Callable[..., str]) -> None:
    """A park-scoped run (--park): the park's own rate over its offers wherever used, and
    its exchanges inside, out of and into the park (matching.park_scope)."""
    p = k.park_scope
    if p is None:
        return
    bulk = p.bulk_solid_waste
    rate = w("fig.baseline_to_plan", baseline=pct(bulk.baseline_rate),
             plan=pct(bulk.utilization_rate)) if bulk.official else \
        w("fig.listed_note", rate=pct(bulk.utilization_rate))
    head.add_row(w("fig.park_rate", park=p.park), rate)
    x = p.exchanges
    head.add_row("", w("fig.park_split", intra=fmt(x["intra_park"].tonnes),
                       outbound=fmt(x["outbound"].tonnes), inbound=fmt(x["inbound"].tonnes),
                       partners=p.partners_outside))


def _write_reports(out: Path, formats: str | None, lang: Lang,
                   top: int | None = None) -> list[Path]:
    if not formats:
        return []
    from symbiosis.api.report import REPORT_FORMATS, chromium_path, write_report

    wanted = tuple(f.strip().lower() for f in formats.split(",") if f.strip())
    bad = [f for f in wanted if f not in REPORT_FORMATS]
    if bad:
        raise typer.BadParameter(f"unknown report format(s) {', '.join(bad)}; use "
                                 f"{', '.join(REPORT_FORMATS)}", param_hint="--report")
    if "pdf" in wanted and chromium_path() is None:
        err_console.print("warning: report.pdf skipped: no Chromium found to print it (install "
                          "Debian's chromium, or set SYMBIOSIS_CHROMIUM)", style="yellow",
                          markup=False)
        wanted = tuple(f for f in wanted if f != "pdf")
    return write_report(out, lang=lang.value, formats=wanted, top=top) if wanted else []


def run_match(dataset_path: Path, out: Path, options: MatchOptions, quiet: bool,
               as_json: bool, top: int, report: str | None = None,
               lang: Lang = Lang.en, geo: GeoRequest | None = None, save: bool = False,
               store: str | None = None, park: str | None = None) -> None:
    """Load, solve, write and print one match, with the cyclic collector paused
    (`collector_paused`)."""
    with collector_paused():
        _run_match(dataset_path, out, options, quiet, as_json, top, report, lang, geo,
                   save, store, park)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for one solve, and restore its state.

    A match imports pandas and the engine (20,000 more tracked objects) and allocates tens
    of thousands of container objects (the CSV grid's rows, the result's records) that live
    until its outputs are written; the collector walks them at each young collection and
    again at each middle one: about 20 ms of a 0.65 s province match (9 young and 1 middle
    collection, measured with `gc.callbacks`). The run leaves almost no cyclic garbage:
    about 800 objects at the province, with no change in RSS when collected at the end
    (measured), so nothing is kept that the collector would have freed in time to matter.
    Garbage without cycles is freed by reference counting at once, collector or not. Only
    single-solve commands use it; loops over many solves (sweeps, samples, the server)
    keep the collector.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_match(dataset_path: Path, out: Path, options: MatchOptions, quiet: bool,
               as_json: bool, top: int, report: str | None, lang: Lang,
               geo: GeoRequest | None, save: bool, store: str | None,
               park: str | None) -> None:
    t_start = time.perf_counter()
    if park is not None:
        from symbiosis.matching.lean import for_park

        options = for_park(options)
    with spinner("Loading dataset ...") as status:
        from symbiosis.dataset import load_dataset

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        dataset = load_dataset(dataset_path)
        timings["load"] = time.perf_counter() - t0
        ctx = None
        if geo is not None and geo.active:
            status.update("Loading roads, parks and zones ...")
            ctx = cli_geo.prepare(dataset_path, dataset, geo, timings)
            dataset = ctx.dataset
        if dataset.warnings and not quiet:
            print_problems(list(dataset.warnings), err_console)
        status.update("Finding candidate exchanges and solving ...")
        from symbiosis.matching.model import solve_match
        from symbiosis.matching.result import write_outputs

        result = solve_match(dataset, options, timings,
                             distances=ctx.distances if ctx is not None else None)
        if ctx is not None:
            result = cli_geo.with_geography(ctx, result)
        if park is not None:  # the park with every partner in reach, in or out of it
            from symbiosis.matching.park_scope import with_park_scope

            result = with_park_scope(result, dataset, park)
        status.update("Writing outputs ...")
        with staged_folder(out) as staged:  # --out ends complete or untouched
            write_outputs(result, staged, started_at=t_start)
            written = cli_geo.export(ctx, result, staged) \
                if ctx is not None and geo and geo.export else []
            _write_reports(staged, report, lang, top or None)
        written = [out / p.relative_to(staged) if p.is_relative_to(staged) else p
                   for p in written]
        if save:
            status.update("Recording the run in the store ...")
            saved = cli_store.save_run(dataset, result, store)
    for warning in result.summary.warnings if not quiet else []:
        err_console.print(f"warning: {warning}", style="yellow", markup=False)
    if save and not quiet:
        err_console.print(f"Recorded as run {saved.id} (symbiosis runs show {saved.id})")
    if as_json:
        sys.stdout.write((out / "summary.json").read_text(encoding="utf-8"))
    elif not quiet:
        _report(result, out, top, lang.value)
        if ctx is not None:
            cli_geo.report(result, written, out_console)


ReportOpt = Annotated[str | None, typer.Option(
    "--report", help="Also write report.html, report.xlsx and/or report.pdf (printed by "
    "headless Chromium): html, xlsx, pdf or a comma-separated list such as html,pdf.",
    show_default=False)]


@app.command()
@with_match_options(execution=("jobs", "explain"))
def match(
    dataset: DatasetArg,
    options: MatchOptions,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: symbiosis-out/<dataset name>).")] = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
    top: Top = 15,
    report: ReportOpt = None,
    lang: LangOpt = Lang.en,
    roads: cli_geo.RoadsOpt = None,
    parks: cli_geo.ParksOpt = None,
    zones: cli_geo.ZonesOpt = None,
    geo: cli_geo.GeoOpt = False,
    save: Annotated[bool, typer.Option("--save", help="Record the run in the store "
                                                      "(see `symbiosis runs`).")] = False,
    store: Annotated[str | None, typer.Option(
        "--store", help="Store URL for --save: sqlite:///path, neo4j://host:7687 or "
                        "bolt://host:7687 (default: $SYMBIOSIS_STORE, else a SQLite file "
                        "under ~/.local/share/symbiosis).")] = None,
    park: Annotated[str | None, typer.Option(
        "--park", help="Report one park's figures (its own bulk solid waste rate, exchanges "
                       "inside and across its boundary) out of a plan with every partner in "
                       "reach, inside and outside the park.")] = None,
) -> None:
    """Find the optimal exchanges for DATASET and write exchanges.csv, offers.csv,
    needs.csv, enterprises.csv and summary.json.

    Example: [bold]symbiosis match data/hunan --out results --objective cost --report
    html,xlsx --lang zh[/bold]
    """
    out_dir = out if out is not None else Path("symbiosis-out") / (dataset.stem or "dataset")
    run_match(dataset, out_dir, options, quiet, as_json, top, report, lang,
               cli_geo.GeoRequest(roads, parks, zones, geo), save, store, park=park)


@app.command("map")
@with_match_options(execution=("jobs",))
def map_(
    dataset: Annotated[Path, typer.Argument(
        help="A dataset folder (its roads.*, parks.* and zones.* are used) or .xlsx.",
        show_default=False)],
    options: MatchOptions,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "symbiosis-out/map"),
    roads: cli_geo.RoadsOpt = None,
    parks: cli_geo.ParksOpt = None,
    zones: cli_geo.ZonesOpt = None,
    quiet: Quiet = False,
) -> None:
    """Match DATASET with its geography and write the maps and layers: the same as
    `symbiosis match DATASET --geo`.

    Example: [bold]symbiosis map data/hunan --out out/map[/bold]
    """
    run_match(dataset, out, options, quiet, False, 10,
              geo=GeoRequest(roads, parks, zones, export=True))


@app.command()
@with_match_options(exclude=("objective", "weights", "method"))
def frontier(
    dataset: DatasetArg,
    options: MatchOptions,
    between: Annotated[str, typer.Option(
        "--between", help="The swept objective, then the maximised one, among utilization, "
                          "cost, co2.")] = "utilization,cost",
    points: Annotated[int, typer.Option("--points", min=2, max=200,
                                        help="Points on the frontier.")] = 10,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: symbiosis-out/<dataset>-frontier).")]
    = None,
    lang: LangOpt = Lang.en,
    quiet: Quiet = False,
    scheduler: cli_robust.SchedulerOpt = None,
    workers: cli_robust.WorkersOpt = None,
) -> None:
    """Trade-off between two objectives (epsilon-constraint): frontier.csv, frontier.png,
    frontier.html and each point's full plan in points/NN/.

    Example: [bold]symbiosis frontier data/hunan --between utilization,cost --points 10[/bold]
    """
    parts = tuple(p.strip() for p in between.split(","))
    if len(parts) != 2:
        raise typer.BadParameter("give two objectives, e.g. utilization,cost",
                                 param_hint="--between")
    out_dir = out if out is not None else \
        Path("symbiosis-out") / f"{dataset.stem or 'dataset'}-frontier"
    with spinner("Solving the frontier ..."):
        from symbiosis.dataset import load_dataset
        from symbiosis.matching.distributed import open_engine
        from symbiosis.matching.frontier import pareto_frontier

        data = load_dataset(dataset)
        with open_engine(scheduler, workers) as engine:
            result = pareto_frontier(data, (parts[0], parts[1]), points, options, engine)
        _write_frontier(result, out_dir, lang)
    if quiet:
        return
    x, y = (_AXIS_COLUMN[a] for a in result.between)
    t = Table(title=f"Frontier: {result.between[1]} against {result.between[0]} "
                    f"({result.seconds:.2f} s)", title_justify="left")
    for col in ("point", "utilization", "tonnes", "saving CNY", "net CO2e t", "t·km"):
        t.add_column(col, justify="right")
    for row in result.table.itertuples():
        t.add_row(str(row.point), pct(row.utilization_rate), fmt(row.tonnes_matched),
                  fmt(row.saving_cny), fmt(row.co2_net_t), fmt(row.tonne_km))
    out_console.print(t)
    if result.note:  # integer logistics: every point a MILP (model, objective, bound, gap)
        err_console.print(f"note: {result.note}", style="yellow", markup=False)
    out_console.print(f"Written to [bold]{out_dir}[/bold]: frontier.csv, frontier.png, "
                      f"frontier.html ({x} against {y}), points/NN/ plans")


_AXIS_COLUMN = {"utilization": "utilization_rate", "cost": "saving_cny", "co2": "co2_net_t"}


def _write_frontier(result: Frontier, out_dir: Path, lang: Lang) -> None:
    """frontier.csv, each point's outputs under points/NN/, and the two plots."""
    from symbiosis.api.report import write_frontier_plots, write_report
    from symbiosis.jsonio import atomic_write_text
    from symbiosis.matching.result import write_outputs
    from symbiosis.tabular import frame_csv_text

    out_dir.mkdir(parents=True, exist_ok=True)
    for k, plan in enumerate(result.plans, start=1):
        write_outputs(plan, out_dir / "points" / f"{k:02d}")
        write_report(out_dir / "points" / f"{k:02d}", lang=lang.value, formats=("html",))
    atomic_write_text(out_dir / "frontier.csv", frame_csv_text(result.table))
    x, y = (_AXIS_COLUMN[a] for a in result.between)
    # the interactive plot links each point to its readable report; the CSV to its plan
    plotted = result.table.assign(plan=[p.replace("exchanges.csv", "report.html")
                                        for p in result.table["plan"]])
    target = result.plans[0].summary.utilization_target.value \
        if "utilization_rate" in (x, y) else None
    write_frontier_plots(plotted, out_dir, x, y, lang=lang.value, target=target)


@app.command()
def report(
    out_dir: Annotated[Path, typer.Argument(help="A folder written by `symbiosis match`.",
                                            show_default=False)],
    lang: LangOpt = Lang.en,
    formats: Annotated[str, typer.Option("--format", help="html, xlsx, pdf or a "
                                         "comma-separated list such as html,xlsx.")]
    = "html,xlsx",
    top: Annotated[int | None, typer.Option("--top", min=1, help="Rows in the page's long "
                                            "tables (the workbook lists all).")] = None,
) -> None:
    """(Re)write report.html / report.xlsx / report.pdf for a match output folder, in Chinese
    or English."""
    if not (out_dir / "summary.json").is_file():
        raise typer.BadParameter(f"{out_dir} has no summary.json; run `symbiosis match` "
                                 "first", param_hint="OUT_DIR")
    written = _write_reports(out_dir, formats, lang, top)
    out_console.print("Written: " + ", ".join(str(p) for p in written))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "symbiosis-out/demo"),
    quiet: Quiet = False,
    top: Top = 15,
    lang: LangOpt = Lang.en,
) -> None:
    """Run the bundled, illustrative Hunan dataset end to end, print the report and write
    it as report.html and report.xlsx."""
    path = demo_dataset_path()
    if not quiet:
        out_console.print(f"Demo dataset: [bold]{path}[/bold] (illustrative, not real "
                          "enterprise records)")
    run_match(path, out, MatchOptions(), quiet,
               False, top, report="html,xlsx", lang=lang)


@app.command()
def validate(dataset: DatasetArg) -> None:
    """List every problem in DATASET as file:row:column: message; exit 1 if any is an error.

    Rows count as a spreadsheet shows them (header = row 1). Unknown columns are warnings.
    """
    from symbiosis.dataset import validate_dataset

    problems = validate_dataset(dataset)
    print_problems(problems, out_console)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors:
        err_console.print(f"{errors} error(s), {warnings} warning(s)", style="red")
        raise typer.Exit(1)
    out_console.print(f"OK: no errors, {warnings} warning(s)", style="green")


class SchemaName(StrEnum):
    """The JSON Schemas `symbiosis schema` prints."""

    summary = "summary"
    options = "options"


@app.command()
def schema(name: Annotated[SchemaName, typer.Argument(help="summary (summary.json) or "
                                                          "options (a run's parameters).")]
           ) -> None:
    """Print a JSON Schema: `summary` validates summary.json, `options` a run's parameters
    (the HTTP run body and the CLI flags are derived from it)."""
    from symbiosis.matching.options import MatchParameters
    from symbiosis.matching.summary import summary_schema

    body = summary_schema() if name is SchemaName.summary \
        else MatchParameters.model_json_schema(mode="serialization")
    sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")


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


cli_geo.register(app)  # site
cli_store.register(app)  # db, runs, analyze
cli_serve.register(app)  # serve, keys
cli_template.register(app)  # template, estimate
cli_months.register(app)  # profiles (issue 15)
cli_robust.register(app)  # robust
cli_sweep.register(app)  # sweep


def _exit(code: int) -> NoReturn:
    """End the process with `code` once the command is done, skipping the interpreter's
    teardown when that is safe.

    Tearing down a process that has imported pandas, OR-Tools and pydantic (clearing ~900
    modules and freeing every object one by one) took 0.14-0.17 s after a province match on
    the benchmark machine, about a tenth of the run, and changes nothing the user sees.
    So: flush stdout and stderr, run the atexit handlers (weakref finalizers such as
    temporary folders, logging's flush, Dask's cluster shutdown are registered there), then
    `os._exit`. With other threads still running (whose end the normal exit would wait for),
    or when the streams cannot be flushed, the normal `sys.exit` is used.
    """
    import atexit
    import os
    import threading

    if threading.active_count() == 1:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed or broken stream: exit the normal way
            sys.exit(code)
        atexit._run_exitfuncs()
        if threading.active_count() == 1:  # an exit handler may have started one
            os._exit(code)
    sys.exit(code)


# young-generation threshold of the cyclic garbage collector for a command (CPython's
# default is 700): a province match allocates lists and object arrays of hundreds of
# thousands of cells, and the default made ~200 collections costing 90-130 ms of a
# 1.5 s run; at 10,000 it is ~12 collections and 20-45 ms. Garbage without cycles is
# freed at once whatever the threshold, so peak memory does not move.
GC_YOUNG_THRESHOLD = 10_000


# glibc malloc for a command (mallopt(3)): blocks up to 8 MiB come from the heap, and up to
# 16 MiB freed at its top stay mapped. By default glibc maps a block over its dynamic
# threshold on its own and returns freed heap top above twice that threshold, so the next
# array of that size faults its pages in again; a province match allocates thousands of
# 1-5 MB arrays, and the defaults cost it 50-110 ms (measured with the same values as
# MALLOC_* variables). 32/64 MiB saved the same at the province but held ~50 MiB more peak
# RSS in one of two 30,000-enterprise runs; at 8/16 MiB the province holds 5 MiB more
# (199 against 194 MiB) and larger arrays (national runs) are mapped alone as before.
MALLOC_MMAP_THRESHOLD = 8 * 2**20
MALLOC_TRIM_THRESHOLD = 16 * 2**20


def _tune_malloc() -> None:
    """Set the glibc malloc parameters above on Linux; nothing elsewhere (Windows and macOS
    have no `mallopt`; musl accepts and ignores it)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    mallopt(m_mmap_threshold, MALLOC_MMAP_THRESHOLD)
    mallopt(m_trim_threshold, MALLOC_TRIM_THRESHOLD)


def reflowed(doc: str) -> str:
    """A docstring's paragraphs each on one line: rich keeps every newline of a command's
    help, which broke `--help` mid-sentence where the source wraps at 100 columns."""
    paragraphs = (" ".join(line.strip() for line in block.splitlines())
                  for block in re.split(r"\n\s*\n", doc.strip()))
    return "\n\n".join(p for p in paragraphs if p)


def command_group() -> _LazyGroup:
    """The click group `main` runs: `app`'s own settings and help, with every registered
    command and sub-group left to build on first lookup (`_LazyGroup`)."""
    from typer.main import (
        get_command_from_info,
        get_command_name,
        get_group,
        get_group_from_info,
    )

    commands, groups = app.registered_commands, app.registered_groups
    app.registered_commands, app.registered_groups = [], []
    try:
        group = get_group(app)
    finally:
        app.registered_commands, app.registered_groups = commands, groups
    assert isinstance(group, _LazyGroup)
    short, markup = app.pretty_exceptions_short, app.rich_markup_mode
    def command(info: Any) -> Any:
        return get_command_from_info(_with_help(info), pretty_exceptions_short=short,
                                     rich_markup_mode=markup)

    def sub_group(sub: Any) -> Any:
        for info in sub.typer_instance.registered_commands:
            _with_help(info)
        return get_group_from_info(sub, pretty_exceptions_short=short,
                                   rich_markup_mode=markup,
                                   suggest_commands=app.suggest_commands)

    for info in commands:
        assert info.callback is not None
        name = info.name or get_command_name(info.callback.__name__)
        group.pending[name] = partial(command, info)
    for sub in groups:
        assert sub.typer_instance is not None
        group.pending[str(sub.name or sub.typer_instance.info.name)] = partial(sub_group, sub)
    return group


def _with_help(info: Any) -> Any:
    """A typer command registration with its help set, unless given, to its docstring's
    paragraphs rewrapped (`reflowed`); done when the command is built."""
    if info.help is None and info.callback is not None:
        info.help = reflowed(inspect.getdoc(info.callback) or "")
    return info


def main() -> None:
    """Console-script entry point: map the engine's errors to exit codes in one place."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    _tune_malloc()
    try:
        code = command_group()(standalone_mode=False)
    except InvalidDataError as exc:
        print_problems(exc.problems, err_console)
        errors = sum(p.severity == "error" for p in exc.problems)
        err_console.print(f"{errors} error(s): nothing was written", style="red")
        _exit(1)
    except SymbiosisError as exc:
        err_console.print(f"error: {exc}", style="red", markup=False)
        _exit(1)
    except typer.Exit as exc:
        _exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted", style="red")
        _exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        # duck-typed: click.ClickException, or typer's vendored copy (typer >= 0.20 no
        # longer installs click, so `import click` is not an option)
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            _exit(exit_code)
        raise
    _exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
