"""Writing the report files: report.html and report.xlsx into a match output folder, each
through a temporary file renamed into place, so a reader never sees a half-written file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from symbiosis.api.report.html import render_report_html
from symbiosis.api.report.model import build_report, check_lang, read_run
from symbiosis.api.report.xlsx import render_report_xlsx
from symbiosis.jsonio import atomic_write

__all__ = ["REPORT_FORMATS", "write_report"]

REPORT_FORMATS = ("html", "xlsx")


def write_report(out_dir: str | Path, lang: str = "en",
                 formats: Sequence[str] = REPORT_FORMATS) -> list[Path]:
    """Read a match output folder and write report.html and/or report.xlsx into it.

    Raises:
        ValueError: an unknown language or format, or no format.
        InvalidDataError: a required output file is missing or unreadable.
    """
    check_lang(lang)
    bad = [f for f in formats if f not in REPORT_FORMATS]
    if bad or not formats:
        raise ValueError(f"unknown report format {', '.join(map(repr, bad))}: use "
                         f"{' and/or '.join(REPORT_FORMATS)}" if bad
                         else "no report format asked for")
    out = Path(out_dir)
    run = read_run(out)
    written: list[Path] = []
    if "html" in formats:
        report = build_report(run, lang, page=True)
        page = render_report_html(report, report.dataset)
        written.append(atomic_write(out / "report.html",
                                    lambda p: p.write_text(page, encoding="utf-8")))
    if "xlsx" in formats:
        book = build_report(run, lang, page=False)
        written.append(atomic_write(out / "report.xlsx",
                                    lambda p: render_report_xlsx(book, p)))
    return written
