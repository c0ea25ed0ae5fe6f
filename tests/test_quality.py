"""House rules the CI enforces: ruff-clean code, mypy-clean packages, layered imports.

The layers live at the repository root (`symbiosis/`, `geo/`, `matching/`, `api/`) and install
as one package, `symbiosis` (`geo/` is `symbiosis.geo`, ...: the package-dir mapping in
pyproject.toml). Static tools walk folders and cannot follow that mapping, so mypy and
import-linter read a staged copy laid out as the wheel is (`stage/symbiosis/geo/...`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"geo": "geo", "matching": "matching", "api": "api"}  # sub-package -> root folder


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Python sources laid out as the installed package."""
    stage = tmp_path_factory.mktemp("stage")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "symbiosis", stage / "symbiosis", ignore=ignore)
    for sub, folder in LAYERS.items():
        shutil.copytree(ROOT / folder, stage / "symbiosis" / sub, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", stage / "pyproject.toml")
    return stage


def _source_path(text: str, stage: Path) -> str:
    """Report paths of the staged copy as the repository's own."""
    text = text.replace(str(stage / "symbiosis") + os.sep, "symbiosis" + os.sep)
    for sub, folder in LAYERS.items():
        text = text.replace(f"symbiosis{os.sep}{sub}{os.sep}", f"{folder}{os.sep}")
    return text


def test_ruff_clean() -> None:
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_clean(staged: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "mypy", "-p", "symbiosis",
                          "--config-file", "pyproject.toml", "--cache-dir", os.devnull],
                         cwd=staged, capture_output=True, text=True, check=False)
    assert run.returncode == 0, _source_path(run.stdout + run.stderr, staged)


def test_import_layers(staged: Path) -> None:
    """symbiosis < geo < matching < api, and the core never imports ortools, fastapi, geopandas."""
    env = {**os.environ, "PYTHONPATH": str(staged)}
    run = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--config",
                          str(staged / "pyproject.toml"), "--no-cache"],
                         cwd=staged, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, _source_path(run.stdout + run.stderr, staged)
