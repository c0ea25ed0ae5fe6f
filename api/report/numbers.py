"""How the report, the workbook's labels and the web page write an amount: three
significant figures, in the reader's own large-number units (万 = 10^4 and 亿 = 10^8 in
Chinese; million and billion in English), so a park manager reads "24.3万吨" or
"3.8 million t", never a spurious "3,800,830.9 t".

The web page has the same rule in JavaScript (`api/web/app.js`, `formatAmount`);
tests/test_report_print.py checks that both write the same text for the same numbers.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["SIGNIFICANT", "fmt_amount", "round_significant"]

SIGNIFICANT = 3  # figures kept: the inputs (tonnes per year, prices) are rarely known better

# (threshold, suffix) largest first; the suffix is written right after the number
_SCALES: dict[str, tuple[tuple[float, str], ...]] = {
    "zh": ((1e8, "亿"), (1e4, "万")),
    "en": ((1e9, " billion"), (1e6, " million")),
}


def round_significant(value: float, sig: int = SIGNIFICANT) -> float:
    """`value` rounded to `sig` significant figures, halves away from zero on the float's
    exact decimal value (as JavaScript's `toPrecision` does), 0 stays 0."""
    if value == 0 or not math.isfinite(value):
        return value
    exact = Decimal(value)
    exponent = exact.adjusted() - sig + 1
    return float(exact.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP))


def _plain(value: float, sig: int) -> str:
    """A number below the first scale: `sig` significant figures, thousands separators,
    no trailing zeros after the decimal point, integer digits never dropped."""
    rounded = round_significant(value, sig)
    digits = max(0, sig - 1 - math.floor(math.log10(abs(rounded)))) if rounded else 0
    text = f"{rounded:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_amount(value: float | None, lang: str = "en", sig: int = SIGNIFICANT) -> str:
    """An amount with `sig` significant figures in the reader's large-number units.

    Examples (sig 3): 3,800,830.9 -> "3.8 million" (en) / "380万" (zh); 687,239,873 ->
    "687 million" / "6.87亿"; 29,262.8 -> "29,300" / "2.93万"; 17.25 -> "17.3"; None or a
    non-finite number -> "–".
    """
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    rounded = round_significant(value, sig)
    for threshold, suffix in _SCALES.get(lang, _SCALES["en"]):
        if abs(rounded) >= threshold:
            return _plain(rounded / threshold, sig) + suffix
    return _plain(rounded, sig)
