"""The built-in material taxonomy: by-products, need-side input categories, and the rules
(with ratios and quality limits) that let one serve the other.

Everything here is data read from `symbiosis/data/*.csv`, each row with its source and a
confidence mark; this module only types it. A dataset's own `substitutions.csv` replaces
the cross-material rules (see `Taxonomy.with_substitutions`).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Literal

__all__ = [
    "HW_CODE",
    "VERIFICATION_MARKS",
    "Displacement",
    "Factor",
    "Family",
    "Material",
    "QualityLimit",
    "Rule",
    "Taxonomy",
    "hw_category_of",
    "load_taxonomy",
]

UNIT_FAMILY = {"t": "mass", "GJ": "energy", "m3": "water"}
# every row of the taxonomy tables starts its `verification` cell with one of these:
# verified (the standard or official text itself, clause named), secondary (a copy or a
# summary of it, named), unverified (from general knowledge or an assumption)
VERIFICATION_MARKS = ("verified", "secondary", "unverified")
# National Hazardous Waste List (2025 edition) code: industry (GB/T 4754) - sequence - HW class
HW_CODE = re.compile(r"^(\d{3})-(\d{3})-(\d{2})$")


class Family(StrEnum):
    """Unit families; each is optimised and reported on its own (tonnes never add to GJ)."""

    MASS = "mass"
    ENERGY = "energy"
    WATER = "water"


@dataclass(frozen=True, slots=True)
class Material:
    """A by-product or an input category, with its unit and how far it is worth hauling."""

    slug: str
    name_en: str
    name_zh: str
    kind: Literal["byproduct", "input", "custom"]
    unit: str
    family: Family
    hazardous: bool
    default_reach_km: float | None
    ewc_code: str = ""
    cn_category: str = ""
    source: str = ""
    confidence: str = ""
    note: str = ""
    hw_code: str = ""  # National Hazardous Waste List (2025) code, 8 digits as ddd-ddd-dd
    hw_category: str = ""  # HW01 ... HW50
    product_standard: str = ""  # meeting it makes the material a product (GB 34330-2017 5.2)
    verification: str = ""  # verified: / secondary: / unverified: ... (see VERIFICATION_MARKS)


def hw_category_of(code: str) -> str:
    """The HW class of a National Hazardous Waste List code (`321-004-48` -> `HW48`).

    Raises:
        ValueError: `code` is not three digit groups `ddd-ddd-dd`.
    """
    match = HW_CODE.match(code.strip())
    if match is None:
        raise ValueError(f"'{code}' is not a National Hazardous Waste List code (ddd-ddd-dd)")
    return f"HW{match.group(3)}"


@dataclass(frozen=True, slots=True)
class QualityLimit:
    """A bound a rule puts on an offer's quality attribute (`q.<attribute>` in datasets)."""

    attribute: str
    bound: Literal["min", "max"]
    value: float
    unit: str = ""
    source: str = ""
    confidence: str = ""
    verification: str = ""

    def admits(self, value: float) -> bool:
        """True when `value` satisfies the bound."""
        return value >= self.value if self.bound == "min" else value <= self.value


@dataclass(frozen=True, slots=True)
class Rule:
    """`ratio` units of `need_material` are met by one unit of `offer_material`."""

    need_material: str
    offer_material: str
    ratio: float
    source: str = ""
    confidence: str = ""
    note: str = ""
    limits: tuple[QualityLimit, ...] = ()
    verification: str = ""

    @property
    def key(self) -> str:
        """A stable text id, as written in outputs (`offer_material->need_material`)."""
        return f"{self.offer_material}->{self.need_material}"


@dataclass(frozen=True, slots=True)
class Factor:
    """A published coefficient the engine reports with (emission or cost per unit)."""

    key: str
    value: float
    unit: str
    source: str
    confidence: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Displacement:
    """CO2e of the virgin production a unit of `need_material` met by a by-product avoids."""

    need_material: str
    displaced: str
    kg_co2e_per_unit: float
    unit: str
    source: str
    confidence: str
    note: str = ""


@dataclass(frozen=True)
class Taxonomy:
    """Materials by slug, cross-material rules by (need, offer), and reporting factors."""

    materials: Mapping[str, Material]
    rules: Mapping[tuple[str, str], Rule]
    factors: Mapping[str, Factor] = field(default_factory=dict)
    rules_source: str = "built-in"
    displacements: Mapping[str, Displacement] = field(default_factory=dict)

    def material(self, slug: str) -> Material:
        """The material named `slug` (KeyError if it is not known)."""
        return self.materials[slug]

    def rule(self, need_material: str, offer_material: str) -> Rule | None:
        """The rule letting `offer_material` serve `need_material`, or None.

        Same-material service is always allowed at ratio 1 with no extra quality limits.
        """
        if need_material == offer_material:
            return Rule(need_material, offer_material, 1.0, source="same material")
        return self.rules.get((need_material, offer_material))

    def offer_materials_for(self, need_material: str) -> list[str]:
        """Every material whose offers can serve a need of `need_material`."""
        found = [need_material]
        found += [o for (n, o) in self.rules if n == need_material]
        return found

    def quality_attributes(self) -> set[str]:
        """Every attribute some rule puts a limit on."""
        return {lim.attribute for r in self.rules.values() for lim in r.limits}

    def factor(self, key: str) -> Factor:
        """A reporting factor by key (KeyError if missing)."""
        return self.factors[key]

    def with_hazardous(self, declarations: Iterable[tuple[str, str]], source: str
                       ) -> Taxonomy:
        """A taxonomy where each (material, hw_code) of `declarations` is hazardous waste.

        A dataset declares a built-in material hazardous (a smelter's slag identified as
        hazardous) or names a custom hazardous material, measured in tonnes, with no
        cross-material rule and no default reach (a licensed receiver states a need of it).
        """
        materials = dict(self.materials)
        for slug, code in declarations:
            category = hw_category_of(code)
            known = materials.get(slug)
            if known is None:
                materials[slug] = Material(
                    slug=slug, name_en=slug, name_zh="", kind="custom", unit="t",
                    family=Family.MASS, hazardous=True, default_reach_km=None,
                    hw_code=code, hw_category=category, source=source,
                    confidence="dataset", verification="unverified: declared by the dataset",
                    note="declared hazardous in the dataset; not in the built-in taxonomy")
            else:
                materials[slug] = replace(known, hazardous=True, hw_code=code,
                                          hw_category=category,
                                          note=f"declared hazardous in {source}. {known.note}")
        return replace(self, materials=MappingProxyType(materials))

    def with_substitutions(
        self, rows: Iterable[tuple[str, str, float]], source: str
    ) -> Taxonomy:
        """A taxonomy whose cross-material rules are exactly `rows` (need, offer, ratio).

        DESIGN.md: a dataset's substitutions are its complete rule set, and the materials
        they name are valid for it. An unknown material takes the unit of a known material
        it is linked to (else tonnes) and has no default reach.
        """
        rows = list(rows)
        materials = dict(self.materials)
        unknown = {m for n, o, _ in rows for m in (n, o) if m not in materials}
        # propagate units from known neighbours, repeatedly, for chains of custom materials
        unit_of: dict[str, str] = {}
        changed = True
        while changed:
            changed = False
            for n, o, _ in rows:
                for a, b in ((n, o), (o, n)):
                    if a in unknown and a not in unit_of:
                        if b in materials and b not in unknown:
                            unit_of[a] = materials[b].unit
                            changed = True
                        elif b in unit_of:
                            unit_of[a] = unit_of[b]
                            changed = True
        for slug in sorted(unknown):
            unit = unit_of.get(slug, "t")
            materials[slug] = Material(
                slug=slug,
                name_en=slug,
                name_zh="",
                kind="custom",
                unit=unit,
                family=Family(UNIT_FAMILY[unit]),
                hazardous=False,
                default_reach_km=None,
                source=source,
                confidence="dataset",
                note="named in the dataset's substitutions; not in the built-in taxonomy",
            )
        rules: dict[tuple[str, str], Rule] = {}
        for n, o, ratio in rows:
            built_in = self.rules.get((n, o))
            limits = built_in.limits if built_in is not None else ()
            rules[(n, o)] = Rule(n, o, float(ratio), source=source, confidence="dataset",
                                 limits=limits)
        return replace(
            self,
            materials=MappingProxyType(materials),
            rules=MappingProxyType(rules),
            rules_source=source,
        )


def _read_rows(name: str) -> list[dict[str, str]]:
    text = resources.files("symbiosis").joinpath("data", name).read_text(encoding="utf-8")
    return [
        {k.strip(): (v or "").strip() for k, v in row.items()}
        for row in csv.DictReader(text.splitlines())
    ]


def _float_or_none(text: str) -> float | None:
    return float(text) if text else None


@cache
def load_taxonomy() -> Taxonomy:
    """The built-in taxonomy from the package data (read once per process)."""
    materials: dict[str, Material] = {}
    for row in _read_rows("materials.csv"):
        unit = row["unit"]
        reach = _float_or_none(row["default_reach_km"])
        materials[row["slug"]] = Material(
            slug=row["slug"],
            name_en=row["name_en"],
            name_zh=row["name_zh"],
            kind="byproduct" if row["kind"] == "byproduct" else "input",
            unit=unit,
            family=Family(row.get("family") or UNIT_FAMILY[unit]),
            hazardous=row["hazardous"].lower() == "true",
            default_reach_km=reach if reach is None or math.isfinite(reach) else None,
            ewc_code=row.get("ewc_code", ""),
            cn_category=row.get("cn_category", ""),
            source=row.get("source", ""),
            confidence=row.get("confidence", ""),
            note=row.get("note", ""),
            hw_code=row.get("hw_code", ""),
            hw_category=row.get("hw_category", ""),
            product_standard=row.get("product_standard", ""),
            verification=row.get("verification", ""),
        )
    limits: dict[tuple[str, str], list[QualityLimit]] = {}
    for row in _read_rows("rule_limits.csv"):
        bound: Literal["min", "max"] = "min" if row["bound"] == "min" else "max"
        limits.setdefault((row["need_material"], row["offer_material"]), []).append(
            QualityLimit(
                attribute=row["attribute"],
                bound=bound,
                value=float(row["value"]),
                unit=row.get("unit", ""),
                source=row.get("source", ""),
                confidence=row.get("confidence", ""),
                verification=row.get("verification", ""),
            )
        )
    rules: dict[tuple[str, str], Rule] = {}
    for row in _read_rows("rules.csv"):
        key = (row["need_material"], row["offer_material"])
        rules[key] = Rule(
            need_material=key[0],
            offer_material=key[1],
            ratio=float(row["ratio"]),
            source=row.get("source", ""),
            confidence=row.get("confidence", ""),
            note=row.get("note", ""),
            limits=tuple(limits.get(key, ())),
            verification=row.get("verification", ""),
        )
    factors = {
        row["key"]: Factor(
            key=row["key"],
            value=float(row["value"]),
            unit=row.get("unit", ""),
            source=row.get("source", ""),
            confidence=row.get("confidence", ""),
            note=row.get("note", ""),
        )
        for row in _read_rows("factors.csv")
    }
    displacements = {
        row["need_material"]: Displacement(
            need_material=row["need_material"],
            displaced=row["displaced"],
            kg_co2e_per_unit=float(row["kg_co2e_per_unit"]),
            unit=row["unit"],
            source=row["source"],
            confidence=row["confidence"],
            note=row.get("note", ""),
        )
        for row in _read_rows("carbon.csv")
    }
    return Taxonomy(
        materials=MappingProxyType(materials),
        rules=MappingProxyType(rules),
        factors=MappingProxyType(factors),
        displacements=MappingProxyType(displacements),
    )
