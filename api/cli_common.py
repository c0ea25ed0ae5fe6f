"""What every `symbiosis` command shares: the consoles, number formats, the common arguments,
the demo's location, and the run options derived from `MatchOptions`.

The command modules (`cli`, `cli_geo`, `cli_store`, `cli_serve`) import from here and never
from each other's private names, so the CLI has no import cycles. Nothing heavy is imported
at module level: `symbiosis --help` answers at once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from enum import Enum, StrEnum
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import typer
from rich.console import Console

from symbiosis.errors import OptionsError, Problem

__all__ = ["AsJson", "DatasetArg", "Lang", "LangOpt", "Quiet", "Top", "demo_dataset_path",
           "err_console", "fmt", "out_console", "pct", "print_problems", "spinner",
           "with_match_options"]

# no emoji codes: a name or a path such as "E:ok:" is printed as written (and the emoji
# table, 2.4 ms to import, stays unloaded)
out_console = Console(highlight=False, emoji=False)
err_console = Console(stderr=True, highlight=False, emoji=False)


class _NoSpinner:
    """What `spinner` gives where no spinner can show: `update` and the context do nothing."""

    def __enter__(self) -> _NoSpinner:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, status: str) -> None:
        """Nothing to redraw."""


def spinner(text: str) -> AbstractContextManager[Any]:
    """A "working ..." spinner on stderr (rich's `Status`, its text changed by `update`)
    when stderr is a terminal. Elsewhere (a pipe, a log file, CI) rich would draw nothing
    but still run its refresh thread, 12 wake-ups a second, and import its live-display
    modules: about 10 ms of a province match piped to a file (measured); there the
    spinner is a no-op."""
    if not err_console.is_terminal:
        return _NoSpinner()
    return err_console.status(text, spinner="dots")


class Lang(StrEnum):
    """Report languages."""

    zh = "zh"
    en = "en"


DatasetArg = Annotated[Path, typer.Argument(
    help="A folder of CSV files (enterprises.csv, offers.csv, needs.csv, optional "
         "substitutions.csv, distances.csv) or an .xlsx workbook with the same sheets.",
    show_default=False)]
LangOpt = Annotated[Lang, typer.Option("--lang", help="Language of the reports.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print summary.json to stdout "
                                                     "instead of tables.")]
Top = Annotated[int, typer.Option("--top", min=0, help="Rows in the report's tables.")]


def demo_dataset_path() -> Path:
    """The bundled Hunan demo dataset, installed or in a source checkout."""
    try:
        path = Path(str(resources.files("symbiosis.demo").joinpath("hunan")))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[1] / "data" / "hunan"


def print_problems(problems: list[Problem], console: Console) -> None:
    """Each problem on its own line: errors red, warnings yellow."""
    for p in problems:
        style = "yellow" if p.severity == "warning" else "red"
        console.print(str(p), style=style, markup=False, highlight=False, soft_wrap=True)


def fmt(value: float | None, digits: int = 0) -> str:
    """Thousands separators, `digits` decimals; '-' for a missing value (None, or NaN: a
    table column such as an exchange's saving is NaN where the dataset gives no costs)."""
    if value is None or value != value:
        return "-"
    return f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal; '-' for a missing value (None, NaN)."""
    return "-" if value is None or value != value else f"{100 * value:.1f} %"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _cli_type(annotation: Any) -> Any:
    """The type typer parses a MatchOptions field as (the model then validates the value):
    the field's own type with `Annotated` metadata and `None` stripped; the weights tuple is
    read as its text form (`cost=1,co2=80`)."""
    args = [a for a in get_args(annotation) if a is not type(None)] \
        if get_origin(annotation) in (Union, UnionType) else [annotation]
    base = args[0]
    if get_origin(base) is Annotated:
        base = get_args(base)[0]
    if base is bool:
        return bool
    if isinstance(base, type) and issubclass(base, Enum):
        return base
    if base in (int, float):
        return base | None
    return str | None


def with_match_options(*, exclude: tuple[str, ...] = (),
                       execution: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]],
                                                                    Callable[..., Any]]:
    """Add the `MatchOptions` fields to a command as flags (`max_km` -> `--max-km`, help and
    default from the field) and call it with `options=` a validated `MatchOptions`.

    The CLI and the HTTP API thus accept the same values: the bounds live in the model only.
    `exclude` leaves model fields out (a command that fixes them); `execution` adds fields
    of MatchOptions beyond the model's parameters (e.g. `jobs`). An out-of-bounds value is a
    usage error (exit 2) naming its flag.
    """
    from symbiosis.matching.options import MatchOptions, MatchParameters

    names = [n for n in MatchParameters.model_fields if n not in exclude] + list(execution)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command)
        # resolve the command's own annotations (strings under `from __future__ import
        # annotations`) in its module; `options` is replaced by the flags below
        scope = getattr(command, "__globals__", {})
        own = [p.replace(annotation=eval(p.annotation, scope)
                         if isinstance(p.annotation, str) else p.annotation)
               for p in signature.parameters.values() if p.name != "options"]
        added = []
        for name in names:
            info = MatchOptions.model_fields[name]
            kind = _cli_type(info.annotation)
            default = info.default
            if kind is bool:  # both spellings: a default of True or None can be turned off
                option = typer.Option(f"{_flag(name)}/--no-{_flag(name)[2:]}",
                                      help=info.description, show_default=False)
            else:
                option = typer.Option(_flag(name), help=info.description,
                                      show_default=default not in (None, ()))
                default = None if default == () else default
            added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                           default=default,
                                           annotation=Annotated[kind, option]))

        def run(**kwargs: Any) -> Any:
            values = {n: kwargs.pop(n) for n in names}
            values = {n: v for n, v in values.items() if v is not None}
            try:
                options = MatchOptions(**values)
            except OptionsError as exc:
                field, message = exc.problems[0]
                # a rule between fields (objective and weights) is reported at --weights
                flag = _flag(field) if field in names else "--weights"
                raise typer.BadParameter(message, param_hint=f"'{flag}'") from None
            return command(options=options, **kwargs)

        run.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=own + added)
        run.__name__ = command.__name__
        run.__qualname__ = command.__qualname__
        run.__doc__ = command.__doc__
        run.__module__ = command.__module__
        return run

    return decorate
