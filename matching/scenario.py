"""What-if scenarios on stored rows: add an enterprise, remove one, change a listed quantity,
then solve the baseline and the scenario the same way and compare their headline KPIs.

The stored rows are never modified: `apply_changes` returns new rows. Changes apply in
order, so each one sees the state the earlier ones left: a listing whose enterprise change 0
removed cannot be edited by change 1, and an id freed by a removal may be reused by a later
addition (a rebuilt plant). Every bad change is reported at once, as a `Problem` in file
`changes` whose `row` is the 0-based index of the change (not a spreadsheet row) and whose
`column` names the field: `id`, `quantity`, `enterprise.lon`, `offers[1].material` ...
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from symbiosis.contract import suggest_material
from symbiosis.dataset import PREFIXES, SPECS, Dataset
from symbiosis.errors import InvalidDataError, Problem
from symbiosis.matching.model import MatchOptions, solve_match
from symbiosis.matching.result import MatchResult
from symbiosis.matching.summary import Headline
from symbiosis.store.records import (
    ENTERPRISE_FIELDS,
    DatasetRows,
    RunRecord,
    dataset_from_rows,
    diff_runs,
    json_safe,
)
from symbiosis.taxonomy import Taxonomy, load_taxonomy
from symbiosis.types import Row

if TYPE_CHECKING:
    from symbiosis.matching.distributed import Engine

__all__ = [
    "AddEnterprise",
    "Change",
    "RemoveEnterprise",
    "ScenarioComparison",
    "SetQuantity",
    "apply_changes",
    "carry_tables",
    "compare_scenario",
    "solve_facts",
    "sweep_scenarios",
]

FILE = "changes"
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")
_TABLE = {"offer": "offers", "need": "needs"}
_ID_PREFIX = {"offers": "OF", "needs": "ND"}


@dataclass(frozen=True)
class AddEnterprise:
    """A new enterprise with its by-product offers and input needs.

    `enterprise` has id, name, sector, lon, lat (WGS 84) and park; a listing has material,
    quantity, an optional id and any optional column of offers.csv / needs.csv (costs,
    `q.` / `min.` / `max.` attributes). A listing without an id gets
    `OF-<enterprise>-<material>` / `ND-<enterprise>-<material>` (`-2`, `-3` ... if taken).
    """

    enterprise: dict[str, Any]
    offers: list[dict[str, Any]] = field(default_factory=list)
    needs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RemoveEnterprise:
    """Take an enterprise out (a closing plant) with its listings and listed distances."""

    id: str


@dataclass(frozen=True)
class SetQuantity:
    """Set the yearly quantity of one offer or need (> 0; remove the enterprise for none)."""

    listing: Literal["offer", "need"]
    id: str
    quantity: float


Change = AddEnterprise | RemoveEnterprise | SetQuantity


@dataclass(frozen=True)
class ScenarioComparison:
    """Baseline and scenario solved with the same options: headline KPIs, their difference
    (scenario - baseline), one sentence per change, the exchanges that appeared, vanished or
    changed, and both full results."""

    baseline: dict[str, Any]
    scenario: dict[str, Any]
    delta: dict[str, Any]
    changes: list[str]
    exchanges_diff: list[dict[str, Any]]
    baseline_result: MatchResult
    scenario_result: MatchResult
    scenario_dataset: Dataset | None = None  # what the scenario solved (for gap analysis)
    # how each side was solved (`solve_facts`): the MILP's gap with integer logistics
    baseline_solver: dict[str, Any] = field(default_factory=dict)
    scenario_solver: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (no frames): baseline, scenario, delta, changes, exchanges_diff, and
        `solver` {baseline, scenario} (`solve_facts`)."""
        return {
            "baseline": json_safe(self.baseline),
            "scenario": json_safe(self.scenario),
            "delta": json_safe(self.delta),
            "changes": list(self.changes),
            "exchanges_diff": json_safe(self.exchanges_diff),
            "solver": {"baseline": json_safe(self.baseline_solver),
                       "scenario": json_safe(self.scenario_solver)},
        }


def solve_facts(result: MatchResult) -> dict[str, Any]:
    """How a plan was solved, for scenario and sweep outputs: `model` is `milp` when
    integer logistics (lots, partner limits, contracts, trucks) went through the MILP
    (`matching.milp`), else `continuous`; `status`, `objective`, `bound` and relative `gap`
    of the solve (the MILP's incumbent and bound: a gap above 0 means the time limit
    stopped it before the gap target), and the integer `features` the run had."""
    solver = result.summary.solver
    milp = solver.milp
    return {
        "model": "milp" if milp is not None else "continuous",
        "status": solver.status,
        "objective": solver.objective,
        "bound": solver.bound,
        "gap": milp.gap if milp is not None else solver.gap,
        "features": list(milp.features) if milp is not None else [],
    }


CARRIED_TABLES = ("transport", "carbon", "contracts", "storage")


def carry_tables(dataset: Dataset, source: Dataset | None) -> Dataset:
    """`dataset` (rebuilt from stored rows) with transport.csv (trucks, trip costs),
    carbon.csv, contracts.csv and storage.csv taken from `source`. Rows from store schema 4
    on hold these tables already; `source` still decides them for rows built before it, or
    for a scenario that should price against another dataset's tables. Contracts and stores
    of listings or enterprises the scenario removed are dropped with them. Without `source`
    the dataset is returned as it is."""
    if source is None:
        return dataset
    contracts = source.contracts
    if len(contracts):
        keep = (contracts["offer_id"].astype(str).isin(dataset.offers.index.astype(str))
                & contracts["need_id"].astype(str).isin(dataset.needs.index.astype(str)))
        contracts = contracts.loc[keep].reset_index(drop=True)
    storage = source.storage
    if len(storage):
        keep = storage["enterprise_id"].astype(str).isin(dataset.enterprises.index.astype(str))
        storage = storage.loc[keep].reset_index(drop=True)
    return replace(dataset, transport=source.transport, carbon=source.carbon,
                   contracts=contracts, storage=storage)


# ----------------------------------------------------------------------------- applying


@dataclass
class _State:
    """The rows being edited, keyed by id, and what the changes so far did to them."""

    taxonomy: Taxonomy
    enterprises: dict[str, Row]
    listings: dict[str, dict[str, Row]]  # "offers"/"needs" -> id -> row
    columns: dict[str, list[str]]  # "offers"/"needs" -> column order
    distances: list[Row]
    added_by: dict[str, int] = field(default_factory=dict)  # enterprise id -> change
    removed_by: dict[str, int] = field(default_factory=dict)  # enterprise id -> change
    # (table, listing id) -> (enterprise, change) for listings gone with their enterprise
    gone: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    set_by: dict[tuple[str, str], int] = field(default_factory=dict)
    # (table, id) -> (change, field prefix) for rows a change added: validation problems
    # found in them are reported against that change
    origin: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Applied:
    rows: DatasetRows
    sentences: list[str]
    problems: list[Problem]
    origin: dict[tuple[str, str], tuple[int, str]]

    def locate(self, problem: Problem) -> Problem:
        """A validation problem of the changed rows, moved onto the change that added the
        row when there is one (rows as `dataset_from_rows` numbers them: first = 2)."""
        table = problem.file
        bodies = {"enterprises": self.rows.enterprises, "offers": self.rows.offers,
                  "needs": self.rows.needs}
        if table not in bodies or problem.row is None or problem.row < 2:
            return problem
        body = bodies[table]
        position = problem.row - 2
        if position >= len(body):
            return problem
        where = self.origin.get((table, str(body[position]["id"])))
        if where is None:
            return problem
        index, prefix = where
        column = f"{prefix}.{problem.column}" if problem.column else prefix
        return Problem(FILE, index, column, problem.message, problem.severity)


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _number(value: Any) -> Any:
    """A cell as the rows keep numbers: float when it reads as a finite number, None when
    blank, else as given (validation then reports it)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        try:
            number = float(text)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _positive(value: Any) -> float | None:
    number = _number(value)
    if isinstance(number, float) and number > 0:
        return number
    return None


def _qty(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def _unit(state: _State, material: str) -> str:
    mat = state.taxonomy.materials.get(material)
    return f"{mat.unit}/yr" if mat is not None else "units/yr"


def _is_text(table: str, column: str) -> bool:
    spec = next((s for s in SPECS[table] if s.name == column), None)
    return spec is not None and spec.kind == "text"


def _start(rows: DatasetRows) -> _State:
    taxonomy = load_taxonomy()
    if rows.substitutions is not None:
        taxonomy = taxonomy.with_substitutions(
            [(str(s["need_material"]), str(s["offer_material"]), float(s["ratio"]))
             for s in rows.substitutions], source="substitutions")
    enterprises = {str(e["id"]): dict(e) for e in rows.enterprises}
    return _State(
        taxonomy=taxonomy,
        enterprises=enterprises,
        listings={"offers": {str(o["id"]): dict(o) for o in rows.offers},
                  "needs": {str(n["id"]): dict(n) for n in rows.needs}},
        columns={"offers": list(rows.offer_columns), "needs": list(rows.need_columns)},
        distances=[dict(d) for d in rows.distances],
    )


def _listing_summary(state: _State, listings: list[Row]) -> str:
    if not listings:
        return "none"
    return ", ".join(f"{x['material']} {_qty(float(x['quantity']))} "
                     f"{_unit(state, str(x['material']))}" for x in listings)


def _remove(state: _State, index: int, change: RemoveEnterprise,
            problems: list[Problem]) -> str | None:
    ent_id = _text(change.id)
    if ent_id in state.removed_by and ent_id not in state.enterprises:
        problems.append(Problem(FILE, index, "id", f"enterprise '{ent_id}' is already "
                                f"removed by change {state.removed_by[ent_id]}"))
        return None
    if ent_id not in state.enterprises:
        problems.append(Problem(FILE, index, "id", f"'{ent_id}' is not an enterprise id"
                                f"{_suggest(ent_id, list(state.enterprises))}"))
        return None
    ent = state.enterprises.pop(ent_id)
    state.removed_by[ent_id] = index
    dropped: dict[str, list[Row]] = {}
    for table, body in state.listings.items():
        dropped[table] = [row for row in body.values() if row["enterprise_id"] == ent_id]
        for row in dropped[table]:
            del body[str(row["id"])]
            state.gone[(table, str(row["id"]))] = (ent_id, index)
    before = len(state.distances)
    state.distances = [d for d in state.distances
                       if d["from_id"] != ent_id and d["to_id"] != ent_id]
    links = before - len(state.distances)
    name = f" '{ent['name']}'" if ent.get("name") else ""
    n_off, n_need = len(dropped["offers"]), len(dropped["needs"])
    text = (f"Remove enterprise {ent_id}{name} with its {n_off} offer(s) "
            f"({_listing_summary(state, dropped['offers'])}) and {n_need} need(s) "
            f"({_listing_summary(state, dropped['needs'])})")
    if links:
        text += f"; {links} listed distance(s) go with it"
    return text + "."


def _set_quantity(state: _State, index: int, change: SetQuantity,
                  problems: list[Problem]) -> str | None:
    ok = True
    table = _TABLE.get(str(change.listing))
    if table is None:
        problems.append(Problem(FILE, index, "listing",
                                f"listing must be 'offer' or 'need', got '{change.listing}'"))
        ok = False
    quantity = _positive(change.quantity)
    if quantity is None:
        problems.append(Problem(FILE, index, "quantity",
                                f"quantity must be a number > 0, got {change.quantity!r} (to "
                                "take a listing out entirely, remove its enterprise)"))
        ok = False
    if table is None:
        return None
    listing_id = _text(change.id)
    kind = str(change.listing)
    body = state.listings[table]
    if listing_id not in body:
        if (table, listing_id) in state.gone:
            ent_id, by = state.gone[(table, listing_id)]
            message = (f"{kind} '{listing_id}' was removed with enterprise '{ent_id}' by "
                       f"change {by}")
        else:
            message = f"'{listing_id}' is not an {kind} id{_suggest(listing_id, list(body))}"
        problems.append(Problem(FILE, index, "id", message))
        return None
    if (table, listing_id) in state.set_by:
        problems.append(Problem(FILE, index, "id",
                                f"the quantity of {kind} '{listing_id}' is already set by "
                                f"change {state.set_by[(table, listing_id)]}"))
        return None
    if not ok or quantity is None:
        return None
    row = body[listing_id]
    old = float(row["quantity"])
    row["quantity"] = quantity
    state.set_by[(table, listing_id)] = index
    unit = _unit(state, str(row["material"]))
    return (f"Set {kind} {listing_id} ({row['material']} of {row['enterprise_id']}) from "
            f"{_qty(old)} to {_qty(quantity)} {unit}.")


def _allowed(table: str, key: str, known: Sequence[str]) -> bool:
    if key in known or any(s.name == key for s in SPECS[table]):
        return True
    prefix = next((p for p in PREFIXES.get(table, ()) if key.startswith(p)), None)
    return prefix is not None and bool(_ATTRIBUTE.match(key[len(prefix):]))


def _new_listings(state: _State, index: int, ent_id: str, table: str, given: Any,
                  problems: list[Problem]) -> list[Row] | None:
    """The rows of one AddEnterprise's offers or needs (ids assigned), or None if bad."""
    if not isinstance(given, Sequence) or isinstance(given, str | bytes):
        problems.append(Problem(FILE, index, table, "must be a list of listings"))
        return None
    body = state.listings[table]
    known = state.columns[table]
    taken = set(body)
    out: list[Row] = []
    ok = True
    for k, listing in enumerate(given):
        where = f"{table}[{k}]"
        if not isinstance(listing, Mapping):
            problems.append(Problem(FILE, index, where, "must be an object"))
            ok = False
            continue
        for key in listing:
            if not _allowed(table, str(key), known):
                expected = [c for c in known if c != "enterprise_id"]
                problems.append(Problem(FILE, index, f"{where}.{key}",
                                        f"unknown field{_suggest(str(key), expected)}; "
                                        f"expected {', '.join(expected)} or "
                                        f"{'/'.join(PREFIXES[table])}<attribute>"))
                ok = False
        owner = _text(listing.get("enterprise_id"))
        if owner and owner != ent_id:
            problems.append(Problem(FILE, index, f"{where}.enterprise_id",
                                    f"'{owner}' is not the added enterprise '{ent_id}'"))
            ok = False
        material = _text(listing.get("material"))
        if not material:
            problems.append(Problem(FILE, index, f"{where}.material", "value is empty"))
            ok = False
        elif material not in state.taxonomy.materials:
            problems.append(Problem(FILE, index, f"{where}.material",
                                    f"unknown material '{material}'"
                                    f"{suggest_material(material, state.taxonomy)}"))
            ok = False
        if _positive(listing.get("quantity")) is None:
            problems.append(Problem(FILE, index, f"{where}.quantity",
                                    f"quantity must be a number > 0, got "
                                    f"{listing.get('quantity')!r}"))
            ok = False
        listing_id = _text(listing.get("id"))
        if listing_id and listing_id in taken:
            problems.append(Problem(FILE, index, f"{where}.id",
                                    f"duplicate id '{listing_id}': already an "
                                    f"{table[:-1]} id"))
            ok = False
        elif not listing_id and material:
            base = f"{_ID_PREFIX[table]}-{ent_id}-{material}"
            listing_id, n = base, 1
            while listing_id in taken:
                n += 1
                listing_id = f"{base}-{n}"
        taken.add(listing_id)
        row: Row = {c: ("" if _is_text(table, c) else None) for c in known}
        for key, value in listing.items():
            key = str(key)
            row[key] = _text(value) if _is_text(table, key) else _number(value)
        row["id"], row["enterprise_id"], row["material"] = listing_id, ent_id, material
        out.append(row)
    return out if ok else None


def _add(state: _State, index: int, change: AddEnterprise,
         problems: list[Problem]) -> str | None:
    ent = change.enterprise
    if not isinstance(ent, Mapping):
        problems.append(Problem(FILE, index, "enterprise", "must be an object"))
        return None
    ok = True
    ent_id = _text(ent.get("id"))
    if not ent_id:
        problems.append(Problem(FILE, index, "enterprise.id", "value is empty"))
        ok = False
    elif ent_id in state.enterprises:
        by = state.added_by.get(ent_id)
        whence = f"added by change {by}" if by is not None else "in the dataset"
        problems.append(Problem(FILE, index, "enterprise.id",
                                f"duplicate id: enterprise '{ent_id}' is already {whence}"))
        ok = False
    for key in ent:
        if key not in ENTERPRISE_FIELDS:
            problems.append(Problem(FILE, index, f"enterprise.{key}",
                                    f"unknown field{_suggest(str(key), ENTERPRISE_FIELDS)}; "
                                    f"expected {', '.join(ENTERPRISE_FIELDS)}"))
            ok = False
    offers = _new_listings(state, index, ent_id, "offers", change.offers, problems)
    needs = _new_listings(state, index, ent_id, "needs", change.needs, problems)
    if not ok or offers is None or needs is None:
        return None
    row: Row = {c: (_number(ent.get(c)) if c in ("lon", "lat") else _text(ent.get(c)))
                for c in ENTERPRISE_FIELDS}
    row["id"] = ent_id
    state.enterprises[ent_id] = row
    state.added_by[ent_id] = index
    state.origin[("enterprises", ent_id)] = (index, "enterprise")
    for table, new in (("offers", offers), ("needs", needs)):
        for k, listing in enumerate(new):
            for column in listing:
                if column not in state.columns[table]:
                    state.columns[table].append(column)
            state.listings[table][str(listing["id"])] = listing
            state.origin[(table, str(listing["id"]))] = (index, f"{table}[{k}]")
    name = f" '{row['name']}'" if row["name"] else ""
    park = f" in park '{row['park']}'" if row["park"] else ""
    return (f"Add enterprise {ent_id}{name} at lon {row['lon']}, lat {row['lat']}{park}, "
            f"offering {_listing_summary(state, offers)} and needing "
            f"{_listing_summary(state, needs)}.")


def _apply(rows: DatasetRows, changes: Sequence[Change]) -> _Applied:
    state = _start(rows)
    problems: list[Problem] = []
    sentences: list[str] = []
    for index, change in enumerate(changes):
        sentence: str | None
        if isinstance(change, AddEnterprise):
            sentence = _add(state, index, change, problems)
        elif isinstance(change, RemoveEnterprise):
            sentence = _remove(state, index, change, problems)
        elif isinstance(change, SetQuantity):
            sentence = _set_quantity(state, index, change, problems)
        else:
            problems.append(Problem(FILE, index, None,
                                    f"not a change: {type(change).__name__} (expected "
                                    "AddEnterprise, RemoveEnterprise or SetQuantity)"))
            sentence = None
        if sentence is not None:
            sentences.append(sentence)
    for table in ("offers", "needs"):  # new attribute columns: every row has every key
        for row in state.listings[table].values():
            for column in state.columns[table]:
                row.setdefault(column, "" if _is_text(table, column) else None)
    new_rows = replace(
        rows,
        enterprises=list(state.enterprises.values()),
        offers=list(state.listings["offers"].values()),
        needs=list(state.listings["needs"].values()),
        distances=state.distances,
        substitutions=None if rows.substitutions is None
        else [dict(s) for s in rows.substitutions],
        offer_columns=tuple(state.columns["offers"]),
        need_columns=tuple(state.columns["needs"]),
    )
    return _Applied(new_rows, sentences, problems, state.origin)


def apply_changes(rows: DatasetRows,
                  changes: Sequence[Change]) -> tuple[DatasetRows, list[str]]:
    """The rows after `changes` (the input is left untouched) and one sentence per change.

    Raises `InvalidDataError` listing every bad change (unknown or duplicate ids, a listing
    edited after its enterprise was removed, a quantity <= 0, an unknown field or material).
    Values the changes bring in (coordinates, costs, attributes) are checked when the rows
    are validated, as `compare_scenario` does.
    """
    applied = _apply(rows, changes)
    if applied.problems:
        raise InvalidDataError(applied.problems)
    return applied.rows, applied.sentences


# ----------------------------------------------------------------------------- comparing


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """after - before for every headline key; None where either side is None."""
    out: dict[str, Any] = {}
    for key in Headline.model_fields:
        a, b = json_safe(before.get(key)), json_safe(after.get(key))
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
        out[key] = b - a if numeric else None
    return out


def _check_not_empty(rows: DatasetRows) -> None:
    """The dataset reader needs a header, which empty tables cannot give: say so plainly."""
    empty = [name for name, body in (("enterprises", rows.enterprises),
                                     ("offers", rows.offers), ("needs", rows.needs))
             if not body]
    if empty:
        raise InvalidDataError([Problem(FILE, None, None,
                                        f"the scenario leaves no {' and no '.join(empty)}; "
                                        "there is nothing to match")])


def compare_scenario(rows: DatasetRows, changes: Sequence[Change],
                     options: MatchOptions | None = None,
                     carry: Dataset | None = None) -> ScenarioComparison:
    """Solve the stored rows and the rows after `changes` with the same `options` and
    compare them. `solve_match` sends both to the MILP when the data or options ask for
    integer logistics; `baseline_solver` / `scenario_solver` say so, with the gap.
    `carry`: the dataset the rows came from, whose transport, carbon, contracts and
    storage tables both sides keep (`carry_tables`; rows do not hold them).

    Both are validated as a file would be; a problem in a row a change added is reported
    against that change (file `changes`), others as the reader names them.

    Raises:
        InvalidDataError: a change that does not apply, or rows that do not validate
            (problems in added rows are located at the change, file `changes`).
    """
    sentences, scenario_ds = _scenario_dataset(rows, changes, carry)
    baseline_ds = carry_tables(dataset_from_rows(rows, source="baseline"), carry)
    options = options or MatchOptions()
    base = solve_match(baseline_ds, options)
    scen = solve_match(scenario_ds, options)
    before, after = base.headline().model_dump(), scen.headline().model_dump()
    diff = diff_runs(RunRecord.from_result(base, ""), RunRecord.from_result(scen, ""))
    return ScenarioComparison(
        baseline=before,
        scenario=after,
        delta=_delta(before, after),
        changes=sentences,
        exchanges_diff=diff,
        baseline_result=base,
        scenario_result=scen,
        scenario_dataset=scenario_ds,
        baseline_solver=solve_facts(base),
        scenario_solver=solve_facts(scen),
    )


# ----------------------------------------------------------------------------- sweeps


def _scenario_task(shared: tuple[DatasetRows, MatchOptions, Dataset | None],
                   changes: Sequence[Change]) -> tuple[list[str], MatchResult, Dataset]:
    """One scenario of a sweep (an engine task): apply, validate, solve."""
    rows, options, carry = shared
    sentences, scenario_ds = _scenario_dataset(rows, changes, carry)
    return sentences, solve_match(scenario_ds, options), scenario_ds


def _scenario_dataset(rows: DatasetRows, changes: Sequence[Change],
                      carry: Dataset | None) -> tuple[list[str], Dataset]:
    """`changes` applied to `rows` and validated, as a dataset with `carry`'s tables
    (`carry_tables`), with one sentence per change.

    Raises:
        InvalidDataError: a change that cannot apply, an empty scenario, or rows that break
            the dataset contract (problems located at the change that caused them).
    """
    applied = _apply(rows, changes)
    if applied.problems:
        raise InvalidDataError(applied.problems)
    _check_not_empty(applied.rows)
    try:
        scenario_ds = dataset_from_rows(applied.rows, source="scenario")
    except InvalidDataError as exc:
        raise InvalidDataError([applied.locate(p) for p in exc.problems]) from None
    return applied.sentences, carry_tables(scenario_ds, carry)


def sweep_scenarios(rows: DatasetRows, scenarios: Sequence[Sequence[Change]],
                    options: MatchOptions | None = None,
                    engine: Engine | None = None,
                    carry: Dataset | None = None) -> list[ScenarioComparison]:
    """`compare_scenario` for each change list of `scenarios` against one baseline, solved
    once; the scenarios are tasks of `engine` (`matching.distributed`; default: one after
    another here), the stored rows shipped to each worker once. Comparisons in the order
    given, each equal to what `compare_scenario` returns for it (`carry` as there).

    Raises:
        InvalidDataError: the first scenario (in order) whose changes do not apply or whose
            rows do not validate, as `compare_scenario` reports it.
    """
    options = options or MatchOptions()
    base = solve_match(carry_tables(dataset_from_rows(rows, source="baseline"), carry),
                       options)
    before = base.headline().model_dump()
    base_run = RunRecord.from_result(base, "")
    shared = (rows, options, carry)
    items = [list(changes) for changes in scenarios]
    solved = (engine.map(_scenario_task, items, shared) if engine is not None
              else [_scenario_task(shared, changes) for changes in items])
    out: list[ScenarioComparison] = []
    for sentences, scen, scenario_ds in solved:
        after = scen.headline().model_dump()
        out.append(ScenarioComparison(
            baseline=before,
            scenario=after,
            delta=_delta(before, after),
            changes=sentences,
            exchanges_diff=diff_runs(base_run, RunRecord.from_result(scen, "")),
            baseline_result=base,
            scenario_result=scen,
            scenario_dataset=scenario_ds,
            baseline_solver=solve_facts(base),
            scenario_solver=solve_facts(scen),
        ))
    return out
