"""`symbiosis profiles`: the built-in monthly profiles a listing may name (issue 15).

Its words come from the message catalogue (symbiosis/i18n/monthly.json).
"""

from __future__ import annotations

import json
import sys

import typer
from rich.table import Table

from symbiosis.api.cli_common import AsJson, Lang, LangOpt, out_console

__all__ = ["profiles", "register"]


def profiles(lang: LangOpt = Lang.en, as_json: AsJson = False) -> None:
    """List the built-in monthly profiles (the `profile` column of offers and needs): each
    month's weight, what it means and its source."""
    from symbiosis.i18n import t
    from symbiosis.months import MONTH_COLUMNS, load_profiles

    found = load_profiles()
    if as_json:
        body = [{"profile": p.name, "weights": dict(zip(MONTH_COLUMNS, p.weights, strict=True)),
                 "shares": [round(float(s), 6) for s in p.shares], "basis": p.basis,
                 "description_en": p.description_en, "description_zh": p.description_zh,
                 "source": p.source, "confidence": p.confidence} for p in found.values()]
        sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return
    w = lang.value
    table = Table(title=t("monthly.profiles_title", w), title_justify="left")
    for col in ("monthly.profile", "monthly.months", "monthly.basis"):
        table.add_column(t(col, w))
    table.add_column(t("monthly.meaning", w), overflow="fold")
    for p in found.values():
        weights = " ".join(f"{x:g}" for x in p.weights)
        table.add_row(p.name, weights, p.basis,
                      p.description_zh if w == "zh" else p.description_en)
    out_console.print(table)
    for p in found.values():
        out_console.print(f"{p.name}: {t('monthly.source', w)} {p.source}; "
                          f"{t('monthly.confidence', w)} {p.confidence}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `profiles` to the main command."""
    app.command("profiles")(profiles)
