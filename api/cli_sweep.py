"""`symbiosis sweep`: a grid or table of scenarios solved one after another or on Dask, one
CSV row per scenario with its KPIs, the official rate and how it was solved
(`matching.sweep`).

Registered on the main command by one line in `api.cli` (`cli_sweep.register(app)`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from symbiosis.api.cli_common import (
    DatasetArg,
    LangOpt,
    Quiet,
    fmt,
    out_console,
    pct,
    spinner,
    with_match_options,
)
from symbiosis.api.cli_common import Lang as _Lang
from symbiosis.api.cli_robust import SchedulerOpt, WorkersOpt
from symbiosis.matching.options import MatchOptions

__all__ = ["register", "sweep"]


def sweep(
    dataset: DatasetArg,
    options: MatchOptions,
    scenarios: Annotated[Path | None, typer.Option(
        "--scenarios", show_default=False,
        help="A CSV (a `scenario` column, one column per parameter) or JSON file (a list of "
             "objects) of scenarios.")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", show_default=False,
        help="A grid axis, name=v1,v2,... (repeat for a Cartesian grid): a run option "
             "(max_km, contract_cost, max_partners ...), offer:<id> or need:<id> (quantity), "
             "or remove (enterprise ids separated by ';').")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: symbiosis-out/<dataset>-sweep).")]
    = None,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    lang: LangOpt = _Lang.en,
    quiet: Quiet = False,
) -> None:
    """Solve a grid or table of scenarios and write sweep.csv: one row per scenario with
    its parameters, how it was solved (model milp/continuous, status, gap), the KPIs and
    the official rate (bulk_rate where bulk_official is true).

    Example: [bold]symbiosis sweep data/hunan --param contract_cost=0,20000,50000
    --param max_km=60,120 --objective cost --workers 2[/bold]
    """
    import pandas as pd

    from symbiosis.api.staging import staged_folder
    from symbiosis.dataset import load_dataset
    from symbiosis.i18n import t
    from symbiosis.jsonio import atomic_write_text
    from symbiosis.matching.distributed import open_engine
    from symbiosis.matching.sweep import grid_cases, read_cases, run_sweep
    from symbiosis.tabular import frame_csv_text

    if (scenarios is None) == (not param):
        raise typer.BadParameter(t("sweep.one_source", lang.value),
                                 param_hint="'--scenarios' / '--param'")
    out_dir = out if out is not None else \
        Path("symbiosis-out") / f"{dataset.stem or 'dataset'}-sweep"
    cases = read_cases(scenarios) if scenarios is not None else grid_cases(param or [])
    with spinner(t("sweep.solving", lang.value, n=len(cases))):
        data = load_dataset(dataset)
        with open_engine(scheduler, workers) as engine:
            table = run_sweep(data, cases, options, engine)
            engine_name = engine.name
        with staged_folder(out_dir) as staged:
            atomic_write_text(staged / "sweep.csv", frame_csv_text(table))
    if quiet:
        return
    view = Table(title=t("sweep.title", lang.value, n=len(table), engine=engine_name),
                 title_justify="left")
    for col in ("scenario", "model", "gap", "sweep.rate", "tonnes_matched", "saving_cny"):
        view.add_column(t(col, lang.value) if col.startswith("sweep.") else col,
                        justify="left" if col in ("scenario", "model") else "right")
    def known(value: object) -> float | None:
        return None if value is None or pd.isna(value) else float(str(value))

    for row in table.itertuples():
        view.add_row(str(row.scenario), str(row.model), pct(known(row.gap)),
                     pct(known(row.bulk_rate)), fmt(known(row.tonnes_matched)),
                     fmt(known(row.saving_cny)))
    out_console.print(view)
    out_console.print(t("sweep.written", lang.value, out=str(out_dir / "sweep.csv")))


def register(app: typer.Typer) -> None:
    """Add `sweep` to the main command (once)."""
    if any(c.name == "sweep" for c in app.registered_commands):
        return
    app.command("sweep")(with_match_options(execution=("jobs",))(sweep))
