"""Store and network commands: `symbiosis db …`, `symbiosis runs …`, `symbiosis analyze`,
and the run recording behind `symbiosis match --save`.

The store is picked by `--store URL` (sqlite:///path, neo4j://host:7687, bolt://host:7687),
else the SYMBIOSIS_STORE environment variable, else a SQLite file under ~/.local/share.
Errors go through `api.cli.main` like every other command's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from symbiosis.api import cli_robust
from symbiosis.api.cli_common import (
    DatasetArg,
    Top,
    err_console,
    fmt,
    out_console,
    pct,
    print_problems,
    spinner,
    with_match_options,
)
from symbiosis.i18n import t as words
from symbiosis.matching.options import MatchOptions
from symbiosis.matching.summary import stored_headline

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset
    from symbiosis.matching.result import MatchResult
    from symbiosis.store import Repository, RunInfo

__all__ = ["analyze", "db_app", "register", "runs_app", "save_run"]

db_app = typer.Typer(help="The store: import a dataset, export it, list runs.",
                     no_args_is_help=True)
runs_app = typer.Typer(help="Stored match runs: list, show, diff.", no_args_is_help=True)

StoreOpt = Annotated[str | None, typer.Option(
    "--store", help="sqlite:///path/to.db, neo4j://host:7687 or bolt://host:7687 "
                    "(default: $SYMBIOSIS_STORE, else ~/.local/share/symbiosis/symbiosis.db). "
                    "Bolt credentials: bolt://user:password@host:7687/database or "
                    "SYMBIOSIS_NEO4J_USER / SYMBIOSIS_NEO4J_PASSWORD / SYMBIOSIS_NEO4J_DATABASE.",
    show_default=False)]
RunArg = Annotated[int, typer.Argument(help="Run number (see `symbiosis runs list`).",
                                       show_default=False)]


def _open(store: str | None) -> Repository:
    from symbiosis.store import open_store

    return open_store(store)


def save_run(dataset: Dataset, result: MatchResult, store: str | None) -> RunInfo:
    """Record `result` in the store; the dataset is imported first unless the store's
    current version already holds exactly this data (same content hash)."""
    from symbiosis.store import RunRecord, rows_from_dataset

    digest = rows_from_dataset(dataset).content_hash()
    with _open(store) as repo:
        version = repo.current_version()
        if version is None or version.hash != digest:  # compare-and-swap on what was read
            version = repo.import_dataset(
                dataset, expected_version=version.version if version is not None else 0)
        record = RunRecord.from_result(result, digest)
        record = RunRecord(record.parameters, digest, record.summary, record.exchanges,
                           version=version.version)
        return repo.save_run(record)


# ----------------------------------------------------------------------------- db


@db_app.command("init")
def db_init(store: StoreOpt = None) -> None:
    """Create the store (or migrate it to the current schema) and say where it is."""
    with _open(store) as repo:
        version = repo.current_version()
        out_console.print(f"Store ready: [bold]{repo.url}[/bold]")
        if version is None:
            out_console.print("It holds no dataset yet: symbiosis db import DATASET")
        else:
            out_console.print(f"Current dataset: version {version.version} "
                              f"({version.enterprises:,} enterprises), {len(repo.runs())} runs")


@db_app.command("import")
def db_import(dataset: DatasetArg, store: StoreOpt = None,
              expect_version: Annotated[int | None, typer.Option(
                  "--expect-version", min=0, show_default=False,
                  help="Import only if the store is still at this version (0: empty), as "
                       "`symbiosis db history` showed it. Default: the version current when "
                       "the command starts, so a write made while the dataset is checked "
                       "(an API edit, another import) is never silently replaced.")] = None
              ) -> None:
    """Validate DATASET, then make it the store's current data as a new version (all or
    nothing: a bad dataset writes nothing; a store that changed meanwhile writes nothing and
    says so, exit 1)."""
    from symbiosis.dataset import load_dataset
    from symbiosis.store import StoreConflictError

    if expect_version is None:
        with _open(store) as repo:  # the version this import replaces, before the slow part
            current = repo.current_version()
        expect_version = current.version if current is not None else 0
    data = load_dataset(dataset)  # InvalidDataError before anything is written
    if data.warnings:
        print_problems(list(data.warnings), err_console)
    t0 = time.perf_counter()
    with _open(store) as repo:
        try:
            version = repo.import_dataset(data, source=str(dataset),
                                          expected_version=expect_version)
        except StoreConflictError:
            now = repo.current_version()
            raise StoreConflictError(
                f"nothing imported: the store {repo.url} is at version "
                f"{now.version if now else 0} ({now.source if now else 'empty'}), not "
                f"{expect_version}: another writer changed it while {dataset} was being "
                "checked. Look at `symbiosis db history`, then import again (or pass "
                "--expect-version with the version you mean to replace)") from None
        url = repo.url
        parks = len(repo.parks())
    out_console.print(f"Imported [bold]{dataset}[/bold] into {url} as version "
                      f"{version.version}: {version.enterprises:,} enterprises, "
                      f"{version.offers:,} offers, {version.needs:,} needs, {parks} parks "
                      f"({time.perf_counter() - t0:.2f} s); it replaced version "
                      f"{expect_version}")


@db_app.command("export")
def db_export(out: Annotated[Path, typer.Argument(help="Folder to write the CSV files to.",
                                                  show_default=False)],
              store: StoreOpt = None) -> None:
    """Write the store's current dataset as a folder of CSV files (a valid dataset)."""
    from symbiosis.store import write_dataset_folder

    with _open(store) as repo:
        rows = repo.dataset_rows()
        version = repo.current_version()
    written = write_dataset_folder(rows, out)
    label = f"version {version.version}" if version else "the current dataset"
    out_console.print(f"Exported {label} to [bold]{out}[/bold]: "
                      + ", ".join(p.name for p in written))


@db_app.command("history")
def db_history(store: StoreOpt = None) -> None:
    """Every import: version, when, from where, how many rows, content hash."""
    with _open(store) as repo:
        versions = repo.versions()
        current = repo.current_version()
    t = Table(title="Dataset versions", title_justify="left")
    for col in ("version", "imported (UTC)", "source", "enterprises", "offers", "needs",
                "hash"):
        t.add_column(col, justify="right" if col in ("enterprises", "offers", "needs")
                     else "left")
    for v in versions:
        mark = " *" if current is not None and v.version == current.version else ""
        t.add_row(f"{v.version}{mark}", v.imported_at[:16].replace("T", " "), v.source,
                  f"{v.enterprises:,}", f"{v.offers:,}", f"{v.needs:,}", v.hash[:12])
    out_console.print(t)


@db_app.command("runs")
def db_runs(store: StoreOpt = None) -> None:
    """List stored match runs (same as `symbiosis runs list`)."""
    runs_list(store)


@db_app.command("show")
def db_show(run: RunArg, store: StoreOpt = None, top: Top = 15) -> None:
    """Show one stored run (same as `symbiosis runs show`)."""
    runs_show(run, store, top)


# ----------------------------------------------------------------------------- runs


@runs_app.command("list")
def runs_list(store: StoreOpt = None) -> None:
    """Every stored run: when, on which dataset version, parameters and headline KPIs."""
    with _open(store) as repo:
        runs = repo.runs()
    t = Table(title="Match runs", title_justify="left")
    for col in ("run", "created (UTC)", "version", "max km", "exchanges", "matched t",
                "utilization"):
        t.add_column(col, justify="left" if col in ("created (UTC)",) else "right")
    for r in runs:
        max_km = r.parameters.get("max_km")
        h = stored_headline(r.summary)
        t.add_row(str(r.id), r.created_at[:16].replace("T", " "), str(r.version or "-"),
                  "default" if max_km is None else f"{max_km:g}", f"{r.exchanges:,}",
                  fmt(h.tonnes_matched), pct(h.utilization_rate))
    out_console.print(t)
    if not runs:
        out_console.print("No runs yet: symbiosis match DATASET --save")


@runs_app.command("show")
def runs_show(run: RunArg, store: StoreOpt = None, top: Top = 15) -> None:
    """One run: parameters, KPIs and its largest exchanges."""
    with _open(store) as repo:
        record = repo.run(run)
    head = Table(title=f"Run {record.id}", show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    head.add_row("Created (UTC)", record.created_at[:19].replace("T", " "))
    head.add_row("Dataset", f"version {record.version}, hash {record.dataset_hash[:12]}")
    for key in ("max_km", "circuity", "objective", "method"):
        if key in record.parameters:
            head.add_row(key, str(record.parameters[key]))
    s = stored_headline(record.summary)
    head.add_row("Exchanges", f"{len(record.exchanges):,}")
    head.add_row("Solid by-product matched", f"{fmt(s.tonnes_matched)} of "
                 f"{fmt(s.tonnes_offered)} t/yr")
    head.add_row(words("kpi.utilization_rate"), pct(s.utilization_rate))
    head.add_row("Transport", f"{fmt(s.tonne_km)} t·km")
    out_console.print(head)
    ex = sorted(record.exchanges, key=lambda x: -float(x["quantity"]))[:top]
    if ex:
        t = Table(title=f"Largest exchanges (top {len(ex)} of {len(record.exchanges)})",
                  title_justify="left")
        for col in ("from", "to", "material", "quantity", "km"):
            t.add_column(col, justify="right" if col in ("quantity", "km") else "left")
        for x in ex:
            mat = x["offer_material"] if x["offer_material"] == x["need_material"] \
                else f"{x['offer_material']} -> {x['need_material']}"
            t.add_row(x["offer_enterprise_id"], x["need_enterprise_id"], mat,
                      fmt(x["quantity"]), fmt(x["distance_km"], 1))
        out_console.print(t)


@runs_app.command("diff")
def runs_diff(before: Annotated[int, typer.Argument(help="The earlier run.")],
              after: Annotated[int, typer.Argument(help="The later run.")],
              store: StoreOpt = None,
              as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
              ) -> None:
    """Which exchanges appeared, vanished or changed between two runs."""
    from symbiosis.store import diff_runs

    with _open(store) as repo:
        a, b = repo.run(before), repo.run(after)
    rows = diff_runs(a, b)
    if as_json:
        out_console.print_json(json.dumps(rows))
        return
    counts = {c: sum(r["change"] == c for r in rows) for c in ("appeared", "vanished",
                                                               "changed")}
    ha, hb = stored_headline(a.summary), stored_headline(b.summary)
    out_console.print(f"Run {before} -> run {after}: {counts['appeared']} appeared, "
                      f"{counts['vanished']} vanished, {counts['changed']} changed; "
                      f"matched {fmt(ha.tonnes_matched)} -> {fmt(hb.tonnes_matched)} t/yr, "
                      f"utilization {pct(ha.utilization_rate)} -> {pct(hb.utilization_rate)}")
    if rows:
        t = Table(title="Changed exchanges", title_justify="left")
        for col in ("change", "from", "to", "material", "before", "after"):
            t.add_column(col, justify="right" if col in ("before", "after") else "left")
        for r in rows:
            mat = r["offer_material"] if r["offer_material"] == r["need_material"] \
                else f"{r['offer_material']} -> {r['need_material']}"
            t.add_row(r["change"], r["offer_enterprise_id"], r["need_enterprise_id"], mat,
                      fmt(r["quantity_before"]), fmt(r["quantity_after"]))
        out_console.print(t)


# ----------------------------------------------------------------------------- analyze


def _chart(report: dict[str, Any], dataset: Dataset, path: Path) -> None:
    """network.png: the exchange network on its map (left), keystones (right); drawn by
    `api.report.plots.network_figure` (basemap, legends, labels without overlap)."""
    from symbiosis.api.report.plots import write_network_png

    ent = dataset.enterprises
    ids = ent.index.astype(str)
    write_network_png(path, report, dict(zip(ids, ent["lon"].astype(float), strict=True)),
                      dict(zip(ids, ent["lat"].astype(float), strict=True)),
                      [(str(a), str(b)) for a, b in report.get("_edges", [])])


@with_match_options(execution=("jobs",))
def analyze(
    dataset: DatasetArg,
    options: MatchOptions,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: symbiosis-out/<dataset>-analysis).")
    ] = None,
    top: Top = 10,
    scheduler: cli_robust.SchedulerOpt = None,
    workers: cli_robust.WorkersOpt = None,
) -> None:
    """Read the network of DATASET's optimal match: size, keystones, loops, chains.

    Density and connectance, central enterprises, keystones (the match re-solved without
    each one), closed loops and chains; writes analysis.json and network.png.

    Example: [bold]symbiosis analyze data/hunan --out analysis[/bold]
    """
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.candidates import candidates_for
    from symbiosis.matching.distributed import open_engine
    from symbiosis.matching.model import solve_match
    from symbiosis.matching.network import analyze_network, exchange_graph

    out_dir = out if out is not None else Path("symbiosis-out") / f"{dataset.stem}-analysis"
    with spinner("Solving and analysing ..."):
        data = load_dataset(dataset)
        result = solve_match(data, options)
        cand = candidates_for(data, options)
        with open_engine(scheduler, workers) as engine:
            # an engine only when asked: else the keystones' own process pool (--jobs)
            report = analyze_network(data, result, options, jobs=options.jobs, cand=cand,
                                     engine=engine if scheduler or workers else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "analysis.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    graph = exchange_graph(result.exchanges)
    _chart({**report, "_edges": list(graph.edges)}, data, out_dir / "network.png")
    _print_analysis(report, top)
    out_console.print(f"Written to [bold]{out_dir}[/bold]: analysis.json, network.png")


def _print_analysis(report: dict[str, Any], top: int) -> None:
    net, cand = report["exchange_network"], report["candidate_network"]
    head = Table(title="Symbiosis network", title_justify="left")
    for col in ("", "exchanges (optimal)", "candidates (possible)"):
        head.add_column(col, justify="left" if not col else "right")
    head.add_row("Enterprises in the network", f"{net['nodes']:,} of {net['enterprises']:,}",
                 f"{cand['nodes']:,}")
    head.add_row("Supplier -> receiver links", f"{net['edges']:,}", f"{cand['edges']:,}")
    head.add_row("Density", f"{net['density']:.4f}", f"{cand['density']:.4f}")
    head.add_row("Connectance (L/S²)", f"{net['connectance']:.5f}",
                 f"{cand['connectance']:.5f}")
    head.add_row("Separate clusters", f"{net['components']:,}", f"{cand['components']:,}")
    head.add_row("Closed loops / chains", f"{net['cycles']:,} / {net['chains']:,}", "")
    head.add_row(words("kpi.utilization_rate"), pct(net["utilization_rate"]), "")
    out_console.print(head)

    k = Table(title="Keystone enterprises (re-solved without each)", title_justify="left",
              caption="share after: solids matched ÷ listed by the others; a negative drop "
                      "means the share rose, the enterprise's own listings having left the "
                      "base along with the tonnes lost", caption_justify="left")
    for col in ("#", "enterprise", "name", "t/yr lost", "share after", "drop"):
        if col == "name":  # one line each, cut with an ellipsis
            k.add_column(col, overflow="ellipsis", no_wrap=True, max_width=20)
        else:  # ids and figures are never cut
            k.add_column(col, justify="left" if col == "enterprise" else "right",
                         no_wrap=True)
    for row in report["keystones"][:top]:
        k.add_row(str(row["rank"]), row["enterprise_id"], row["name"],
                  fmt(row["tonnes_lost"]), pct(row["utilization_after"]),
                  "-" if row["utilization_drop_pp"] is None
                  else f"{row['utilization_drop_pp']:.1f} pp")
    out_console.print(k)

    c = Table(title="Most central enterprises", title_justify="left")
    for col in ("enterprise", "in", "out", "betweenness", "partners", "materials",
                "diversity H"):
        c.add_column(col, justify="left" if col == "enterprise" else "right")
    for row in report["enterprises"][:top]:
        c.add_row(row["enterprise_id"], str(row["in_degree"]), str(row["out_degree"]),
                  f"{row['betweenness']:.4f}", str(row["partners"]), str(row["materials"]),
                  f"{row['shannon']:.2f}")
    out_console.print(c)
    for title, items, closed in (("Closed loops", report["cycles"], True),
                                 ("Chains", report["chains"], False)):
        if items:
            shown = [" -> ".join([*loop, loop[0]] if closed else loop)
                     for loop in items[:top]]
            more = f" (and {len(items) - top} more)" if len(items) > top else ""
            out_console.print(f"[bold]{title}[/bold]{more}:")
            for line in shown:
                out_console.print(f"  {line}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add `db`, `runs` and `analyze` to the main command (once)."""
    if any(group.name == "db" for group in app.registered_groups):
        return
    app.add_typer(db_app, name="db")
    app.add_typer(runs_app, name="runs")
    app.command("analyze")(analyze)
