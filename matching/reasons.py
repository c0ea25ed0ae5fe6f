"""The one vocabulary of why offered by-product is left unmatched.

offers.csv's `reason` column, summary.json, the reports and the web page all speak it; the
words a person reads come from the message catalogue (`symbiosis.i18n`, keys
`reason.<value>`), so a Chinese report is Chinese throughout. An offer may have several
reasons at once (part of it faces full takers, part of it has no taker that pays).
"""

from __future__ import annotations

from enum import StrEnum

from symbiosis.i18n import catalogue, t
from symbiosis.jsonio import is_missing

__all__ = ["UnmatchedReason", "reason_text"]

# the English sentences older output folders wrote instead of codes
_LEGACY_REASONS = {
    "no compatible need within reach": "report.legacy_reason.no_compatible_need_within_reach",
    "compatible needs within reach are already full": "report.legacy_reason.needs_full",
}


class UnmatchedReason(StrEnum):
    """Why an offered quantity found no taker (stable codes, written to the files)."""

    NO_COMPATIBLE_NEED = "no_compatible_need"  # no need in the dataset can take the material
    QUALITY = "quality"  # compatible needs in reach reject a stated quality attribute
    QUALITY_NOT_STATED = "quality_not_stated"  # a rule limits an attribute the offer omits
    NO_LICENCE = "no_licence"  # hazardous waste with no licensed receiver in reach
    BEYOND_REACH = "beyond_reach"  # the nearest compatible need lies beyond the reach
    TAKERS_FULL = "takers_full"  # every compatible need in reach is filled by others
    NO_GAIN = "no_gain"  # the objective finds no exchange that pays
    FORBIDDEN_ZONE = "forbidden_zone"  # the only routes cross a restricted zone
    KEPT_AS_STOCK = "kept_as_stock"  # held in storage at the end of the plan
    BELOW_RESOLUTION = "below_resolution"  # less than the solver's quantity resolution
    # integer logistics (matching.milp, issue 16); labels in symbiosis/i18n/milp.json
    BELOW_MIN_LOT = "below_min_lot"  # what is left is below an exchange's minimum lot
    FIXED_COST = "fixed_cost"  # the exchange's fixed costs exceed what it would save
    PARTNER_LIMIT = "partner_limit"  # the offer or the need has its most partners already

    def text(self, lang: str = "en") -> str:
        """The short label in `lang` (from the catalogue)."""
        return t(f"reason.{self.value}", lang)


def reason_text(reason: object, lang: str) -> str:
    """An unmatched offer's reason in `lang`: a reason code, several codes joined by ";", or
    an older output folder's English sentence; anything else (also pandas' NA, shown as
    empty) as written."""
    text = "" if is_missing(reason) else str(reason)
    if text in _LEGACY_REASONS:
        return t(_LEGACY_REASONS[text], lang)
    codes = [c.strip() for c in text.split(";")]
    if text and all(f"reason.{c}" in catalogue() for c in codes):
        return "; ".join(t(f"reason.{c}", lang) for c in codes)
    return text
