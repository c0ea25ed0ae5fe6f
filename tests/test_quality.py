"""House rules the CI enforces: ruff-clean code and mypy-clean packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["symbiosis", "geo", "matching", "api"]


def test_ruff_clean() -> None:
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_clean() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy", *PACKAGES], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
