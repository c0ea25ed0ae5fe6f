"""`symbiosis robust`: the plan under uncertain volumes (`matching.robust`), and the two
options every parallel command shares, `--scheduler` and `--workers` (`matching.distributed`).

Registered on the main command by one line in `api.cli` (`cli_robust.register(app)`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from symbiosis.api.cli_common import (
    DatasetArg,
    LangOpt,
    Quiet,
    Top,
    err_console,
    fmt,
    out_console,
    pct,
    spinner,
    with_match_options,
)
from symbiosis.api.cli_common import Lang as _Lang
from symbiosis.matching.options import MatchOptions

__all__ = ["SchedulerOpt", "WorkersOpt", "register", "robust"]

SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler", envvar="SYMBIOSIS_SCHEDULER", show_default=False,
    help="Run the independent solves as tasks on this Dask scheduler, e.g. "
         "tcp://10.0.0.5:8786 (default: $SYMBIOSIS_SCHEDULER, else in this process).")]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=1, max=256, show_default=False,
    help="Start a local Dask cluster of this many worker processes for the independent "
         "solves (default: one after another in this process).")]


def _kpi_table(result_kpis: dict[str, dict[str, float | None]], official: bool,
               lang: str) -> Table:
    from symbiosis.i18n import t

    table = Table(title=t("robust.kpis", lang), title_justify="left")
    for col in ("", "robust.nominal", "P10", "P50", "P90"):
        table.add_column(t(col, lang) if col.startswith("robust.") else col,
                         justify="left" if not col else "right")
    rate_key = "robust.bulk_rate_official" if official else "robust.bulk_rate_listed"
    for name, label, show in (
            ("bulk_rate", t(rate_key, lang), pct),
            ("share_matched", t("robust.share_matched", lang), pct),
            ("tonnes_matched", t("robust.tonnes_matched", lang), fmt),
            ("tonne_km", t("robust.tonne_km", lang), fmt)):
        d = result_kpis[name]
        table.add_row(label, *(show(d[k]) for k in ("nominal", "p10", "p50", "p90")))
    return table


def robust(
    dataset: DatasetArg,
    options: MatchOptions,
    samples: Annotated[int, typer.Option("--samples", min=1, max=100_000,
                                         help="Sampled years to solve.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampling.")] = 0,
    distribution: Annotated[str, typer.Option(
        "--distribution", help="How a year's volume scatters around the listed one, mean "
                               "kept: lognormal, normal (cut at 0) or uniform.")]
    = "lognormal",
    cv: Annotated[float, typer.Option(
        "--cv", min=0.0, help="Coefficient of variation of each listed quantity without its "
                              "own cv column (0.25: volumes vary 20-30 % a year).")] = 0.25,
    reliability: Annotated[float, typer.Option(
        "--reliability", min=0.01, max=1.0,
        help="Share of samples a robust exchange's contracted quantity is carried in.")]
    = 0.8,
    vary: Annotated[str, typer.Option("--vary", help="Sample offers, needs or both.")]
    = "both",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: symbiosis-out/<dataset>-robust).")]
    = None,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    top: Top = 15,
    lang: LangOpt = _Lang.en,
    quiet: Quiet = False,
) -> None:
    """Sample the offered and needed volumes, solve every sample, and say which exchanges
    hold up: robust.csv (per exchange: share of samples using it, P10/P50/P90, firm
    quantity, robust or not) and robust.json (KPI distributions, the robust plan).

    Example: [bold]symbiosis robust data/hunan --samples 200 --seed 1 --workers 2[/bold]
    """
    from symbiosis.api.staging import staged_folder
    from symbiosis.dataset import load_dataset
    from symbiosis.errors import OptionsError
    from symbiosis.i18n import t
    from symbiosis.jsonio import atomic_write_text
    from symbiosis.matching.distributed import open_engine
    from symbiosis.matching.robust import RobustOptions, robust_plan
    from symbiosis.tabular import frame_csv_text

    try:
        settings = RobustOptions(samples=samples, seed=seed, distribution=distribution,  # type: ignore[arg-type]
                                 cv=cv, reliability=reliability, vary=vary)
    except OptionsError as exc:
        field, message = exc.problems[0]
        raise typer.BadParameter(message, param_hint=f"'--{field}'") from None
    out_dir = out if out is not None else \
        Path("symbiosis-out") / f"{dataset.stem or 'dataset'}-robust"
    with spinner(t("robust.solving", lang.value, n=samples)):
        data = load_dataset(dataset)
        with open_engine(scheduler, workers) as engine:
            result = robust_plan(data, options, settings, engine)
        with staged_folder(out_dir) as staged:
            atomic_write_text(staged / "robust.csv", frame_csv_text(result.exchanges))
            atomic_write_text(staged / "robust_samples.csv", frame_csv_text(result.samples))
            atomic_write_text(staged / "robust.json", json.dumps(
                result.as_dict(), indent=2, ensure_ascii=False) + "\n")
    if quiet:
        return
    out_console.print(_kpi_table(result.kpis, result.official, lang.value))
    plan = result.plan
    out_console.print(t("robust.plan_line", lang.value, robust=plan["exchanges"],
                        plain=plan["plain_plan_exchanges"],
                        share=pct(plan["samples_carrying_whole_plan"]),
                        p=pct(settings.reliability)))
    ex = Table(title=t("robust.exchanges", lang.value), title_justify="left")
    for col in ("supplier", "receiver", "material", "used", "p50", "firm"):
        figure = col in ("used", "p50", "firm")  # figures on one line; ids fold, never cut
        ex.add_column(t(f"robust.col_{col}", lang.value), no_wrap=figure,
                      overflow="ellipsis" if figure else "fold",
                      justify="right" if figure else "left")
    for row in result.exchanges.head(top).itertuples():
        ex.add_row(str(row.offer_enterprise_id), str(row.need_enterprise_id),
                   str(row.offer_material), pct(row.used_share), fmt(row.p50),
                   fmt(row.firm_quantity))
    out_console.print(ex)
    for note in result.notes:
        err_console.print(f"note: {note}", style="yellow", markup=False)
    out_console.print(t("robust.written", lang.value, out=str(out_dir),
                        seconds=f"{result.seconds:.1f}", engine=result.engine))


def register(app: typer.Typer) -> None:
    """Add `robust` to the main command (once)."""
    if any(c.name == "robust" for c in app.registered_commands):
        return
    app.command("robust")(with_match_options(execution=("jobs",))(robust))
