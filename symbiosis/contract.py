"""The dataset contract's names as a park office writes them: sheet, column and material
aliases in Chinese and English, read from data files.

`symbiosis/data/aliases.csv` lists, for every sheet (`column` empty) and column of the
contract, the headers offices use (table, column, alias, lang, source, note);
`symbiosis/data/material_aliases.csv` lists common material synonyms beside the
taxonomy's own `name_zh` / `name_en`. Matching is case-, width- (full-width/half-width,
Unicode NFKC) and space-insensitive, and ignores `_`, `-` and `.` between words, so
`Quantity`, `ＱＵＡＮＴＩＴＹ`, `enterprise id` and `企业 编号` all match.
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from symbiosis.taxonomy import Taxonomy

__all__ = [
    "Contract",
    "find_header",
    "load_contract",
    "match_key",
    "material_resolver",
    "suggest_material",
]

_SEPARATORS = re.compile(r"[\s_\-.·:：()（）\[\]【】]+")
_PREFIXES = ("q.", "min.", "max.")


def match_key(text: str) -> str:
    """The form names are compared in: NFKC (full-width -> half-width), case-folded, with
    spaces, `_`, `-`, `.`, colons and brackets removed."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


def _rows(name: str) -> list[dict[str, str]]:
    with resources.files("symbiosis.data").joinpath(name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@dataclass(frozen=True)
class Contract:
    """Alias tables: `sheets` maps a match key to a table; `columns[table]` a match key to a
    column of that table."""

    sheets: Mapping[str, str]
    columns: Mapping[str, Mapping[str, str]]

    def table_of(self, sheet: str) -> str | None:
        """The contract table a sheet or file stem names, or None."""
        return self.sheets.get(match_key(sheet))

    def column_of(self, table: str, header: str) -> str | None:
        """The contract column a header names (prefixed quality columns keep their
        attribute, lower-cased), or None when the header names nothing known."""
        known = self.columns.get(table, {}).get(match_key(header))
        if known is not None:
            return known
        text = unicodedata.normalize("NFKC", header).strip()
        for prefix in _PREFIXES:
            if text.lower().startswith(prefix) and table in ("offers", "needs"):
                return prefix + text[len(prefix):].strip().lower().replace(" ", "_")
        return None


@cache
def load_contract(tables: tuple[str, ...], columns: tuple[tuple[str, tuple[str, ...]], ...]
                  ) -> Contract:
    """Build the alias tables for the contract's `tables` and their `columns` (canonical
    names are aliases of themselves) plus `symbiosis/data/aliases.csv`."""
    sheets = {match_key(t): t for t in tables}
    cols: dict[str, dict[str, str]] = {t: {} for t in tables}
    for table, names in columns:
        for name in names:
            cols[table][match_key(name)] = name
    for row in _rows("aliases.csv"):
        table, column, alias = row["table"], row["column"], row["alias"]
        if table not in cols:
            continue
        if column:
            cols[table].setdefault(match_key(alias), column)
        else:
            sheets.setdefault(match_key(alias), table)
    return Contract(sheets, {t: dict(c) for t, c in cols.items()})


def find_header(contract: Contract, table: str, rows: Sequence[Sequence[str]],
                limit: int = 20) -> int:
    """Index (0-based) of the header row among the first `limit` rows: the first row that
    names the most contract columns (0 when no row names two more than row 0 does, so a
    plain file keeps its first row)."""
    best, best_count = 0, -1
    for i, row in enumerate(rows[:limit]):
        count = len({c for c in (contract.column_of(table, str(v)) for v in row if v)
                     if c is not None})
        if count > best_count:
            best, best_count = i, count
    if best_count < 2:
        return 0
    return best


def _material_names(taxonomy: Taxonomy) -> dict[str, str]:
    names: dict[str, str] = {}
    for slug, mat in taxonomy.materials.items():
        for text in (slug, mat.name_zh, mat.name_en, re.sub(r"\s*\(.*?\)", "", mat.name_en)):
            if text:
                names.setdefault(match_key(text), slug)
    for row in _rows("material_aliases.csv"):
        if row["slug"] in taxonomy.materials:
            names.setdefault(match_key(row["alias"]), row["slug"])
    return names


def material_resolver(taxonomy: Taxonomy) -> Mapping[str, str]:
    """Match key -> material slug for every slug, Chinese and English name and synonym."""
    return _material_names(taxonomy)


def suggest_material(value: str, taxonomy: Taxonomy) -> str:
    """A did-you-mean in both languages, e.g. ` (did you mean 'fly_ash' (粉煤灰, Coal fly
    ash)?)`, or "" when nothing is close."""
    names = _material_names(taxonomy)
    keys = difflib.get_close_matches(match_key(value), list(names), n=1, cutoff=0.5)
    if not keys:
        return ""
    mat = taxonomy.materials[names[keys[0]]]
    return f" (did you mean '{mat.slug}' ({mat.name_zh}, {mat.name_en})?)"


def describe(names: Iterable[str]) -> str:
    """Names quoted and joined for a message."""
    return ", ".join(f"'{n}'" for n in names)
