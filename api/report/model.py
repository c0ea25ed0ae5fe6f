"""The report model: a match output folder read once and turned into language-resolved KPI
rows and tables with a value kind per column, which the HTML and XLSX writers only render.

This is the only module that knows summary.json's keys and the output CSVs' columns: the
folder is read by `read_run` (summary.json through `read_summary`, the one place that parses
it), and `build_report` resolves every figure, label and table. When summary.json becomes a
typed model (`matching.summary.MatchSummary`), `read_summary` and the accessors below are the
only code to change.

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

from symbiosis.api.report.numbers import fmt_amount
from symbiosis.errors import InvalidDataError, Problem
from symbiosis.i18n import catalogue, t
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
_LEGACY_REASONS = {
    "no compatible need within reach": "report.legacy_reason.no_compatible_need_within_reach",
    "compatible needs within reach are already full": "report.legacy_reason.needs_full",
}

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


def is_missing(value: object) -> bool:
    """None, NaN, an infinite float or pandas' NA."""
    return value is None or (isinstance(value, float) and not math.isfinite(value)) \
        or value is pd.NA


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
    """The files of a match output folder: summary.json (as parsed by `read_summary`),
    exchanges.csv, offers.csv, and enterprises.csv / needs.csv when the run wrote them."""

    summary: Mapping[str, Any]
    exchanges: pd.DataFrame
    offers: pd.DataFrame
    enterprises: pd.DataFrame | None = None
    needs: pd.DataFrame | None = None


# --------------------------------------------------------------------------- reading


def read_summary(path: Path) -> dict[str, Any]:
    """summary.json of a match output folder: the one place the report parses it.

    Raises:
        InvalidDataError: not valid JSON, or not a JSON object (named `summary.json:line`).
    """
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidDataError([Problem(path.name, exc.lineno, None,
                                        f"not valid JSON: {exc.msg}")]) from exc
    if not isinstance(summary, dict):
        raise InvalidDataError([Problem(path.name, None, None,
                                        "expected a JSON object at the top level")])
    return summary


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


def read_outputs(out_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame,
                                                pd.DataFrame | None, pd.DataFrame | None]:
    """summary, exchanges, offers, enterprises (or None) and needs (or None) of a match
    output folder (`read_run` as a tuple).

    Raises:
        InvalidDataError: as `read_run`.
    """
    run = read_run(out_dir)
    return dict(run.summary), run.exchanges, run.offers, run.enterprises, run.needs


# --------------------------------------------------------------------------- summary parts


def _part(summary: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A nested object of summary.json, or {} when absent or not an object."""
    value = summary.get(key)
    return value if isinstance(value, dict) else {}


def _material_namer(summary: Mapping[str, Any], lang: str) -> Callable[[object], str]:
    """slug -> display name: summary.json's names first, then the built-in taxonomy."""
    names: dict[str, str] = {}
    key = "name_zh" if lang == "zh" else "name_en"
    for slug, m in load_taxonomy().materials.items():
        local = m.name_zh if lang == "zh" else m.name_en
        if local:
            names[slug] = local
    for slug, m in _part(summary, "materials").items():
        if isinstance(m, dict) and m.get(key):
            names[str(slug)] = str(m[key])

    def name(slug: object) -> str:
        text = "" if is_missing(slug) else str(slug)
        return names.get(text, text)

    return name


def _kpis(summary: Mapping[str, Any], lang: str) -> list[Kpi]:
    out: list[Kpi] = []

    def add(key: str, group: str, value: object, kind: Kind, unit: str = "",
            source: str = "", confidence: str = "") -> None:
        if is_missing(value) and kind != "text":
            return
        val: float | int | str | None
        val = value if isinstance(value, str) else num(value)
        if kind == "int" and isinstance(val, float) and val.is_integer():
            val = int(val)
        out.append(Kpi(key, t(f"report.{group}", lang), t(f"kpi.{key}", lang), val, kind,
                       unit_label(unit, lang), source, confidence))

    target = _part(summary, "utilization_target")
    add("utilization_rate", "group_flows", summary.get("utilization_rate"), "pct",
        source=t("kpi.utilization_basis", lang))
    if "value" in target:
        out.append(Kpi("utilization_target.value", t("report.group_flows", lang),
                       t("kpi.utilization_target", lang), num(target.get("value")), "pct", "",
                       str(target.get("source", ""))))
    for key in ("tonnes_offered", "tonnes_matched", "tonnes_unmatched"):
        add(key, "group_flows", summary.get(key), "qty", "t/yr")
    add("exchanges", "group_flows", summary.get("exchanges"), "int")
    add("enterprise_pairs", "group_flows", summary.get("enterprise_pairs"), "int")
    add("tonne_km", "group_transport", summary.get("tonne_km"), "qty", "t·km/yr")
    add("average_haul_km", "group_transport", summary.get("average_haul_km"), "km", "km")
    factor = _part(summary, "transport_co2_factor")
    add("transport_co2_t", "group_transport", summary.get("transport_co2_t"), "co2",
        "t CO2e/yr", str(factor.get("source", "")), str(factor.get("confidence", "")))

    econ = _part(summary, "economics")
    if econ:
        currency = str(econ.get("currency", "CNY/yr"))
        money = t("report.group_money", lang)
        for key in ("saving_cny", "avoided_disposal_cny", "avoided_virgin_cny",
                    "transport_cny", "treatment_cny"):
            if key in econ and not is_missing(econ[key]):
                source = ""
                conf = ""
                rate = econ.get("transport_rate")
                if key == "transport_cny" and isinstance(rate, dict):
                    source = str(rate.get("source", ""))
                    conf = str(rate.get("confidence", ""))
                out.append(Kpi(f"economics.{key}", money, t(f"kpi.{key}", lang),
                               num(econ[key]), "money", unit_label(currency, lang), source,
                               conf))
        losing = num(econ.get("exchanges_losing_money"))
        if losing is not None:
            out.append(Kpi("economics.exchanges_losing_money", money,
                           t("kpi.exchanges_losing_money", lang), int(losing), "int"))
    carbon = _part(summary, "carbon")
    if carbon:
        unit = str(carbon.get("unit", "t CO2e/yr"))
        for key, label in (("avoided_t", "co2_avoided_t"), ("transport_t", "co2_transport_t"),
                           ("net_t", "co2_net_t")):
            if key in carbon and not is_missing(carbon[key]):
                factors = carbon.get("factors") or []
                low = key != "transport_t" and any(
                    isinstance(f, dict) and _flagged(str(f.get("source", "")),
                                                     str(f.get("confidence", "")))
                    for f in factors)
                out.append(Kpi(f"carbon.{key}", t("report.group_carbon", lang),
                               t(f"kpi.{label}", lang), num(carbon[key]), "co2",
                               unit_label(unit, lang),
                               "" if key == "transport_t" else t("report.see_sources", lang),
                               "unverified" if low else ""))
    return out


def _solver(summary: Mapping[str, Any], lang: str) -> list[Kpi]:
    s = _part(summary, "solver")
    if not s:
        return []
    group = t("report.solver", lang)
    out = []
    if "status" in s:
        out.append(Kpi("solver.status", group, t("report.status", lang), str(s["status"]),
                       "text"))
    if s.get("sense"):
        out.append(Kpi("solver.sense", group, t("report.sense", lang), str(s["sense"]), "text"))
    meaning = str(s.get("objective_meaning", ""))
    specs: tuple[tuple[str, str, Kind], ...] = (
        ("objective", "objective_value", "num"), ("bound", "bound", "num"),
        ("gap", "gap", "gap"), ("seconds", "seconds", "seconds"))
    for key, label, kind in specs:
        value = num(s.get(key))
        if key in s and value is not None:
            out.append(Kpi(f"solver.{key}", group, t(f"report.{label}", lang), value, kind,
                           unit_label("s", lang) if key == "seconds" else "",
                           meaning if key in ("objective", "bound") else ""))
    if s.get("methods"):
        out.append(Kpi("solver.methods", group, t("report.methods", lang),
                       ", ".join(map(str, s["methods"])), "text"))
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


def _materials_table(summary: Mapping[str, Any], lang: str) -> Table | None:
    mats = _part(summary, "materials")
    if not mats:
        return None
    key = "name_zh" if lang == "zh" else "name_en"
    frame = pd.DataFrame([
        {"material": str(m.get(key) or slug), "unit": unit_label(str(m.get("unit", "")), lang),
         "offered": num(m.get("offered")), "matched": num(m.get("matched")),
         "unmatched": num(m.get("unmatched")),
         "utilization_rate": num(m.get("utilization_rate")),
         "exchanges": m.get("exchanges")}
        for slug, m in mats.items() if isinstance(m, dict)])
    spec: Spec = [
        ("material", "col_material", "text"), ("unit", "unit", "text"),
        ("offered", "col_offered", "qty"), ("matched", "col_matched", "qty"),
        ("unmatched", "col_unmatched", "qty"), ("utilization_rate", "col_rate", "pct"),
        ("exchanges", "col_exchanges", "int")]
    return _table("materials", "materials", "sheet_materials", frame, spec, lang)


def _families_table(summary: Mapping[str, Any], lang: str) -> Table | None:
    fams = _part(summary, "families")
    if not fams:
        return None
    records = []
    for fam, f in fams.items():
        if not isinstance(f, dict):
            continue
        unit_km = next((v for k, v in f.items() if k.endswith("_km")), None)
        label = f"family.{fam}"
        records.append({
            "family": t(label, lang) if _known(label) else str(fam),
            "unit": unit_label(str(f.get("unit", "")), lang),
            "offered": num(f.get("offered")), "needed": num(f.get("needed")),
            "matched": num(f.get("matched")), "met": num(f.get("met")),
            "utilization_rate": num(f.get("utilization_rate")),
            "unit_km": num(unit_km), "exchanges": f.get("exchanges")})
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


def reason_text(reason: object, lang: str) -> str:
    """An unmatched offer's reason in `lang`: a reason code (matching.reasons), several codes
    joined by ";", or an older output folder's English sentence; anything else as written."""
    text = "" if is_missing(reason) else str(reason)
    if text in _LEGACY_REASONS:
        return t(_LEGACY_REASONS[text], lang)
    codes = [c.strip() for c in text.split(";")]
    if text and all(_known(f"reason.{c}") for c in codes):
        return "; ".join(t(f"reason.{c}", lang) for c in codes)
    return text


def _unmatched_table(offers: pd.DataFrame, summary: Mapping[str, Any], lang: str,
                     name: Callable[[object], str], top: int | None,
                     who: Callable[[object], str] | None = None) -> Table:
    frame = offers.copy()
    if who is not None and "enterprise_id" in frame.columns:
        frame["enterprise_id"] = frame["enterprise_id"].map(who)
    if "unmatched" in frame.columns:
        frame = frame[frame["unmatched"].fillna(0) > 0]
        frame = frame.sort_values("unmatched", ascending=False, kind="stable")
    mats = _part(summary, "materials")
    if "material" in frame.columns:
        frame["unit"] = frame["material"].map(
            lambda m: unit_label(str((mats.get(str(m)) or {}).get("unit", "")), lang))
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


def _sources_table(summary: Mapping[str, Any], exchanges: pd.DataFrame, lang: str,
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

    target = summary.get("utilization_target")
    if isinstance(target, dict):
        add(t("kpi.utilization_target", lang), num(target.get("value")), "",
            str(target.get("source", "")), "", "pct")
    factor = summary.get("transport_co2_factor")
    if isinstance(factor, dict):
        add(t("kpi.transport_co2_t", lang), num(factor.get("value")),
            str(factor.get("unit", "")), str(factor.get("source", "")),
            str(factor.get("confidence", "")))
    econ = _part(summary, "economics")
    if econ:
        rate = econ.get("transport_rate")
        if isinstance(rate, dict):
            add(t("report.transport_rate", lang), num(rate.get("value")),
                str(rate.get("unit", "")), str(rate.get("source", "")),
                str(rate.get("confidence", "")))
        cov = econ.get("coverage")
        if isinstance(cov, dict):
            for item, got, of in (("coverage_disposal", "offers_with_disposal_cost", "offers"),
                                  ("coverage_treatment", "offers_with_treatment_cost",
                                   "offers"),
                                  ("coverage_virgin", "needs_with_virgin_cost", "needs")):
                if got in cov:
                    add(t(f"report.{item}", lang), num(cov.get(got)),
                        t("report.of_n", lang, n=fmt_value(cov.get(of), "int")), "", "", "int")
        _rate_rows(econ.get("rates"), add, name, lang)
        prices = econ.get("prices")
        if isinstance(prices, dict) and prices.get("method"):
            method = str(prices["method"])
            add(t("report.price_method", lang),
                t(f"report.{method}", lang) if _known(f"report.{method}") else method, "",
                str(prices.get("note", "")), "", "text")
    carbon = _part(summary, "carbon")
    for f in carbon.get("factors") or []:
        if not isinstance(f, dict):
            continue
        item = f"{t('report.carbon_factor', lang)}: {name(f.get('displaced', ''))}"
        if f.get("need_material"):
            item += f" ({t('report.col_need_material', lang)}: {name(f['need_material'])})"
        add(item, num(f.get("value")), str(f.get("unit", "")), str(f.get("source", "")),
            str(f.get("confidence", "")))
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


def _rate_rows(rates: object, add: Callable[..., None], name: Callable[[object], str],
               lang: str) -> None:
    """economics.rates (one entry per material and field) as one source row per distinct
    (field, value, source), naming the materials unless it applies to all of them."""
    if not isinstance(rates, list):
        return
    groups: dict[tuple[str, float | None, str], list[str]] = {}
    every: set[str] = set()
    for r in rates:
        if not isinstance(r, dict):
            continue
        material = str(r.get("material", ""))
        every.add(material)
        key = (str(r.get("field", "")), num(r.get("value")), str(r.get("source", "")))
        groups.setdefault(key, []).append(material)
    for (fld, value, source), mats in groups.items():
        label = t(f"report.rate_{fld}", lang) if _known(f"report.rate_{fld}") else fld
        item = label if set(mats) == every else f"{label}: {', '.join(name(m) for m in mats)}"
        add(item, value, "", source, "")


def _meta(summary: Mapping[str, Any], lang: str) -> list[tuple[str, str]]:
    params = _part(summary, "parameters")
    meta = []
    if summary.get("dataset"):
        meta.append((t("report.dataset", lang), dataset_name(summary)))
    if params.get("objective"):
        objective = str(params["objective"])
        meta.append((t("report.objective", lang),
                     t(f"obj.{objective}", lang) if _known(f"obj.{objective}") else objective))
    if params.get("max_km") is not None:
        meta.append((t("report.max_km", lang),
                     f"{fmt_value(params['max_km'], 'km')} {unit_label('km', lang)}"))
    elif params.get("reach"):
        meta.append((t("report.reach", lang), t("report.default_reach", lang)))
    if params.get("circuity") is not None:
        meta.append((t("report.circuity", lang), str(params["circuity"])))
    return meta


def _co2_factor(summary: Mapping[str, Any]) -> tuple[str, str] | None:
    factor = _part(summary, "transport_co2_factor")
    if num(factor.get("value")) is None:
        return None
    return fmt_value(factor["value"], "factor"), str(factor.get("unit", ""))


def dataset_name(summary: Mapping[str, Any]) -> str:
    """The dataset's own name (its folder's or file's name), never the path it was read
    from: a report printed for a park office must not show an install path."""
    return Path(str(summary.get("dataset") or "")).name


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


def _methods(summary: Mapping[str, Any], lang: str) -> list[str]:
    """The methods appendix, one paragraph per method the run used."""
    keys = ["report.method_plan", "report.method_rate", "report.method_distance"]
    if summary.get("transport_co2_t") is not None or _part(summary, "carbon"):
        keys.append("report.method_co2")
    if _part(summary, "economics"):
        keys.append("report.method_money")
    keys.append("report.method_figures")
    return [t(k, lang) for k in keys]


# --------------------------------------------------------------------------- one-page summary

SUMMARY_TOP_EXCHANGES = 10


def _official_lines(summary: Mapping[str, Any], lang: str) -> tuple[list[str], bool]:
    """The bulk solid waste rate as the CLI states it (the same catalogue sentences):
    baseline -> plan against the target when the dataset gives a baseline; else the share of
    listed surplus matched, said not to be the official rate, with no target claimed."""
    bulk = _part(summary, "bulk_solid_waste")
    if not bulk or not bulk.get("offers_counted"):
        return [], False

    def pct_text(value: object) -> str:
        return fmt_value(num(value), "pct", lang)

    def verdict(met: object) -> str:
        return t("fig.no_target_claimed", lang) if met is None else \
            t("fig.target_met" if met else "fig.target_missed", lang)

    if not bulk.get("official"):
        return [t("fig.listed_rate", lang) + ": "
                + t("fig.listed_note", lang, rate=pct_text(bulk.get("utilization_rate")))], False
    target = bulk.get("target") or {}
    lines = [t("fig.official_rate", lang) + ": "
             + t("fig.baseline_to_plan", lang, baseline=pct_text(bulk.get("baseline_rate")),
                 plan=pct_text(bulk.get("utilization_rate"))) + "; "
             + t("fig.against_target", lang, target=pct_text(target.get("value")),
                 verdict=verdict(bulk.get("target_met")))]
    for name, group in (bulk.get("groups") or {}).items():
        group_target = group.get("target") or {}
        lines.append(t("fig.sub_target", lang, group=t(f"fig.group.{name}", lang),
                       rate=pct_text(group.get("utilization_rate")),
                       target=pct_text(group_target.get("value")),
                       verdict=verdict(group.get("target_met"))).strip())
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


def _blockers_table(offers: pd.DataFrame, summary: Mapping[str, Any], lang: str) -> Table:
    """What blocks the rest: the unmatched quantity per reason (first reason code of an
    offer) and unit, largest first."""
    spec: Spec = [("reason", "col_reason", "text"), ("unit", "unit", "text"),
                  ("unmatched", "col_unmatched", "qty"), ("offers", "col_offers", "int")]
    mats = _part(summary, "materials")
    frame = offers.copy()
    if not {"unmatched", "reason"} <= set(frame.columns):
        frame = pd.DataFrame(columns=["reason", "unit", "unmatched", "offers"])
    else:
        frame = frame[frame["unmatched"].fillna(0) > 0]
        frame = frame.assign(
            reason=frame["reason"].map(lambda r: str(r).split(";")[0].strip() or "-"),
            unit=frame["material"].map(
                lambda m: str((mats.get(str(m)) or {}).get("unit", ""))
            ) if "material" in frame.columns else "")
        frame = (frame.groupby(["reason", "unit"], as_index=False)
                 .agg(unmatched=("unmatched", "sum"), offers=("unmatched", "size"))
                 .sort_values("unmatched", ascending=False, kind="stable"))
        frame["reason"] = frame["reason"].map(lambda r: reason_text(r, lang))
        frame["unit"] = frame["unit"].map(lambda u: unit_label(u, lang))
    table = _table("blockers", "blockers", "sheet_blockers", frame, spec, lang)
    if table.total == 0:
        table.note = t("report.none_unmatched", lang)
    return table


def _parks_tables(summary: Mapping[str, Any], lang: str) -> tuple[Table | None, Table | None]:
    """Per park (offered, matched, rate, exchanges) and the within/across/outside split."""
    parks = _part(summary, "parks")
    per_park = _part(parks, "parks")
    if not per_park:
        return None, None
    frame = pd.DataFrame([
        {"park": str(n), "enterprises": p.get("enterprises"),
         "offered_t": num(p.get("offered_t")), "matched_t": num(p.get("matched_t")),
         "utilization_rate": num(p.get("utilization_rate")),
         "exchanges_from_park": p.get("exchanges_from_park"),
         "exchanges_within_park": p.get("exchanges_within_park")}
        for n, p in per_park.items() if isinstance(p, dict)])
    frame = frame.sort_values("offered_t", ascending=False, kind="stable")
    spec: Spec = [("park", "col_park", "text"), ("enterprises", "col_enterprises", "int"),
                  ("offered_t", "col_offered_t", "qty"), ("matched_t", "col_matched_t", "qty"),
                  ("utilization_rate", "col_rate", "pct"),
                  ("exchanges_from_park", "col_from_park", "int"),
                  ("exchanges_within_park", "col_within_park", "int")]
    table = _table("parks", "parks", "sheet_parks", frame, spec, lang)
    split = _part(parks, "exchanges")
    records = []
    for kind in ("within_park", "across_parks", "outside_parks"):
        part = split.get(kind)
        if isinstance(part, dict):
            qty = part.get("quantity") or {}
            records.append({
                "kind": t(f"report.split_{kind}", lang), "exchanges": part.get("exchanges"),
                "quantity_t": num(qty.get("t")) if isinstance(qty, dict) else None,
                "t_km": num(part.get("t_km"))})
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
    target = _part(summary, "utilization_target")
    dataset = dataset_name(summary)
    parks, park_split = _parks_tables(summary, lang)
    official_lines, official = _official_lines(summary, lang)
    # a target is claimed (the tile's verdict and gauge) only for the official indicator
    bulk = _part(summary, "bulk_solid_waste")
    rate = num(bulk.get("utilization_rate")) if official else num(summary.get("utilization_rate"))
    return Report(
        lang=lang,
        title=t("report.title", lang) + (f" — {dataset}" if dataset else ""),
        meta=_meta(summary, lang), headline=headline, kpis=kpis,
        solver=_solver(summary, lang), tables=tables,
        sources=_sources_table(summary, run.exchanges, lang, name),
        rate=rate, target=num(target.get("value")) if official else None,
        target_source=str(target.get("source", "")), dataset=dataset,
        co2_factor=_co2_factor(summary),
        summary_tiles=_summary_tiles(by_key),
        top_exchanges=_top_exchanges_table(run.exchanges, lang, name, who,
                                           SUMMARY_TOP_EXCHANGES),
        blockers=_blockers_table(run.offers, summary, lang),
        parks=parks, park_split=park_split, methods=_methods(summary, lang),
        official_lines=official_lines, official=official)
