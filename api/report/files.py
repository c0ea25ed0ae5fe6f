"""Writing the report files: report.html and report.xlsx into a match output folder, each
through a temporary file renamed into place, so a reader never sees a half-written file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from symbiosis.api.report.html import render_report_html
from symbiosis.api.report.model import build_report, check_lang, read_run
from symbiosis.api.report.xlsx import render_report_xlsx

__all__ = ["REPORT_FORMATS", "atomic_write", "write_report"]

REPORT_FORMATS = ("html", "xlsx")


def atomic_write(target: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` on a temporary file in `target`'s folder, then rename it to
    `target`; on any error the temporary file is removed and `target` is untouched."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        tmp_path.replace(target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return target


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
