"""The report model: a match output folder read once and turned into language-resolved KPI
rows and tables with a value kind per column, which the HTML and XLSX writers only render.

This is the only module that knows the output CSVs' columns: the folder is read by `read_run`
(summary.json through `read_summary`, the one place that parses it, validated once into the
typed `matching.summary.MatchSummary`), and `build_report` resolves every figure, label and
table from the model's typed fields. A folder written before the schema existed
(schema_version 1) is refused with its upgrade path: run `symbiosis match` into it again.

Every optional figure (money, carbon, prices, marginal values) leaves its part out when the
run did not produce it. Labels come from the message catalogue (`symbiosis.i18n`, keys
`report.*`, `kpi.*`, `unit.*`, `obj.*`, `family.*`, `reason.*`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import ValidationError

from symbiosis.api.report.numbers import fmt_amount
from symbiosis.errors import InvalidDataError, Problem
from symbiosis.i18n import catalogue, t
from symbiosis.jsonio import is_missing
from symbiosis.matching.reasons import reason_text
from symbiosis.matching.summary import SCHEMA_VERSION, MatchSummary, RateSource
from symbiosis.taxonomy import load_taxonomy

__all__ = [
    "HTML_TOP_EXCHANGES",
    "HTML_TOP_NEEDS",
    "HTML_TOP_UNMATCHED",
    "LANGS",
    "TEXT_COLUMNS",
    "Column",
    "Kind",
    "Kpi",
    "Report",
    "RunOutputs",
    "Table",
    "build_report",
    "check_lang",
    "dataset_name",
    "fmt_value",
    "is_missing",
    "num",
    "official_source",
    "read_outputs",
    "read_run",
    "read_summary",
    "reason_text",
    "unit_label",
]

LANGS = ("en", "zh")
HTML_TOP_EXCHANGES = 20  # the page shows the largest exchanges; the workbook shows all
HTML_TOP_UNMATCHED = 50
HTML_TOP_NEEDS = 15

# output CSV columns read as text (matching.result writes them); every other column is read
# by pandas as a number where its filled cells are numbers
TEXT_COLUMNS = frozenset({
    "offer_enterprise_id", "need_enterprise_id", "offer_material", "need_material", "offer_id",
    "need_id", "unit", "distance_source", "rule", "rule_source", "quality_note", "alternatives",
    "enterprise_id", "material", "reason", "explanation", "name", "marginal_unit",
    "offer_enterprise_name", "need_enterprise_name", "offer_estimated", "estimated"})

_LOW_CONFIDENCE = frozenset({"low", "unverified", "unknown", "guess"})
# words in a source text that say the figure was not checked against a document
_UNVERIFIED_WORDS = ("unverified", "assumption", "no source", "general knowledge")
# reason texts older output folders carry, before the reason codes (matching.reasons)
Kind = Literal["text", "int", "qty", "km", "money", "co2", "price", "pct", "ratio", "gap",
               "seconds", "num", "factor"]
# kinds written with significant figures (numbers.fmt_amount), not fixed decimals
_AMOUNTS = frozenset({"qty", "km", "money", "co2"})
# display digits per value kind
_DIGITS: dict[str, int] = {"int": 0, "qty": 0, "km": 1, "money": 0, "co2": 1, "price": 2,
                           "ratio": 3, "seconds": 3, "num": 2}


def check_lang(lang: str) -> None:
    """Raises:
        ValueError: `lang` is not one of LANGS."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGS)}")


def _known(key: str) -> bool:
    return key in catalogue()


def unit_label(unit: str, lang: str) -> str:
    """A unit as the reader's language writes it (t/yr -> 吨/年); unknown units as given."""
    key = f"unit.{unit}"
    return t(key, lang) if _known(key) else unit


def num(value: object) -> float | None:
    """`value` as a finite float, or None when it is missing or not a number."""
    if is_missing(value):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt_value(value: object, kind: Kind, lang: str = "en") -> str:
    """A value as the report prints it: amounts (quantities, money, CO2, distances) with
    three significant figures in the reader's units (万/亿 in Chinese, `numbers.fmt_amount`),
    counts exact with thousands separators, one decimal for percentages, "–" for a missing
    number."""
    if kind == "text":
        return "" if is_missing(value) else str(value)
    if is_missing(value):
        return "–"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if kind == "pct":
        return f"{100 * number:.1f} %"
    if kind == "gap":
        return "0" if abs(number) < 1e-12 else f"{number:.1e}"
    if kind == "factor":  # a coefficient: its significant digits, not a fixed decimal count
        return f"{number:,.6g}"
    if kind in _AMOUNTS:
        return fmt_amount(number, lang)
    digits = _DIGITS[kind]
    if abs(number) < 0.5 * 10 ** -digits:
        number = 0.0  # no "-0"
    return f"{number:,.{digits}f}"


# --------------------------------------------------------------------------- the model


def _flagged(source: str, confidence: str) -> bool:
    text = source.lower()
    return confidence.strip().lower() in _LOW_CONFIDENCE \
        or any(word in text for word in _UNVERIFIED_WORDS)


@dataclass(frozen=True)
class Kpi:
    """One figure: its summary.json key, label, value, unit and where it comes from."""

    key: str
    group: str
    label: str
    value: float | int | str | None
    kind: Kind
    unit: str = ""
    source: str = ""
    confidence: str = ""

    @property
    def flagged(self) -> bool:
        """True when the figure rests on a low-confidence or unverified factor."""
        return _flagged(self.source, self.confidence)

    @property
    def shown_source(self) -> str:
        """The source as a reader sees it: the document, not a web copy (`official_source`)."""
        return official_source(self.source)[0]


@dataclass(frozen=True)
class Column:
    """A table column: the frame column it reads, its header and its value kind."""

    key: str
    label: str
    kind: Kind


@dataclass
class Table:
    """A titled table; `total` is the row count before the page cut it to `rows`."""

    key: str
    title: str
    sheet: str
    columns: list[Column]
    rows: list[list[Any]]
    total: int = 0
    note: str = ""
    flags: list[bool] = field(default_factory=list)
    row_kinds: list[Kind | None] = field(default_factory=list)  # per row, for column 2

    def kind(self, row: int, col: int) -> Kind:
        """The value kind of cell (row, col), both 0-based."""
        if col == 1 and self.row_kinds and self.row_kinds[row] is not None:
            return self.row_kinds[row] or "text"
        return self.columns[col].kind


@dataclass(frozen=True)
class Report:
    """The language-resolved content of a report: what both writers show."""

    lang: str
    title: str
    meta: list[tuple[str, str]]
    headline: list[Kpi]
    kpis: list[Kpi]
    solver: list[Kpi]
    tables: list[Table]
    sources: Table
    rate: float | None
    target: float | None
    target_source: str
    dataset: str
    co2_factor: tuple[str, str] | None = None
    # the one-page summary: its tiles, the largest exchanges by name, what blocks the rest
    summary_tiles: list[Kpi] = field(default_factory=list)
    top_exchanges: Table | None = None
    blockers: Table | None = None
    # per park (summary.json `parks`, when the run had park polygons)
    parks: Table | None = None
    park_split: Table | None = None
    # the methods appendix: one paragraph per method, in the report's language
    methods: list[str] = field(default_factory=list)
    # the bulk solid waste rate (summary.json `bulk_solid_waste`): its lines, first in the
    # summary; `official` says whether it is the official indicator (baseline columns given)
    official_lines: list[str] = field(default_factory=list)
    official: bool = False


@dataclass(frozen=True)
class RunOutputs:
    """The files of a match output folder: summary.json (validated once into
    `MatchSummary` by `read_summary`), exchanges.csv, offers.csv, and enterprises.csv /
    needs.csv when the run wrote them."""

    summary: MatchSummary
    exchanges: pd.DataFrame
    offers: pd.DataFrame
    enterprises: pd.DataFrame | None = None
    needs: pd.DataFrame | None = None


# --------------------------------------------------------------------------- reading

UPGRADE_HINT = ("run `symbiosis match DATASET --out {folder}` again to rewrite the folder "
                "with this version (summary.json schema_version {version}; "
                "`symbiosis schema summary` prints the schema)")


def _field(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a JSON field path: `economics.coverage.offers`,
    `materials.fly_ash.unit`, `warnings[0]`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def read_summary(path: Path) -> MatchSummary:
    """summary.json of a match output folder, validated once into `MatchSummary` (the
    one place the report parses it).

    An older folder (schema_version 1, i.e. no `schema_version`, or a version this code
    does not know) is refused with the upgrade path: run `symbiosis match` again into
    that folder. A body that names version 2 but breaks the schema lists every bad field.

    Raises:
        InvalidDataError: not valid JSON, not a JSON object, an older or unknown schema
            version (named `summary.json::schema_version`), or fields that break the schema
            (each named `summary.json::<field path>`).
    """
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidDataError([Problem(path.name, exc.lineno, None,
                                        f"not valid JSON: {exc.msg}")]) from exc
    if not isinstance(body, dict):
        raise InvalidDataError([Problem(path.name, None, None,
                                        "expected a JSON object at the top level")])
    version = body.get("schema_version", 1)
    hint = UPGRADE_HINT.format(folder=path.parent, version=SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        what = "an older symbiosis" if isinstance(version, int) and version < SCHEMA_VERSION \
            else "an unknown symbiosis"
        raise InvalidDataError([Problem(
            path.name, None, "schema_version",
            f"written by {what} (schema_version {version!r}); this version reads "
            f"schema_version {SCHEMA_VERSION}: {hint}")])
    try:
        return MatchSummary.model_validate(body)
    except ValidationError as exc:
        problems = [Problem(path.name, None, _field(err["loc"]), err["msg"])
                    for err in exc.errors(include_url=False)]
        problems.append(Problem(path.name, None, None,
                                f"does not match the summary schema: {hint}"))
        raise InvalidDataError(problems) from exc


def _read_csv(path: Path) -> pd.DataFrame:
    """An output CSV: TEXT_COLUMNS as text ("" where empty), the rest as pandas reads it
    (numbers where every filled cell is a number, NaN where empty).

    Raises:
        InvalidDataError: not a readable UTF-8 CSV.
    """
    try:
        frame = pd.read_csv(path, dtype=dict.fromkeys(TEXT_COLUMNS, str),
                            keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InvalidDataError([Problem(path.name, None, None,
                                        f"cannot read as a UTF-8 CSV: {exc}")]) from exc
    for col in TEXT_COLUMNS.intersection(frame.columns):
        frame[col] = frame[col].fillna("")
    return frame


def read_run(out_dir: str | Path) -> RunOutputs:
    """The files of a match output folder.

    Raises:
        InvalidDataError: a required file (summary.json, exchanges.csv, offers.csv) is
            missing or unreadable; every missing file is listed.
    """
    out = Path(out_dir)
    problems = [Problem(name, None, None, f"not found in {out}: is this the output folder of "
                                          "`symbiosis match`?")
                for name in ("summary.json", "exchanges.csv", "offers.csv")
                if not (out / name).is_file()]
    if problems:
        raise InvalidDataError(problems)
    summary = read_summary(out / "summary.json")
    optional = [(out / n) for n in ("enterprises.csv", "needs.csv")]
    enterprises, needs = (_read_csv(p) if p.is_file() else None for p in optional)
    return RunOutputs(summary, _read_csv(out / "exchanges.csv"), _read_csv(out / "offers.csv"),
                      enterprises, needs)


def read_outputs(out_dir: str | Path) -> tuple[MatchSummary, pd.DataFrame, pd.DataFrame,
                                                pd.DataFrame | None, pd.DataFrame | None]:
    """summary, exchanges, offers, enterprises (or None) and needs (or None) of a match
    output folder (`read_run` as a tuple).

    Raises:
        InvalidDataError: as `read_run`.
    """
    run = read_run(out_dir)
    return run.summary, run.exchanges, run.offers, run.enterprises, run.needs


# --------------------------------------------------------------------------- summary parts


def _material_namer(summary: MatchSummary, lang: str) -> Callable[[object], str]:
    """slug -> display name: summary.json's names first, then the built-in taxonomy."""
    names: dict[str, str] = {}
    for slug, m in load_taxonomy().materials.items():
        local = m.name_zh if lang == "zh" else m.name_en
        if local:
            names[slug] = local
    for slug, mat in summary.materials.items():
        local = mat.name_zh if lang == "zh" else mat.name_en
        if local:
            names[slug] = local

    def name(slug: object) -> str:
        text = "" if is_missing(slug) else str(slug)
        return names.get(text, text)

    return name


def _material_unit(summary: MatchSummary, slug: object) -> str:
    """The unit (t, GJ, m3) of an offered material, "" when the summary does not list it."""
    mat = summary.materials.get(str(slug))
    return mat.unit if mat is not None else ""


def _kpis(summary: MatchSummary, lang: str) -> list[Kpi]:
    out: list[Kpi] = []

    def add(key: str, group: str, value: float | int | None, kind: Kind, unit: str = "",
            source: str = "", confidence: str = "") -> None:
        val = num(value)
        if val is None:
            return
        shown: float | int = int(val) if kind == "int" and val.is_integer() else val
        out.append(Kpi(key, t(f"report.{group}", lang), t(f"kpi.{key}", lang), shown, kind,
                       unit_label(unit, lang), source, confidence))

    target = summary.utilization_target
    add("utilization_rate", "group_flows", summary.utilization_rate, "pct",
        source=t("kpi.utilization_basis", lang))
    out.append(Kpi("utilization_target.value", t("report.group_flows", lang),
                   t("kpi.utilization_target", lang), num(target.value), "pct", "",
                   target.source))
    add("tonnes_offered", "group_flows", summary.tonnes_offered, "qty", "t/yr")
    add("tonnes_matched", "group_flows", summary.tonnes_matched, "qty", "t/yr")
    add("tonnes_unmatched", "group_flows", summary.tonnes_unmatched, "qty", "t/yr")
    add("exchanges", "group_flows", summary.exchanges, "int")
    add("enterprise_pairs", "group_flows", summary.enterprise_pairs, "int")
    add("tonne_km", "group_transport", summary.tonne_km, "qty", "t·km/yr")
    add("average_haul_km", "group_transport", summary.average_haul_km, "km", "km")
    factor = summary.transport_co2_factor
    add("transport_co2_t", "group_transport", summary.transport_co2_t, "co2", "t CO2e/yr",
        factor.source if factor else "", factor.confidence if factor else "")

    econ = summary.economics
    if econ is not None:
        money = t("report.group_money", lang)
        rate = econ.transport_rate
        figures = (("saving_cny", econ.saving_cny), ("avoided_disposal_cny",
                   econ.avoided_disposal_cny), ("avoided_virgin_cny", econ.avoided_virgin_cny),
                   ("transport_cny", econ.transport_cny), ("treatment_cny", econ.treatment_cny))
        for key, value in figures:
            if num(value) is None:
                continue
            source, conf = (rate.source, rate.confidence) \
                if key == "transport_cny" and rate is not None else ("", "")
            out.append(Kpi(f"economics.{key}", money, t(f"kpi.{key}", lang), num(value),
                           "money", unit_label(econ.currency, lang), source, conf))
        if econ.exchanges_losing_money is not None:
            out.append(Kpi("economics.exchanges_losing_money", money,
                           t("kpi.exchanges_losing_money", lang),
                           econ.exchanges_losing_money, "int"))
    carbon = summary.carbon
    if carbon is not None:
        low = any(_flagged(f.source, f.confidence) for f in carbon.factors)
        for key, label, value in (("avoided_t", "co2_avoided_t", carbon.avoided_t),
                                  ("transport_t", "co2_transport_t", carbon.transport_t),
                                  ("net_t", "co2_net_t", carbon.net_t)):
            if num(value) is None:
                continue
            own = key != "transport_t"
            out.append(Kpi(f"carbon.{key}", t("report.group_carbon", lang),
                           t(f"kpi.{label}", lang), num(value), "co2",
                           unit_label(carbon.unit, lang),
                           t("report.see_sources", lang) if own else "",
                           "unverified" if own and low else ""))
    return out


def _solver(summary: MatchSummary, lang: str) -> list[Kpi]:
    s = summary.solver
    group = t("report.solver", lang)
    out = [Kpi("solver.status", group, t("report.status", lang), s.status, "text"),
           Kpi("solver.sense", group, t("report.sense", lang), s.sense, "text")]
    specs: tuple[tuple[str, str, Kind, float], ...] = (
        ("objective", "objective_value", "num", s.objective), ("bound", "bound", "num", s.bound),
        ("gap", "gap", "gap", s.gap), ("seconds", "seconds", "seconds", s.seconds))
    for key, label, kind, raw in specs:
        value = num(raw)
        if value is not None:
            out.append(Kpi(f"solver.{key}", group, t(f"report.{label}", lang), value, kind,
                           unit_label("s", lang) if key == "seconds" else "",
                           s.objective_meaning if key in ("objective", "bound") else ""))
    if s.methods:
        out.append(Kpi("solver.methods", group, t("report.methods", lang),
                       ", ".join(s.methods), "text"))
    return out


# --------------------------------------------------------------------------- tables

Spec = Sequence[tuple[str, str, Kind]]  # frame column, label key (report.*), value kind


def _cols(frame: pd.DataFrame, spec: Spec, lang: str) -> list[Column]:
    return [Column(key, t(f"report.{label}", lang), kind) for key, label, kind in spec
            if key in frame.columns]


def _rows(frame: pd.DataFrame, columns: Sequence[Column]) -> list[list[Any]]:
    if frame.empty:
        return []
    data = [frame[c.key].tolist() for c in columns]
    return [list(r) for r in zip(*data, strict=True)]


def _table(key: str, title: str, sheet: str, frame: pd.DataFrame, spec: Spec, lang: str,
           total: int | None = None) -> Table:
    columns = _cols(frame, spec, lang)
    return Table(key, t(f"report.{title}", lang), t(f"report.{sheet}", lang), columns,
                 _rows(frame, columns), len(frame) if total is None else total)


def _materials_table(summary: MatchSummary, lang: str) -> Table | None:
    if not summary.materials:
        return None
    frame = pd.DataFrame([
        {"material": (m.name_zh if lang == "zh" else m.name_en) or slug,
         "unit": unit_label(m.unit, lang), "offered": num(m.offered),
         "matched": num(m.matched), "unmatched": num(m.unmatched),
         "utilization_rate": num(m.utilization_rate), "exchanges": m.exchanges}
        for slug, m in summary.materials.items()])
    spec: Spec = [
        ("material", "col_material", "text"), ("unit", "unit", "text"),
        ("offered", "col_offered", "qty"), ("matched", "col_matched", "qty"),
        ("unmatched", "col_unmatched", "qty"), ("utilization_rate", "col_rate", "pct"),
        ("exchanges", "col_exchanges", "int")]
    return _table("materials", "materials", "sheet_materials", frame, spec, lang)


def _families_table(summary: MatchSummary, lang: str) -> Table | None:
    if not summary.families:
        return None
    records = []
    for fam, f in summary.families.items():
        label = f"family.{fam}"
        records.append({
            "family": t(label, lang) if _known(label) else str(fam),
            "unit": unit_label(f.unit, lang),
            "offered": num(f.offered), "needed": num(f.needed),
            "matched": num(f.matched), "met": num(f.met),
            "utilization_rate": num(f.utilization_rate),
            "unit_km": num(f.unit_km), "exchanges": f.exchanges})
    spec: Spec = [
        ("family", "col_family", "text"), ("unit", "unit", "text"),
        ("offered", "col_offered", "qty"), ("needed", "col_needed", "qty"),
        ("matched", "col_matched", "qty"), ("met", "col_met", "qty"),
        ("utilization_rate", "col_rate", "pct"), ("unit_km", "col_unit_km", "qty"),
        ("exchanges", "col_exchanges", "int")]
    return _table("families", "families", "sheet_families", pd.DataFrame(records), spec, lang)


_EXCHANGE_SPEC: Spec = [
    ("offer_enterprise_id", "col_supplier", "text"),
    ("need_enterprise_id", "col_receiver", "text"),
    ("offer_material", "col_offer_material", "text"),
    ("need_material", "col_need_material", "text"),
    ("quantity", "col_quantity", "qty"),
    ("unit", "unit", "text"),
    ("distance_km", "col_distance_km", "km"),
    ("saving_cny", "col_saving_cny", "money"),
    ("co2_net_t", "col_co2_net_t", "co2"),
    ("price_cny_per_unit", "col_price", "price"),
    ("supplier_gain_cny", "col_supplier_gain", "money"),
    ("receiver_gain_cny", "col_receiver_gain", "money"),
    ("alternatives", "col_alternatives", "text"),
]
_EXCHANGE_DETAIL_SPEC: Spec = [
    ("price_low_cny_per_unit", "col_price_low", "price"),
    ("price_high_cny_per_unit", "col_price_high", "price"),
    ("even_split_price_cny_per_unit", "col_price_even", "price"),
    ("avoided_disposal_cny", "col_avoided_disposal_cny", "money"),
    ("avoided_virgin_cny", "col_avoided_virgin_cny", "money"),
    ("transport_cny", "col_transport_cny", "money"),
    ("treatment_cny", "col_treatment_cny", "money"),
    ("co2_avoided_t", "col_co2_avoided_t", "co2"),
    ("co2_transport_t", "col_co2_transport_t", "co2"),
    ("offer_id", "col_offer_id", "text"),
    ("need_id", "col_need_id", "text"),
    ("need_quantity", "col_need_quantity", "qty"),
    ("ratio", "col_ratio", "ratio"),
    ("unit_km", "col_unit_km_ex", "qty"),
    ("distance_source", "col_distance_source", "text"),
    ("rule", "col_rule", "text"),
    ("rule_source", "col_rule_source", "text"),
    ("quality_note", "col_quality_note", "text"),
    ("offer_estimated", "col_offer_estimated", "text"),  # symbiosis estimate (issue 14)
]


def _enterprise_namer(enterprises: pd.DataFrame | None) -> Callable[[object], str]:
    """enterprise id -> "name (id)" from enterprises.csv when it names them, else the id."""
    names: dict[str, str] = {}
    if enterprises is not None and {"enterprise_id", "name"} <= set(enterprises.columns):
        for eid, label in zip(enterprises["enterprise_id"], enterprises["name"], strict=True):
            if not is_missing(label) and str(label).strip():
                names[str(eid)] = str(label).strip()

    def name(eid: object) -> str:
        text = "" if is_missing(eid) else str(eid)
        return f"{names[text]} ({text})" if text in names else text

    return name


# the page's exchange table: what a reader needs to recognise an exchange; the workbook
# keeps every column (the alternatives each exchange beat made page rows 15 lines tall)
_PAGE_EXCHANGE_COLUMNS = frozenset({
    "offer_enterprise_id", "need_enterprise_id", "offer_material", "need_material", "quantity",
    "unit", "distance_km", "saving_cny", "co2_net_t"})


def _exchanges_table(exchanges: pd.DataFrame, lang: str, name: Callable[[object], str],
                     top: int | None, who: Callable[[object], str] | None = None) -> Table:
    frame = exchanges.copy()
    if who is not None:
        for col in ("offer_enterprise_id", "need_enterprise_id"):
            if col in frame.columns:
                frame[col] = frame[col].map(who)
    for col in ("offer_material", "need_material"):
        if col in frame.columns:
            frame[col] = frame[col].map(name)
    if "unit" in frame.columns:
        frame["unit"] = frame["unit"].map(lambda u: unit_label(str(u), lang))
    if "quantity" in frame.columns:
        frame = frame.sort_values("quantity", ascending=False, kind="stable")
    spec = [c for c in _EXCHANGE_SPEC if c[0] in _PAGE_EXCHANGE_COLUMNS] if top is not None \
        else [*_EXCHANGE_SPEC, *_EXCHANGE_DETAIL_SPEC]
    return _table("exchanges", "largest_exchanges" if top is not None else "exchanges_sheet",
                  "sheet_exchanges", frame.head(top) if top is not None else frame, spec, lang,
                  total=len(frame))


def _unmatched_table(offers: pd.DataFrame, summary: MatchSummary, lang: str,
                     name: Callable[[object], str], top: int | None,
                     who: Callable[[object], str] | None = None) -> Table:
    frame = offers.copy()
    if who is not None and "enterprise_id" in frame.columns:
        frame["enterprise_id"] = frame["enterprise_id"].map(who)
    if "unmatched" in frame.columns:
        frame = frame[frame["unmatched"].fillna(0) > 0]
        frame = frame.sort_values("unmatched", ascending=False, kind="stable")
    if "material" in frame.columns:
        frame["unit"] = frame["material"].map(
            lambda m: unit_label(_material_unit(summary, m), lang))
        frame["material"] = frame["material"].map(name)
    if "reason" in frame.columns:
        frame["reason"] = frame["reason"].map(lambda r: reason_text(r, lang))
    offer_id: Spec = [] if top is not None else [("offer_id", "col_offer_id", "text")]
    spec: Spec = [
        *offer_id,
        ("enterprise_id", "col_enterprise", "text"),
        ("material", "col_material", "text"), ("unit", "unit", "text"),
        ("offered", "col_offered", "qty"), ("unmatched", "col_unmatched", "qty"),
        ("candidate_needs", "col_candidates", "int"), ("reason", "col_reason", "text"),
        ("explanation", "col_explanation", "text"),
        ("marginal_value", "col_marginal_value", "price")]
    table = _table("unmatched", "unmatched_offers", "sheet_unmatched",
                   frame.head(top) if top is not None else frame, spec, lang, total=len(frame))
    if table.total == 0:
        table.note = t("report.none_unmatched", lang)
    return table


def _enterprises_table(enterprises: pd.DataFrame, lang: str) -> Table:
    frame = enterprises
    if "gain_cny" in frame.columns:
        frame = frame.sort_values("gain_cny", ascending=False, kind="stable")
    spec: Spec = [
        ("enterprise_id", "col_enterprise", "text"), ("name", "col_name", "text"),
        ("supplier_gain_cny", "col_supplier_gain", "money"),
        ("receiver_gain_cny", "col_receiver_gain", "money"),
        ("gain_cny", "col_gain", "money"), ("exchanges", "col_exchanges", "int"),
        ("exchanges_as_supplier", "col_as_supplier", "int"),
        ("exchanges_as_receiver", "col_as_receiver", "int")]
    return _table("enterprises", "enterprise_gains", "sheet_enterprises", frame, spec, lang)


def _needs_table(needs: pd.DataFrame, lang: str, name: Callable[[object], str],
                 top: int | None) -> Table:
    frame = needs.copy()
    if "marginal_value" in frame.columns:
        frame = frame.sort_values("marginal_value", ascending=False, kind="stable",
                                  na_position="last")
        if top is not None:
            frame = frame[frame["marginal_value"].fillna(0) > 0]
    if "material" in frame.columns:
        frame["material"] = frame["material"].map(name)
    if "unit" in frame.columns:
        frame["unit"] = frame["unit"].map(lambda u: unit_label(str(u), lang))
    spec: Spec = [
        ("need_id", "col_need_id", "text"), ("enterprise_id", "col_enterprise", "text"),
        ("material", "col_material", "text"), ("unit", "unit", "text"),
        ("needed", "col_needed", "qty"), ("met", "col_met", "qty"),
        ("met_rate", "col_met_rate", "pct"),
        ("candidate_offers", "col_candidate_offers", "int"),
        ("marginal_value", "col_marginal_value", "price"),
        ("marginal_unit", "col_marginal_unit", "text")]
    table = _table("needs", "needs_marginal", "sheet_needs",
                   frame.head(top) if top is not None else frame, spec, lang, total=len(frame))
    if table.total == 0:
        table.note = t("report.no_paying_need", lang)
    return table


def _sources_table(summary: MatchSummary, exchanges: pd.DataFrame, lang: str,
                   name: Callable[[object], str]) -> Table:
    rows: list[list[Any]] = []
    kinds: list[Kind | None] = []

    def add(item: str, value: object, unit: str, source: str, confidence: str,
            kind: Kind | None = None) -> None:
        shown, dropped = official_source(source)
        if dropped:
            shown = f"{shown} ({t('report.copy_dropped', lang)})"
        rows.append([item, value, unit, shown, confidence,
                     t("report.unverified", lang) if _flagged(source, confidence) else ""])
        kinds.append(kind)

    target = summary.utilization_target
    add(t("kpi.utilization_target", lang), num(target.value), "", target.source, "", "pct")
    factor = summary.transport_co2_factor
    if factor is not None:
        add(t("kpi.transport_co2_t", lang), num(factor.value), factor.unit, factor.source,
            factor.confidence)
    econ = summary.economics
    if econ is not None:
        rate = econ.transport_rate
        if rate is not None:
            add(t("report.transport_rate", lang), num(rate.value), rate.unit, rate.source,
                rate.confidence)
        cov = econ.coverage
        for item, got, of in (("coverage_disposal", cov.offers_with_disposal_cost, cov.offers),
                              ("coverage_treatment", cov.offers_with_treatment_cost,
                               cov.offers),
                              ("coverage_virgin", cov.needs_with_virgin_cost, cov.needs)):
            add(t(f"report.{item}", lang), got, t("report.of_n", lang, n=fmt_value(of, "int")),
                "", "", "int")
        _rate_rows(econ.rates, add, name, lang)
        method = econ.prices.method
        if method:
            add(t("report.price_method", lang),
                t(f"report.{method}", lang) if _known(f"report.{method}") else method, "",
                econ.prices.note, "", "text")
    for f in summary.carbon.factors if summary.carbon is not None else []:
        item = f"{t('report.carbon_factor', lang)}: {name(f.displaced)}"
        if f.need_material:
            item += f" ({t('report.col_need_material', lang)}: {name(f.need_material)})"
        add(item, num(f.value), f.unit, f.source, f.confidence)
    if {"rule", "rule_source"} <= set(exchanges.columns) and not exchanges.empty:
        used = exchanges[["rule", "rule_source"]].drop_duplicates().sort_values("rule")
        for rule, source in used.itertuples(index=False):
            if str(rule).strip():
                sides = str(rule).split("->")
                shown = " → ".join(name(x) for x in sides) if len(sides) == 2 else str(rule)
                add(f"{t('report.rule', lang)}: {shown}", "", "", str(source), "", "text")
    columns = [Column("item", t("report.col_item", lang), "text"),
               Column("value", t("report.value", lang), "factor"),
               Column("unit", t("report.unit", lang), "text"),
               Column("source", t("report.source", lang), "text"),
               Column("confidence", t("report.confidence", lang), "text"),
               Column("flag", t("report.flag", lang), "text")]
    flags = [bool(r[-1]) for r in rows]
    return Table("sources", t("report.sources", lang), t("report.sheet_sources", lang), columns,
                 rows, len(rows), flags=flags, row_kinds=kinds)


def _rate_rows(rates: Sequence[RateSource], add: Callable[..., None],
               name: Callable[[object], str], lang: str) -> None:
    """economics.rates (one entry per material and field) as one source row per distinct
    (field, value, source), naming the materials unless it applies to all of them."""
    groups: dict[tuple[str, float | None, str], list[str]] = {}
    every = {r.material for r in rates}
    for r in rates:
        groups.setdefault((r.field, num(r.value), r.source), []).append(r.material)
    for (fld, value, source), mats in groups.items():
        label = t(f"report.rate_{fld}", lang) if _known(f"report.rate_{fld}") else fld
        item = label if set(mats) == every else f"{label}: {', '.join(name(m) for m in mats)}"
        add(item, value, "", source, "")


def _meta(summary: MatchSummary, lang: str) -> list[tuple[str, str]]:
    params = summary.parameters
    meta = []
    if summary.dataset:
        meta.append((t("report.dataset", lang), dataset_name(summary)))
    objective = str(params.objective)
    meta.append((t("report.objective", lang),
                 t(f"obj.{objective}", lang) if _known(f"obj.{objective}") else objective))
    if params.max_km is not None:
        meta.append((t("report.max_km", lang),
                     f"{fmt_value(params.max_km, 'km')} {unit_label('km', lang)}"))
    elif params.reach:
        meta.append((t("report.reach", lang), t("report.default_reach", lang)))
    meta.append((t("report.circuity", lang), f"{params.circuity:g}"))
    return meta


def _co2_factor(summary: MatchSummary) -> tuple[str, str] | None:
    factor = summary.transport_co2_factor
    if factor is None or num(factor.value) is None:
        return None
    return fmt_value(factor.value, "factor"), factor.unit


def dataset_name(summary: MatchSummary) -> str:
    """The dataset's own name (its folder's or file's name), never the path it was read
    from: a report printed for a park office must not show an install path."""
    return Path(summary.dataset).name


# --------------------------------------------------------------------------- sources

# hosts of official documents a source may link to: governments, standards bodies, the IPCC
_OFFICIAL_HOSTS = ("gov.cn", "doi.org", "samr.gov.cn", "gov.uk", "ipcc.ch", "ipcc-nggip.iges.or.jp",
                   "iso.org", "europa.eu", "epa.gov", "unfccc.int")
_URL = re.compile(r"(?:https?://)?(?:[\w-]+\.)+(?:com|net|org|io|cn|uk|int|eu|gov|jp)"
                  r"(?:/\S*)?", re.IGNORECASE)
# what a source text says about where a copy was read: dropped with the copy
_COPY_PHRASE = re.compile(r",?\s*(?:as )?(?:reported|mirrored|copied|quoted) (?:by|on|at) "
                          r"(?P<host>\S+)", re.IGNORECASE)
_INTERNAL = re.compile(r"\(?\b(?:reference/[^\s);]*|[\w.-]+\.csv\b)(?:\s+\w+\b)?\)?:?\s*")


def official_source(text: str) -> tuple[str, bool]:
    """A source as the methods appendix shows it: the standard, law, official document or
    paper it names, without internal file references (`factors.csv key:`,
    `reference/...`) and without web copies on hosts that are not official (a personal
    repository, a company's mirror). Returns the text and whether a copy was dropped."""
    dropped = False

    def is_official(host: str) -> bool:
        bare = re.sub(r"^(?:https?://)?", "", host.lower()).split("/")[0]
        return any(bare == h or bare.endswith("." + h) for h in _OFFICIAL_HOSTS)

    def drop_phrase(match: re.Match[str]) -> str:
        nonlocal dropped
        if is_official(match.group("host")):
            return match.group(0)
        dropped = True
        return ""

    def drop_url(match: re.Match[str]) -> str:
        nonlocal dropped
        token = match.group(0)
        host = re.sub(r"^https?://", "", token, flags=re.IGNORECASE).split("/")[0]
        if is_official(token) or "." not in host or token[:1].isdigit():
            return token
        dropped = True
        return ""

    out = _INTERNAL.sub("", text)
    out = _COPY_PHRASE.sub(drop_phrase, out)
    out = _URL.sub(drop_url, out)
    out = re.sub(r"\(\s*\)|\s{2,}", " ", out)
    out = re.sub(r"[;,]?\s*\bsee\s*$", "", out.strip()).strip(" ,;:")
    return out, dropped


def _methods(summary: MatchSummary, lang: str) -> list[str]:
    """The methods appendix, one paragraph per method the run used."""
    keys = ["report.method_plan", "report.method_rate", "report.method_distance"]
    if summary.transport_co2_t is not None or summary.carbon is not None:
        keys.append("report.method_co2")
    if summary.economics is not None:
        keys.append("report.method_money")
    keys.append("report.method_figures")
    return [t(k, lang) for k in keys]


# --------------------------------------------------------------------------- one-page summary

SUMMARY_TOP_EXCHANGES = 10


def _official_lines(summary: MatchSummary, lang: str) -> tuple[list[str], bool]:
    """The bulk solid waste rate as the CLI states it (the same catalogue sentences):
    baseline -> plan against the target when the dataset gives a baseline; else the share of
    listed surplus matched, said not to be the official rate, with no target claimed."""
    bulk = summary.bulk_solid_waste
    if bulk is None or not bulk.offers_counted:
        return [], False

    def pct_text(value: float | None) -> str:
        return fmt_value(num(value), "pct", lang)

    def verdict(met: bool | None) -> str:
        return t("fig.no_target_claimed", lang) if met is None else \
            t("fig.target_met" if met else "fig.target_missed", lang)

    if not bulk.official:
        return [t("fig.listed_rate", lang) + ": "
                + t("fig.listed_note", lang, rate=pct_text(bulk.utilization_rate))], False
    lines = [t("fig.official_rate", lang) + ": "
             + t("fig.baseline_to_plan", lang, baseline=pct_text(bulk.baseline_rate),
                 plan=pct_text(bulk.utilization_rate)) + "; "
             + t("fig.against_target", lang, target=pct_text(bulk.target.value),
                 verdict=verdict(bulk.target_met))]
    for name, group in bulk.groups.items():
        lines.append(t("fig.sub_target", lang, group=t(f"fig.group.{name}", lang),
                       rate=pct_text(group.utilization_rate),
                       target=pct_text(group.target.value),
                       verdict=verdict(group.target_met)).strip())
    return lines, True


def _summary_tiles(by_key: Mapping[str, Kpi]) -> list[Kpi]:
    """The tiles of the one-page summary: rate, tonnes, CO2, money, exchanges.

    The bulk solid waste rate (summary.json `bulk_solid_waste`) leads the summary in the
    template's `official_rate` block (`_official_lines`); the rate tile is the share of the
    listed surplus matched, and claims the target only when the official rate does."""
    keys = ("utilization_rate", "tonnes_matched", "carbon.net_t", "transport_co2_t",
            "economics.saving_cny", "exchanges")
    tiles = [by_key[k] for k in keys if k in by_key]
    if "carbon.net_t" in by_key:  # the net figure already counts the transport
        tiles = [k for k in tiles if k.key != "transport_co2_t"]
    return tiles


def _top_exchanges_table(exchanges: pd.DataFrame, lang: str, name: Callable[[object], str],
                         who: Callable[[object], str], top: int) -> Table:
    """The largest exchanges by quantity, each named as "supplier -> receiver: material"."""
    frame = exchanges.copy()
    if "quantity" in frame.columns:
        frame = frame.sort_values("quantity", ascending=False, kind="stable")
    total = len(frame)
    frame = frame.head(top)
    arrow = " → "
    records = [{
        "exchange": f"{who(r.get('offer_enterprise_id'))}{arrow}"
                    f"{who(r.get('need_enterprise_id'))}",
        "material": name(r.get("offer_material")) + (
            f"{arrow}{name(r.get('need_material'))}"
            if r.get("need_material") not in (None, "", r.get("offer_material")) else ""),
        "quantity": r.get("quantity"), "unit": unit_label(str(r.get("unit", "")), lang),
        "distance_km": r.get("distance_km"), "saving_cny": r.get("saving_cny")}
        for r in frame.to_dict("records")]
    spec: Spec = [("exchange", "col_exchange", "text"), ("material", "col_material", "text"),
                  ("quantity", "col_quantity", "qty"), ("unit", "unit", "text"),
                  ("distance_km", "col_distance_km", "km"),
                  ("saving_cny", "col_saving_cny", "money")]
    out = pd.DataFrame(records, columns=[c[0] for c in spec])
    if "saving_cny" not in exchanges.columns:
        out = out.drop(columns="saving_cny")
    return _table("top_exchanges", "top_exchanges", "sheet_summary", out, spec, lang,
                  total=total)


def _blockers_table(offers: pd.DataFrame, summary: MatchSummary, lang: str) -> Table:
    """What blocks the rest: the unmatched quantity per reason (first reason code of an
    offer) and unit, largest first."""
    spec: Spec = [("reason", "col_reason", "text"), ("unit", "unit", "text"),
                  ("unmatched", "col_unmatched", "qty"), ("offers", "col_offers", "int")]
    frame = offers.copy()
    if not {"unmatched", "reason"} <= set(frame.columns):
        frame = pd.DataFrame(columns=["reason", "unit", "unmatched", "offers"])
    else:
        frame = frame[frame["unmatched"].fillna(0) > 0]
        frame = frame.assign(
            reason=frame["reason"].map(lambda r: str(r).split(";")[0].strip() or "-"),
            unit=frame["material"].map(lambda m: _material_unit(summary, m))
            if "material" in frame.columns else "")
        frame = (frame.groupby(["reason", "unit"], as_index=False)
                 .agg(unmatched=("unmatched", "sum"), offers=("unmatched", "size"))
                 .sort_values("unmatched", ascending=False, kind="stable"))
        frame["reason"] = frame["reason"].map(lambda r: reason_text(r, lang))
        frame["unit"] = frame["unit"].map(lambda u: unit_label(u, lang))
    table = _table("blockers", "blockers", "sheet_blockers", frame, spec, lang)
    if table.total == 0:
        table.note = t("report.none_unmatched", lang)
    return table


def _parks_tables(summary: MatchSummary, lang: str) -> tuple[Table | None, Table | None]:
    """Per park (offered, matched, rate, exchanges) and the within/across/outside split."""
    parks = summary.parks
    if parks is None or not parks.parks:
        return None, None
    frame = pd.DataFrame([
        {"park": name, "enterprises": p.enterprises, "offered_t": num(p.offered_t),
         "matched_t": num(p.matched_t), "utilization_rate": num(p.utilization_rate),
         "exchanges_from_park": p.exchanges_from_park,
         "exchanges_within_park": p.exchanges_within_park}
        for name, p in parks.parks.items()])
    frame = frame.sort_values("offered_t", ascending=False, kind="stable")
    spec: Spec = [("park", "col_park", "text"), ("enterprises", "col_enterprises", "int"),
                  ("offered_t", "col_offered_t", "qty"), ("matched_t", "col_matched_t", "qty"),
                  ("utilization_rate", "col_rate", "pct"),
                  ("exchanges_from_park", "col_from_park", "int"),
                  ("exchanges_within_park", "col_within_park", "int")]
    table = _table("parks", "parks", "sheet_parks", frame, spec, lang)
    order = ("within_park", "across_parks", "outside_parks")
    records = [{"kind": t(f"report.split_{kind}", lang), "exchanges": part.exchanges,
                "quantity_t": num(part.quantity.get("t")), "t_km": num(part.t_km)}
               for kind, part in sorted(parks.exchanges.items(),
                                        key=lambda item: order.index(item[0]))]
    split_spec: Spec = [("kind", "col_split", "text"), ("exchanges", "col_exchanges", "int"),
                        ("quantity_t", "col_quantity_t", "qty"), ("t_km", "col_t_km", "qty")]
    split_table = _table("park_split", "park_split", "sheet_park_split", pd.DataFrame(records),
                         split_spec, lang) if records else None
    return table, split_table


def build_report(run: RunOutputs, lang: str, page: bool, top: int | None = None) -> Report:
    """The language-resolved content of a report; `page` cuts long tables for the HTML
    (to `top` rows when given, else the HTML_TOP_* defaults).

    Raises:
        ValueError: an unknown language, or `top` below 1.
    """
    check_lang(lang)
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    summary = run.summary
    name = _material_namer(summary, lang)
    who = _enterprise_namer(run.enterprises)
    kpis = _kpis(summary, lang)
    by_key = {k.key: k for k in kpis}
    headline = [by_key[k] for k in ("utilization_rate", "tonnes_matched", "tonne_km",
                                    "transport_co2_t", "economics.saving_cny", "carbon.net_t")
                if k in by_key]
    tables: list[Table] = [table for table in (_materials_table(summary, lang),
                                               _families_table(summary, lang))
                           if table is not None]
    tables.append(_exchanges_table(run.exchanges, lang, name,
                                   (top or HTML_TOP_EXCHANGES) if page else None, who))
    tables.append(_unmatched_table(run.offers, summary, lang, name,
                                   (top or HTML_TOP_UNMATCHED) if page else None, who))
    if run.enterprises is not None:
        tables.append(_enterprises_table(run.enterprises, lang))
    if run.needs is not None:
        tables.append(_needs_table(run.needs, lang, name,
                                   (top or HTML_TOP_NEEDS) if page else None))
    target = summary.utilization_target
    dataset = dataset_name(summary)
    parks, park_split = _parks_tables(summary, lang)
    official_lines, official = _official_lines(summary, lang)
    # a target is claimed (the tile's verdict and gauge) only for the official indicator
    bulk = summary.bulk_solid_waste
    rate = num(bulk.utilization_rate) if official and bulk is not None \
        else num(summary.utilization_rate)
    return Report(
        lang=lang,
        title=t("report.title", lang) + (f" — {dataset}" if dataset else ""),
        meta=_meta(summary, lang), headline=headline, kpis=kpis,
        solver=_solver(summary, lang), tables=tables,
        sources=_sources_table(summary, run.exchanges, lang, name),
        rate=rate, target=num(target.value) if official else None,
        target_source=target.source, dataset=dataset,
        co2_factor=_co2_factor(summary),
        summary_tiles=_summary_tiles(by_key),
        top_exchanges=_top_exchanges_table(run.exchanges, lang, name, who,
                                           SUMMARY_TOP_EXCHANGES),
        blockers=_blockers_table(run.offers, summary, lang),
        parks=parks, park_split=park_split, methods=_methods(summary, lang),
        official_lines=official_lines, official=official)
