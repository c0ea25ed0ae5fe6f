"""`symbiosis template` and `symbiosis estimate`: data in the form a park office keeps it.

`template [--lang zh|en] OUT` writes a blank dataset a park office can fill in: an .xlsx
(sheets enterprises, offers, needs, capacities with headers in the chosen language, drop-down
lists for materials, units, coordinate systems, sectors and enterprise ids, an instructions
sheet with example rows, and a lists sheet) or, for any other OUT, a folder of CSV files
(UTF-8 with a byte-order mark) with a README. The headers are aliases of the dataset
contract (`symbiosis/data/aliases.csv`), so the filled template loads as it is.

`estimate DATASET --out DIR` reads DATASET's capacities table and writes DIR as a complete
dataset: its own tables with the estimated offers and needs added (`estimated = yes`, a
low-high range, the formula, the coefficients' sources and confidence; see
`symbiosis.estimate`), ready for `symbiosis match DIR`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from symbiosis.api.cli_common import DatasetArg, Lang, LangOpt, Quiet, out_console
from symbiosis.i18n import t

if TYPE_CHECKING:
    from symbiosis.estimate import EstimateRun

__all__ = ["TEMPLATE_COLUMNS", "register", "template_headers", "write_template"]

# issue 16: integer logistics, optional (blank = no lot, no partner limit, no contract cost)
LOGISTICS_TEMPLATE = ("min_lot", "max_partners", "contract_cny_per_year")
TEMPLATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "enterprises": ("id", "name", "sector", "lon", "lat", "park", "crs"),
    "offers": ("id", "enterprise_id", "material", "quantity", "unit", "generated",
               "used_existing", "stock", "disposal_cost", "treatment_cost",
               *LOGISTICS_TEMPLATE),
    "needs": ("id", "enterprise_id", "material", "quantity", "unit", "virgin_cost",
              "replaces", *LOGISTICS_TEMPLATE),
    "capacities": ("enterprise_id", "boiler", "installed_mw", "operating_hours", "coal_t",
                   "coal_ash_pct", "coal_sulphur_pct", "desulphurisation_pct", "hot_metal_t",
                   "crude_steel_t", "alumina_t", "p2o5_t", "ore_t", "concentrate_t",
                   "cement_t", "unit"),
}
ROWS = 1000  # data-validation rows below the header
CRS_CHOICES = ("wgs84", "gcj02", "bd09", "EPSG:4490")
BOILERS = ("pc", "cfb")
UNIT_CHOICES = ("t", "吨", "kt", "千吨", "万吨", "t/d", "t/h", "GJ", "万GJ", "MWh", "m3",
                "万m3")


def template_headers(lang: str) -> dict[str, tuple[str, list[str]]]:
    """Table -> (sheet name, headers) in `lang` (the catalogue's template.* messages)."""
    return {table: (t(f"template.sheet.{table}", lang),
                    [t(f"template.col.{table}.{c}", lang) for c in cols])
            for table, cols in TEMPLATE_COLUMNS.items()}


def _material_labels(lang: str) -> tuple[list[tuple[str, str, str]],
                                         list[tuple[str, str, str]]]:
    """(slug, label, other-language name) for offer materials (by-products) and need
    materials (inputs first, then by-products, which recyclers also take); the zh label is
    the Chinese name where it resolves back to its own slug, else the slug."""
    from symbiosis.contract import match_key, material_resolver
    from symbiosis.taxonomy import load_taxonomy

    tax = load_taxonomy()
    resolver = material_resolver(tax)

    def label(slug: str) -> tuple[str, str, str]:
        mat = tax.materials[slug]
        if lang == "zh" and resolver.get(match_key(mat.name_zh)) == slug:
            return slug, mat.name_zh, slug
        return slug, slug, mat.name_zh if lang == "en" else mat.name_en

    byproducts = [s for s, m in tax.materials.items() if m.kind == "byproduct"]
    inputs = [s for s, m in tax.materials.items() if m.kind != "byproduct"]
    return [label(s) for s in byproducts], [label(s) for s in inputs + byproducts]


def _sectors(lang: str) -> list[tuple[str, str]]:
    """GB/T 4754-2017 codes the engine knows (need_sectors.csv, estimate_sectors.csv)."""
    found: dict[str, str] = {}
    for name in ("estimate_sectors.csv", "need_sectors.csv"):
        text = resources.files("symbiosis.data").joinpath(name).read_text(encoding="utf-8")
        for row in csv.DictReader(text.splitlines()):
            found.setdefault(row["code"], row["name_zh"] if lang == "zh" else row["name_en"])
    return sorted(found.items())


def _examples(lang: str, materials: dict[str, str]) -> dict[str, list[list[Any]]]:
    """One example row per table (an illustrative power plant and cement plant), in the
    order of TEMPLATE_COLUMNS; `materials` maps slugs to the labels the lists use."""
    unit = "万吨"
    return {
        "enterprises": [
            ["E01", t("template.example.name1", lang), "4411", 112.93, 27.83,
             t("template.example.park", lang), "wgs84"],
            ["E02", t("template.example.name2", lang), "3011", 112.95, 27.86,
             t("template.example.park", lang), "wgs84"],
        ],
        "offers": [["O1", "E01", materials["fly_ash"], 12, unit, "", "", "", "", "",
                    *[""] * len(LOGISTICS_TEMPLATE)]],
        "needs": [["N1", "E02", materials["cement_admixture"], 8, unit, "", "",
                   *[""] * len(LOGISTICS_TEMPLATE)]],
        "capacities": [["E01", "pc", 600, 5000, "", 20, 1, 97, "", "", "", "", "", "", "",
                        ""]],
    }


def _instructions(lang: str, sheets: dict[str, tuple[str, list[str]]],
                  examples: dict[str, list[list[Any]]], lists_sheet: str) -> list[list[Any]]:
    lines: list[list[Any]] = [[t("template.title", lang)], [t("template.intro", lang)], []]
    for table, (sheet, _) in sheets.items():
        lines.append([t(f"template.about.{table}", lang, sheet=sheet)])
    lines.append([t("template.about.lists", lang, sheet=lists_sheet)])
    lines += [[], [t("template.example", lang)]]
    for table, (sheet, headers) in sheets.items():
        lines += [[], [sheet], headers, *examples[table]]
    return lines


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _write_xlsx(path: Path, lang: str, example: bool) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    from symbiosis.jsonio import atomic_write

    sheets = template_headers(lang)
    offer_mats, need_mats = _material_labels(lang)
    examples = _examples(lang, {slug: label for slug, label, _ in need_mats})
    sectors = _sectors(lang)
    lists_name = t("template.sheet.lists", lang)
    wb = Workbook()
    wb.remove(wb.active)
    info = wb.create_sheet(t("template.sheet.instructions", lang))
    for line in _instructions(lang, sheets, examples, lists_name):
        info.append(line)
    info["A1"].font = Font(bold=True, size=14)
    info.column_dimensions["A"].width = 24
    columns: dict[str, list[Any]] = {
        "offer_material": [m for _, m, _ in offer_mats],
        "offer_other": [o for _, _, o in offer_mats],
        "need_material": [m for _, m, _ in need_mats],
        "need_other": [o for _, _, o in need_mats],
        "unit": list(UNIT_CHOICES),
        "crs": list(CRS_CHOICES),
        "sector": [c for c, _ in sectors],
        "sector_name": [n for _, n in sectors],
        "boiler": list(BOILERS),
    }
    titles = {"offer_material": "offer_material", "offer_other": "other_name",
              "need_material": "need_material", "need_other": "other_name", "unit": "unit",
              "crs": "crs", "sector": "sector", "sector_name": "sector_name",
              "boiler": "boiler"}
    ref = {key: f"'{lists_name}'!${_column_letter(j)}$2:${_column_letter(j)}${len(values) + 1}"
           for j, (key, values) in enumerate(columns.items())}

    def validate(ws: Any, column: int, formula: str, prompt_key: str) -> None:
        dv = DataValidation(type="list", formula1=formula, allow_blank=True,
                            showErrorMessage=True, errorStyle="warning",
                            promptTitle=t("template.validation.title", lang)[:32],
                            prompt=t(prompt_key, lang)[:255],
                            errorTitle=t("template.validation.title", lang)[:32],
                            error=t(prompt_key, lang)[:255])
        dv.showInputMessage = True
        letter = _column_letter(column)
        dv.add(f"{letter}2:{letter}{ROWS + 1}")
        ws.add_data_validation(dv)

    ent_sheet = sheets["enterprises"][0]
    ent_ids = f"'{ent_sheet}'!$A$2:$A${ROWS + 1}"
    choice = {
        ("enterprises", "sector"): (ref["sector"], "template.validation.sector"),
        ("enterprises", "crs"): (ref["crs"], "template.validation.crs"),
        ("offers", "material"): (ref["offer_material"], "template.validation.material"),
        ("needs", "material"): (ref["need_material"], "template.validation.material"),
        ("offers", "unit"): (ref["unit"], "template.validation.unit"),
        ("needs", "unit"): (ref["unit"], "template.validation.unit"),
        ("capacities", "unit"): (ref["unit"], "template.validation.unit"),
        ("capacities", "boiler"): (ref["boiler"], "template.validation.boiler"),
        ("offers", "enterprise_id"): (ent_ids, "template.validation.enterprise"),
        ("needs", "enterprise_id"): (ent_ids, "template.validation.enterprise"),
        ("capacities", "enterprise_id"): (ent_ids, "template.validation.enterprise"),
    }
    for table, (sheet, headers) in sheets.items():
        ws = wb.create_sheet(sheet)
        ws.append(headers)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for j, name in enumerate(TEMPLATE_COLUMNS[table]):
            ws.column_dimensions[_column_letter(j)].width = max(12, 2 * len(headers[j]) + 2)
            if name in ("id", "enterprise_id", "sector"):  # ids and codes stay text
                for r in range(2, ROWS + 2):
                    ws.cell(r, j + 1).number_format = "@"
            if (table, name) in choice:
                validate(ws, j, *choice[(table, name)])
        ws.freeze_panes = "A2"
        if example:  # cells below the header exist (formatted), so address them
            for i, row in enumerate(examples[table]):
                for j, value in enumerate(row):
                    ws.cell(i + 2, j + 1, value)
    lists = wb.create_sheet(lists_name)
    for j, (key, values) in enumerate(columns.items()):
        lists.cell(1, j + 1, t(f"template.lists.{titles[key]}", lang)).font = Font(bold=True)
        for i, value in enumerate(values):
            # sector codes as text: "0810" must keep its leading zero
            lists.cell(i + 2, j + 1, value).number_format = "@"
        lists.column_dimensions[_column_letter(j)].width = 22
    wb.active = 0
    atomic_write(path, lambda p: wb.save(p))


def _write_csv_folder(folder: Path, lang: str, example: bool) -> None:
    from symbiosis.api.staging import staged_folder
    from symbiosis.jsonio import atomic_write_text
    from symbiosis.tabular import csv_text

    sheets = template_headers(lang)
    offer_mats, need_mats = _material_labels(lang)
    examples = _examples(lang, {slug: label for slug, label, _ in need_mats})
    lines = [" ".join(str(c) for c in line) for line in
             _instructions(lang, sheets, examples, t("template.sheet.lists", lang))]
    lines += ["", t("template.lists.offer_material", lang) + ": "
              + ", ".join(m for _, m, _ in offer_mats),
              t("template.lists.need_material", lang) + ": "
              + ", ".join(m for _, m, _ in need_mats),
              t("template.lists.unit", lang) + ": " + ", ".join(UNIT_CHOICES),
              t("template.lists.crs", lang) + ": " + ", ".join(CRS_CHOICES),
              t("template.lists.sector", lang) + ": "
              + ", ".join(f"{c} {n}" for c, n in _sectors(lang))]
    with staged_folder(folder) as tmp:
        for table, (sheet, headers) in sheets.items():
            rows = examples[table] if example else []
            atomic_write_text(tmp / f"{sheet}.csv", csv_text(headers, rows))
        name = "填写说明.txt" if lang == "zh" else "README.txt"
        atomic_write_text(tmp / name, "\ufeff" + "\r\n".join(lines) + "\r\n")


def write_template(out: str | Path, lang: str = "zh", example: bool = False) -> Path:
    """Write the template to `out`: an .xlsx workbook when `out` ends in .xlsx, else a
    folder of CSV files. With `example`, each data sheet has the example rows the
    instructions show (they load without errors too).

    Raises:
        OSError: `out` cannot be written (nothing half-written is left).
    """
    path = Path(out)
    if path.suffix.lower() == ".xlsx":
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_xlsx(path, lang, example)
    else:
        _write_csv_folder(path, lang, example)
    return path


def template(
    out: Annotated[Path, typer.Argument(help="OUT.xlsx for a workbook, or a folder for CSV "
                                             "files.", show_default=False)],
    lang: LangOpt = Lang.zh,
    example: Annotated[bool, typer.Option(
        "--example", help="Put the example rows in the data sheets too (they are always "
                          "on the instructions sheet).")] = False,
) -> None:
    """Write a blank dataset for a park office to fill in: headers in Chinese (--lang zh,
    the default) or English, drop-down lists, an instructions sheet; it loads as it is."""
    path = write_template(out, lang.value, example)
    out_console.print(t("template.written", lang.value, path=path), style="green")


# ----------------------------------------------------------------------------- estimate


def _reported(path: Path) -> tuple[dict[str, Any], list[Any]]:
    """The dataset's own tables (contract names, quantities in the material's unit) and the
    problems found reading them; offers/needs may be absent."""
    from symbiosis import dataset as ds
    from symbiosis import readers
    from symbiosis.taxonomy import load_taxonomy

    problems: list[Any] = []
    renames = readers.Renames()
    tables = ds._read_tables(path, problems, renames)
    tables = readers.normalise(tables, ds.SPECS, ds.PREFIXES, load_taxonomy(), ds._contract(),
                               problems, renames)
    missing = {"offers", "needs"} - set(tables)
    problems = [p for p in problems  # offers and needs may be left to the estimate
                if not (p.row is None and p.column is None and "missing" in p.message
                        and any(f"'{m}'" in p.message or Path(p.file).stem == m
                                for m in missing))]
    return tables, readers.restore(problems, renames)


def _table_rows(raw: Any) -> tuple[list[str], list[list[str]]]:
    keep = [i for i, h in enumerate(raw.header) if h]
    header = [raw.header[i] for i in keep]
    rows = [[str(r[i]) for i in keep] for r in raw.frame.itertuples(index=False)]
    return header, rows


def write_estimated(dataset: Path, out: Path) -> tuple[EstimateRun, list[Any]]:
    """Estimate DATASET's capacities and write OUT as a complete CSV dataset (see module).

    Raises:
        InvalidDataError: errors in the capacities table or the dataset's tables.
    """
    from symbiosis.api.staging import staged_folder
    from symbiosis.errors import InvalidDataError
    from symbiosis.estimate import ESTIMATE_COLUMNS, estimate_dataset
    from symbiosis.jsonio import atomic_write_text
    from symbiosis.tabular import csv_text

    tables, problems = _reported(dataset)
    if any(p.severity == "error" for p in problems):
        raise InvalidDataError(problems)
    reported: dict[str, list[tuple[str, str]]] = {}
    written: dict[str, tuple[list[str], list[list[str]]]] = {}
    for name, raw in tables.items():
        header, rows = _table_rows(raw)
        written[name] = (header, rows)
        if name in ("offers", "needs") and {"enterprise_id", "material"} <= set(header):
            e, m = header.index("enterprise_id"), header.index("material")
            reported[name] = [(r[e], r[m]) for r in rows]
    run = estimate_dataset(dataset, reported)
    base = {"offers": ["id", "enterprise_id", "material", "quantity", "unit"],
            "needs": ["id", "enterprise_id", "material", "quantity", "unit"]}
    for name in ("offers", "needs"):
        header, rows = written.get(name, (base[name], []))
        extra = [c for c in ESTIMATE_COLUMNS if c not in header]
        header = header + extra
        rows = [r + [""] * len(extra) for r in rows]
        for est in run.used:
            if est.table != name:
                continue
            values: dict[str, str | float] = {
                "id": est.listing_id, "enterprise_id": est.enterprise_id,
                "material": est.material, "quantity": est.quantity, "unit": "t",
                "estimated": "yes", "quantity_low": est.low, "quantity_high": est.high,
                "estimate_basis": est.basis, "estimate_source": est.source,
                "estimate_confidence": est.confidence}
            rows.append([_cell(values.get(h, "")) for h in header])
        written[name] = (header, rows)
    with staged_folder(out) as tmp:
        for name, (header, rows) in written.items():
            atomic_write_text(tmp / f"{name}.csv", csv_text(header, rows))
    return run, list(problems) + list(run.problems)


def _cell(value: str | float) -> str:
    from symbiosis.tabular import csv_cell

    return csv_cell(value)


def _print_run(run: EstimateRun, lang: str) -> None:
    table = Table(title=t("estimate.table_title", lang), title_justify="left")
    for key in ("table", "enterprise", "material", "quantity", "range", "confidence"):
        table.add_column(t(f"estimate.col.{key}", lang),
                         justify="right" if key in ("quantity", "range") else "left")
    for est in run.used:
        table.add_row(est.table, est.enterprise_id, est.material, f"{est.quantity:,.0f}",
                      f"{est.low:,.0f}-{est.high:,.0f}", est.confidence)
    out_console.print(table)


def estimate(
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the dataset with the "
                                                          "estimates added (CSV).")],
    lang: LangOpt = Lang.en,
    quiet: Quiet = False,
) -> None:
    """Estimate by-products (and gypsum needs) from the capacities sheet of DATASET with
    cited coefficients, and write DATASET with them added to OUT, marked estimated=yes with
    a low-high range; a listing the enterprise reported itself is kept instead."""
    from symbiosis.api.cli_common import err_console, print_problems

    run, problems = write_estimated(dataset, out)
    if not quiet:
        print_problems(problems, err_console)
        _print_run(run, lang.value)
        if run.superseded:
            out_console.print(t("estimate.superseded", lang.value, n=len(run.superseded)))
    counts = _count(run.used)
    out_console.print(t("estimate.written", lang.value, offers=counts["offers"],
                        needs=counts["needs"], path=out), style="green")


def _count(items: Sequence[Any]) -> dict[str, int]:
    return {name: sum(e.table == name for e in items) for name in ("offers", "needs")}


def register(app: typer.Typer) -> None:
    """Add `template` and `estimate` to the `symbiosis` app."""
    app.command()(template)
    app.command()(estimate)
