"""The report as a PDF: report.html printed by headless Chromium (`--print-to-pdf`), so the
PDF is exactly the page a browser prints (A4 portrait from the page's `@page` rule, the
CJK font the system has: Debian's `fonts-noto-cjk`, see the README).

Chromium is found as `SYMBIOSIS_CHROMIUM`, else `chromium` / `chromium-browser` /
`google-chrome` on the PATH; without one, `chromium_path()` is None and `print_pdf` raises
`PdfUnavailableError` with what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from symbiosis.errors import SymbiosisError

__all__ = ["PdfUnavailableError", "chromium_path", "print_pdf"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PdfUnavailableError(SymbiosisError):
    """No Chromium to print the PDF with, or Chromium failed to print it."""


def chromium_path() -> str | None:
    """The Chromium executable to print with, or None when there is none."""
    configured = os.environ.get("SYMBIOSIS_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def print_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print `html_path` to `pdf_path` with headless Chromium (no header or footer lines);
    `pdf_path` is written in place (`files.write_report` gives the atomic rename).

    Raises:
        PdfUnavailableError: no Chromium, or it exited without writing a PDF.
    """
    exe = chromium_path()
    if exe is None:
        raise PdfUnavailableError(
            "no Chromium found to print the PDF: install Debian's `chromium` (apt-get install "
            "chromium fonts-noto-cjk) or set SYMBIOSIS_CHROMIUM to a Chromium executable")
    with tempfile.TemporaryDirectory(prefix="symbiosis-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={profile}", "--no-pdf-header-footer",
               f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PdfUnavailableError(f"Chromium ({exe}) did not print {html_path.name} to PDF "
                                  f"(exit {done.returncode}): {' | '.join(tail)}")
    return pdf_path
