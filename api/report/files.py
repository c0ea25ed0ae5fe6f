"""Writing the report files: report.html, report.xlsx and report.pdf into a match output
folder, each through a temporary file renamed into place, so a reader never sees a
half-written file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from symbiosis.api.report.fonts import cjk_font, no_cjk_font_message
from symbiosis.api.report.html import render_report_html
from symbiosis.api.report.model import build_report, check_lang, read_run
from symbiosis.api.report.pdf import print_pdf
from symbiosis.api.report.xlsx import render_report_xlsx
from symbiosis.jsonio import atomic_write

__all__ = ["DEFAULT_FORMATS", "REPORT_FORMATS", "write_report"]

REPORT_FORMATS = ("html", "xlsx", "pdf")
DEFAULT_FORMATS = ("html", "xlsx")

log = logging.getLogger(__name__)


def write_report(out_dir: str | Path, lang: str = "en",
                 formats: Sequence[str] = DEFAULT_FORMATS, top: int | None = None
                 ) -> list[Path]:
    """Read a match output folder and write report.html, report.xlsx and/or report.pdf
    into it. `top` cuts the page's long tables (largest exchanges, unmatched offers, needs)
    to that many rows; the workbook lists every row. The PDF is report.html printed by
    headless Chromium (`pdf.print_pdf`).

    Raises:
        ValueError: an unknown language or format, no format, or `top` below 1.
        InvalidDataError: a required output file is missing or unreadable.
        PdfUnavailableError: a PDF is asked for and no Chromium can print it.
    """
    check_lang(lang)
    bad = [f for f in formats if f not in REPORT_FORMATS]
    if bad or not formats:
        raise ValueError(f"unknown report format {', '.join(map(repr, bad))}: use "
                         f"{', '.join(REPORT_FORMATS)}" if bad
                         else "no report format asked for")
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    out = Path(out_dir)
    run = read_run(out)
    written: list[Path] = []
    if "html" in formats or "pdf" in formats:
        report = build_report(run, lang, page=True, top=top)
        page = render_report_html(report, report.dataset)
    if "html" in formats:
        written.append(atomic_write(out / "report.html",
                                    lambda p: p.write_text(page, encoding="utf-8")))
        if run.summary.monthly is not None:  # issue 15: a monthly plan's chart
            from symbiosis.api.report.plots import write_monthly_plot

            written += write_monthly_plot(run.summary.monthly, out, lang)
    if "pdf" in formats:
        if lang == "zh" and cjk_font() is None:
            log.warning("report.pdf: %s", no_cjk_font_message())
        # printed from a private copy of the page, so a PDF alone leaves no report.html
        source = out / ".report.pdf.html"
        try:
            source.write_text(page, encoding="utf-8")
            written.append(atomic_write(out / "report.pdf",
                                        lambda p: print_pdf(source, p)))
        finally:
            source.unlink(missing_ok=True)
    if "xlsx" in formats:
        book = build_report(run, lang, page=False)
        written.append(atomic_write(out / "report.xlsx",
                                    lambda p: render_report_xlsx(book, p)))
    return written
