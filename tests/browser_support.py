"""What the browser tests share: the Chromium binary they drive, the skip mark when there is
none, Playwright's timeout, the folder screenshots go to, and the `browser` fixture."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SYMBIOSIS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HAS_CHROMIUM = Path(CHROMIUM).is_file()
needs_chromium = pytest.mark.skipif(
    not HAS_CHROMIUM,
    reason=f"no Chromium at {CHROMIUM} (install Debian's chromium or set SYMBIOSIS_CHROMIUM)")
TIMEOUT_MS = 60_000  # generous: the machine is shared; these are not timing assertions


def artifacts() -> Path:
    """The folder screenshots and printed pages are kept in (SYMBIOSIS_ARTIFACTS, else
    build/test-artifacts), created when missing."""
    folder = Path(os.environ.get("SYMBIOSIS_ARTIFACTS") or ROOT / "build" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright, shared by the tests of one module
    (registered for every test by tests/conftest.py's `pytest_plugins`)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()
