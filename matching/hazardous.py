"""Legal status and transfer-manifest fields of exchanges.

Every exchange of a solid by-product is general industrial solid waste, a product (GB
34330-2017 5.2: a substance made from solid waste that meets a national, local or industry
product standard is not solid waste; enterprise and group standards do not count) or
hazardous waste (National Hazardous Waste List, 2025 edition, in force 2025-01-01). A
hazardous exchange moves under a transfer manifest (危险废物转移联单, Solid Waste Law 2020
Art. 82) to a receiver holding a business licence for its code (`licences.csv`); the fields
the manifest needs from the plan are added to the exchange rows here. Route restrictions for
hazardous loads (drinking-water zones) are applied in `symbiosis.geo`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.i18n import t

__all__ = ["legal_status", "manifest_columns"]


def legal_status(dataset: Dataset, material: str, lang: str = "en") -> str:
    """The legal status of `material` as offered (see the module docstring)."""
    mat = dataset.taxonomy.materials[material]
    if mat.hazardous:
        return t("legal.hazardous", lang, category=mat.hw_category, code=mat.hw_code)
    if mat.family != "mass":
        return t("legal.not_waste", lang)
    if mat.product_standard:
        return t("legal.product", lang, standard=mat.product_standard)
    return t("legal.general", lang)


def manifest_columns(dataset: Dataset, offer: np.ndarray, need: np.ndarray,
                     lang: str = "en") -> dict[str, Any]:
    """Columns for exchange rows from offer positions `offer` to need positions `need`.

    Always `legal_status`. When any row carries hazardous waste, also `hw_code`,
    `hw_category`, `waste_name_zh`, `manifest` (the manifest duty), `generator_id`,
    `receiver_id` and `receiver_licence_valid_until` (the licence that admits the code),
    empty on the general rows.
    """
    offers, needs, tax = dataset.offers, dataset.needs, dataset.taxonomy
    materials = offers["material"].to_numpy(dtype=object)[offer]
    status = {m: legal_status(dataset, m, lang) for m in set(materials.tolist())}
    columns: dict[str, Any] = {
        "legal_status": np.array([status[m] for m in materials], dtype=object)}
    hazardous = np.array([tax.materials[m].hazardous for m in materials], dtype=bool)
    if not hazardous.any():
        return columns
    code = np.array([tax.materials[m].hw_code if h else "" for m, h in
                     zip(materials, hazardous, strict=True)], dtype=object)
    receiver = needs["enterprise_id"].to_numpy(dtype=object)[need]
    lic = dataset.licences
    until = pd.Series(lic["valid_until"].to_numpy(dtype=object),
                      index=pd.MultiIndex.from_arrays([lic["enterprise_id"], lic["hw_code"]]))
    valid = [str(until.get((r, c), "")) if h else ""
             for r, c, h in zip(receiver, code, hazardous, strict=True)]
    columns.update({
        "hw_code": code,
        "hw_category": np.array([tax.materials[m].hw_category if h else "" for m, h in
                                 zip(materials, hazardous, strict=True)], dtype=object),
        "waste_name_zh": np.array([tax.materials[m].name_zh if h else "" for m, h in
                                   zip(materials, hazardous, strict=True)], dtype=object),
        "manifest": np.where(hazardous, t("manifest.required", lang), ""),
        "generator_id": np.where(hazardous,
                                 offers["enterprise_id"].to_numpy(dtype=object)[offer], ""),
        "receiver_id": np.where(hazardous, receiver, ""),
        "receiver_licence_valid_until": np.array(valid, dtype=object),
    })
    return columns
