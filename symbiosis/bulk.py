"""The bulk industrial solid waste scope (大宗工业固废) and its targets, read from package data.

`symbiosis/data/bulk_solid_waste.csv` flags each built-in material as bulk or not, following
the national guidance on bulk solid wastes (NDRC et al., 发改环资〔2021〕381号: coal gangue,
fly ash, tailings, smelting slag, industrial by-product gypsum ...), with a `group` that
names the sub-target it falls under. `symbiosis/data/bulk_targets.csv` holds the 57 %
target (Hunan's and MIIT's 14th Five-Year industrial green development plans) and the MIIT
sub-targets (73 % for smelting slag excluding red mud and for by-product gypsum). Every row
carries its source and confidence. Materials not in the table (a dataset's own materials)
are outside the scope.

Kept apart from materials.csv on purpose: the scope is a reporting convention of the
official indicator, not a property of the material's handling.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

__all__ = ["BulkScope", "ScopeEntry", "TargetEntry", "load_bulk_scope"]

TOTAL = "bulk_solid_waste"  # the scope name of the overall target in bulk_targets.csv


@dataclass(frozen=True, slots=True)
class ScopeEntry:
    """One material's place in the bulk scope."""

    material: str
    bulk: bool
    group: str
    source: str
    confidence: str
    note: str = ""
    derived_from: str = ""  # a product ground from this listed by-product (slag powder)


@dataclass(frozen=True, slots=True)
class TargetEntry:
    """A utilisation-rate target (fraction) for the whole scope or one group."""

    scope: str
    value: float
    source: str
    confidence: str
    note: str = ""


@dataclass(frozen=True)
class BulkScope:
    """Which materials count in the official rate, and the targets that apply."""

    entries: Mapping[str, ScopeEntry]
    targets: Mapping[str, TargetEntry]

    def is_bulk(self, material: str) -> bool:
        """True when `material` counts in 大宗工业固废综合利用率."""
        entry = self.entries.get(material)
        return entry is not None and entry.bulk

    def is_derived(self, material: str) -> bool:
        """True when `material` is a product made from another listed by-product (slag
        powder from granulated slag): its tonnes were counted where the by-product was
        taken in, so no share counts them again."""
        entry = self.entries.get(material)
        return entry is not None and bool(entry.derived_from)

    @property
    def total(self) -> TargetEntry:
        """The overall target (57 %)."""
        return self.targets[TOTAL]

    def group_target(self, material: str) -> TargetEntry | None:
        """The sub-target whose group holds `material`, if the sources give one."""
        entry = self.entries.get(material)
        return self.targets.get(entry.group) if entry is not None and entry.group else None


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("symbiosis").joinpath("data", name).read_text(encoding="utf-8")
    return [{k.strip(): (v or "").strip() for k, v in row.items()}
            for row in csv.DictReader(text.splitlines())]


@cache
def load_bulk_scope() -> BulkScope:
    """The built-in scope and targets (read once per process)."""
    entries = {r["material"]: ScopeEntry(r["material"], r["bulk"].lower() == "true",
                                         r["group"], r["source"], r["confidence"], r["note"],
                                         r.get("derived_from", ""))
               for r in _rows("bulk_solid_waste.csv")}
    targets = {r["scope"]: TargetEntry(r["scope"], float(r["value"]), r["source"],
                                       r["confidence"], r["note"])
               for r in _rows("bulk_targets.csv")}
    return BulkScope(MappingProxyType(entries), MappingProxyType(targets))
