"""Scenario sweeps from a table of parameters: one solve per scenario, one KPI row each.

A scenario is a set of named parameters (`name=value`):

| parameter        | meaning                                                            |
|------------------|--------------------------------------------------------------------|
| a run option     | any `MatchOptions` field (`max_km`, `circuity`, `contract_cost`,    |
|                  | `max_partners`, `objective`, `mip_gap` ...), validated as the CLI  |
|                  | flag is                                                            |
| `offer:<id>`     | the yearly quantity of that offer (`SetQuantity`)                  |
| `need:<id>`      | the yearly quantity of that need                                   |
| `remove`         | enterprise ids to take out, separated by `;` (blank: none)         |

Scenarios come from a file (CSV: a `scenario` column naming each row, every other column a
parameter, blank = not changed; JSON: a list of objects with an optional `scenario` name and
the parameters as keys) or as a grid, the Cartesian product of `--param name=v1,v2,...`.

Every scenario is checked before any is solved (unknown parameter, bad value, unknown id),
each problem named `file:row:column` (row as a spreadsheet shows it; `--param` for a grid).
Each is then solved by `solve_match` on the dataset after its changes, with the run's
options and its own, so it goes through the MILP (`matching.milp`) exactly when the data
or options ask for integer logistics; its row says which model solved it and the gap.
The scenarios are tasks of an `Engine` (`matching.distributed`): in this process by
default, or on Dask; the rows shipped to each worker once.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import ValidationError

from symbiosis.dataset import Dataset
from symbiosis.errors import InvalidDataError, OptionsError, Problem
from symbiosis.matching.options import MatchOptions, MatchParameters
from symbiosis.matching.scenario import (
    Change,
    RemoveEnterprise,
    SetQuantity,
    _apply,
    _scenario_task,
    solve_facts,
)
from symbiosis.store.records import DatasetRows, rows_from_dataset

if TYPE_CHECKING:
    from symbiosis.matching.distributed import Engine

__all__ = ["KPI_COLUMNS", "SweepCase", "grid_cases", "read_cases", "run_sweep"]

GRID = "--param"
KPI_COLUMNS = ["model", "status", "objective", "bound", "gap", "features",
               "utilization_rate", "tonnes_offered", "tonnes_matched", "tonnes_unmatched",
               "tonne_km", "exchanges", "saving_cny", "co2_net_t", "bulk_rate",
               "bulk_official", "bulk_baseline_rate", "bulk_target_met", "changes"]
_LISTING: dict[str, Literal["offer", "need"]] = {"offer": "offer", "need": "need"}


@dataclass(frozen=True)
class SweepCase:
    """One scenario: its name, its parameters as given (for the CSV), the option updates
    and the changes to the rows; `where` = (file, row) for messages."""

    name: str
    params: tuple[tuple[str, str], ...]
    options: tuple[tuple[str, str], ...]
    changes: tuple[Change, ...]
    where: tuple[str, int | None]
    # problems found while reading it, reported with every other by `run_sweep`
    problems: tuple[Problem, ...] = ()


def known_parameter(name: str) -> bool:
    """True for a run option, `offer:<id>`, `need:<id>` or `remove`."""
    kind, _, ident = name.strip().partition(":")
    return (name.strip() in MatchParameters.model_fields or name.strip() == "remove"
            or (kind in _LISTING and bool(ident.strip())))


def _case(name: str, params: Mapping[str, str], where: tuple[str, int | None]) -> SweepCase:
    """A case from text parameters; its problems named at `where` and the parameter
    (unknown parameters are the reader's to report, once)."""
    file, row = where
    options: list[tuple[str, str]] = []
    changes: list[Change] = []
    problems: list[Problem] = []
    for key, raw in params.items():
        value = str(raw).strip()
        name_ = key.strip()
        if name_ in MatchParameters.model_fields:
            if value != "":
                options.append((name_, value))
            continue
        kind, _, ident = name_.partition(":")
        if kind in _LISTING and ident:
            if value == "":
                continue
            try:
                quantity = float(value)
            except ValueError:
                problems.append(Problem(file, row, name_, f"'{value}' is not a number"))
                continue
            changes.append(SetQuantity(_LISTING[kind], ident.strip(), quantity))
            continue
        if name_ == "remove":
            changes.extend(RemoveEnterprise(e.strip()) for e in value.split(";") if e.strip())
    return SweepCase(name, tuple((k, str(v)) for k, v in params.items()), tuple(options),
                     tuple(changes), where, tuple(problems))


UNKNOWN = ("unknown parameter: give a run option (max_km, contract_cost ...), offer:<id>, "
           "need:<id> or remove")


def grid_cases(params: Sequence[str]) -> list[SweepCase]:
    """The Cartesian product of `name=v1,v2,...` texts (first parameter varies slowest).

    Raises:
        InvalidDataError: a text without `=` or values, a parameter given twice, or an
            unknown parameter (file `--param`, column the parameter). Bad values are the
            cases' `problems`, reported by `run_sweep` with every other.
    """
    problems: list[Problem] = []
    axes: list[tuple[str, list[str]]] = []
    for text in params:
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            problems.append(Problem(GRID, None, text, "give name=v1,v2,... e.g. "
                                    "contract_cost=0,20000"))
            continue
        if any(name == n for n, _ in axes):
            problems.append(Problem(GRID, None, name, "parameter given twice"))
            continue
        if not known_parameter(name):
            problems.append(Problem(GRID, None, name, UNKNOWN))
            continue
        axes.append((name, [v.strip() for v in values.split(",")]))
    if problems:
        raise InvalidDataError(problems)
    cases: list[SweepCase] = []
    for k, combo in enumerate(itertools.product(*(v for _, v in axes)), start=1):
        params_k = {n: v for (n, _), v in zip(axes, combo, strict=True)}
        label = ",".join(f"{n}={v}" for n, v in params_k.items())
        cases.append(_case(label or f"scenario {k}", params_k, (GRID, None)))
    return cases


def read_cases(path: Path) -> list[SweepCase]:
    """Scenarios from a CSV (header row, a `scenario` column, one scenario per row) or a
    JSON file (a list of objects).

    Raises:
        InvalidDataError: an unreadable file or no scenario. Unknown parameters (CSV: at
            the header, row 1; JSON: at the object, row = position in the list from 1)
            and bad values are the cases' `problems`, reported by `run_sweep` with every
            other problem before anything is solved.
    """
    label = str(path)
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidDataError([Problem(label, None, None, f"cannot be read: {exc}")]) \
            from None
    records: list[tuple[int, dict[str, str]]] = []
    if _is_json(path):
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidDataError([Problem(label, exc.lineno, None,
                                            f"not JSON: {exc.msg}")]) from None
        if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
            raise InvalidDataError([Problem(label, None, None, "give a list of objects, "
                                            "one per scenario")])
        records = [(i, {str(k): "" if v is None else str(v) for k, v in r.items()})
                   for i, r in enumerate(body, start=1)]
    else:
        reader = csv.DictReader(text.splitlines())
        records = [(i, {k: v or "" for k, v in r.items() if k is not None})
                   for i, r in enumerate(reader, start=2)]
    if not records:
        raise InvalidDataError([Problem(label, None, None, "lists no scenario")])
    cases: list[SweepCase] = []
    reported: set[str] = set()
    for row, record in records:
        name = record.pop("scenario", "").strip() or f"scenario {len(cases) + 1}"
        for key in record:
            if not known_parameter(key) and key not in reported:
                problems.append(Problem(label, 1 if row > 1 and not _is_json(path) else row,
                                        key, UNKNOWN))
                if not _is_json(path):
                    reported.add(key)
        cases.append(_case(name, {k: v for k, v in record.items() if known_parameter(k)},
                           (label, row)))
    # reported by run_sweep with every other problem, once
    return [replace(cases[0], problems=(*problems, *cases[0].problems)), *cases[1:]]


def _is_json(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def _options(base: MatchOptions, case: SweepCase) -> MatchOptions:
    """The run's options with the case's updates, validated as the CLI validates flags.

    Raises:
        InvalidDataError: a value the option refuses, at the case's file:row:column.
    """
    if not case.options:
        return base
    body = base.model_dump()
    body.update(dict(case.options))
    try:
        return MatchOptions.model_validate(body)
    except (ValidationError, OptionsError) as exc:
        file, row = case.where
        if isinstance(exc, OptionsError):
            raise InvalidDataError([Problem(file, row, f, m) for f, m in exc.problems]) \
                from None
        raise InvalidDataError([
            Problem(file, row, ".".join(str(p) for p in e["loc"]) or None,
                    e["msg"]) for e in exc.errors()]) from None


def _check(rows: DatasetRows, cases: Sequence[SweepCase],
           base: MatchOptions) -> list[MatchOptions]:
    """Every case's options and changes checked before anything is solved."""
    problems: list[Problem] = []
    options: list[MatchOptions] = []
    for case in cases:
        problems.extend(case.problems)
        try:
            options.append(_options(base, case))
        except InvalidDataError as exc:
            problems.extend(exc.problems)
        applied = _apply(rows, case.changes)
        file, row = case.where
        problems.extend(Problem(file, row, _change_column(case, p), p.message)
                        for p in applied.problems)
    if problems:
        raise InvalidDataError(problems)
    return options


def _change_column(case: SweepCase, problem: Problem) -> str | None:
    """The parameter behind the change a problem names (`changes` row = change index)."""
    index = problem.row
    if index is None or not 0 <= index < len(case.changes):
        return problem.column
    change = case.changes[index]
    if isinstance(change, SetQuantity):
        return f"{change.listing}:{change.id}"
    return "remove"


def _sweep_task(shared: tuple[DatasetRows, Dataset], item: tuple[SweepCase, MatchOptions]
                ) -> dict[str, Any]:
    """One scenario (an engine task): apply its changes, solve, the KPI row."""
    rows, carry = shared
    case, options = item
    sentences, result, _ = _scenario_task((rows, options, carry), case.changes)
    head = result.headline()
    facts = solve_facts(result)
    return {
        **facts,
        "features": ";".join(facts["features"]),
        "utilization_rate": head.utilization_rate,
        "tonnes_offered": head.tonnes_offered,
        "tonnes_matched": head.tonnes_matched,
        "tonnes_unmatched": head.tonnes_unmatched,
        "tonne_km": head.tonne_km,
        "exchanges": head.exchanges,
        "saving_cny": head.saving_cny,
        "co2_net_t": head.co2_net_t,
        "bulk_rate": head.bulk_rate,
        "bulk_official": head.bulk_official,
        "bulk_baseline_rate": head.bulk_baseline_rate,
        "bulk_target_met": head.bulk_target_met,
        "changes": " ".join(sentences),
    }


def run_sweep(dataset: Dataset, cases: Sequence[SweepCase], options: MatchOptions | None = None,
              engine: Engine | None = None) -> pd.DataFrame:
    """Solve every case of `cases` on `dataset` and return one row per case, in order:
    `scenario`, one column per parameter named in any case (blank where a case leaves it),
    then KPI_COLUMNS (`model` milp/continuous, `gap`, the headline KPIs and the official
    rate: `bulk_rate` is the official 大宗工业固废综合利用率 where `bulk_official` is true).

    Raises:
        InvalidDataError: a case that does not apply (checked for all before solving).
        SolverError, InfeasibleError: a scenario the solver refuses (e.g. existing
            contracts that no longer fit).
    """
    base = options or MatchOptions()
    rows = rows_from_dataset(dataset)
    per_case = _check(rows, cases, base)
    items = list(zip(cases, per_case, strict=True))
    shared = (rows, dataset)
    solved = (engine.map(_sweep_task, items, shared) if engine is not None
              else [_sweep_task(shared, item) for item in items])
    names: list[str] = []
    for case in cases:
        for key, _ in case.params:
            if key not in names:
                names.append(key)
    records = []
    for case, kpis in zip(cases, solved, strict=True):
        given = dict(case.params)
        records.append({"scenario": case.name, **{n: given.get(n, "") for n in names},
                        **kpis})
    return pd.DataFrame.from_records(records, columns=["scenario", *names, *KPI_COLUMNS])
