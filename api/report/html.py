"""The report as one self-contained HTML page (inline CSS and SVG, no scripts, no external
files), rendered from Jinja2 templates (`templates/*.html.j2`) with autoescape on: every
value a dataset or summary.json supplies is escaped by the template engine, none by hand."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from symbiosis.api.report.model import (
    Kind,
    Report,
    RunOutputs,
    build_report,
    fmt_value,
    is_missing,
    num,
)
from symbiosis.i18n import t
from symbiosis.matching.summary import MatchSummary

__all__ = ["build_report_html", "environment", "html_lang", "render_report_html", "translator"]

TEMPLATES = Path(__file__).with_name("templates")


def _cell(value: object, kind: Kind) -> str:
    """A number cell's text: formatted when it is a number (or missing), else as written."""
    return fmt_value(value, kind) if num(value) is not None or is_missing(value) \
        else str(value)


def _clamp01(value: float) -> float:
    return min(max(value, 0.0), 1.0)


@cache
def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescape on, undefined names fail)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, keep_trailing_newline=True)
    env.globals.update(fmt=fmt_value, cell=_cell, num=num, clamp01=_clamp01)
    return env


def html_lang(lang: str) -> str:
    """The page's `lang` attribute for a report language."""
    return "zh-CN" if lang == "zh" else "en"


def translator(lang: str) -> Callable[..., str]:
    """`tr(key, **params)`: the catalogue bound to one language, for the templates."""
    def tr(key: str, **params: Any) -> str:
        return t(key, lang, **params)

    return tr


def render_report_html(report: Report, folder: str) -> str:
    """The page of a built report; `folder` is named in the footer."""
    kpi_by_key = {k.key: k for k in report.kpis}
    lang = report.lang

    def fmt(value: object, kind: Kind) -> str:
        return fmt_value(value, kind, lang)

    def cell(value: object, kind: Kind) -> str:
        return fmt(value, kind) if num(value) is not None or is_missing(value) else str(value)

    return environment().get_template("report.html.j2").render(
        report=report, folder=folder, kpi_by_key=kpi_by_key, tr=translator(lang),
        html_lang=html_lang(lang), fmt=fmt, cell=cell)


def build_report_html(summary: MatchSummary, exchanges: pd.DataFrame, offers: pd.DataFrame,
                      enterprises: pd.DataFrame | None, needs: pd.DataFrame | None,
                      lang: str = "en") -> str:
    """The report as one self-contained HTML page; every data value is HTML-escaped.

    Raises:
        ValueError: an unknown language.
    """
    report = build_report(RunOutputs(summary, exchanges, offers, enterprises, needs), lang,
                          page=True)
    return render_report_html(report, report.dataset)
