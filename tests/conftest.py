"""Shared fixtures: a small valid Hunan dataset edited per test, written as a CSV folder or an
.xlsx workbook, and a runner for the installed `symbiosis` command."""

from __future__ import annotations

import copy
import csv
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from store_support import Neo4jServer, start_neo4j

# the `browser` fixture (Chromium through Playwright), shared by the page tests
pytest_plugins = ["browser_support"]

# columns written to a workbook as text; every other cell that parses as a finite number is
# written as a number, as a spreadsheet user would type it
TEXT_COLUMNS = frozenset({"id", "name", "sector", "park", "enterprise_id", "material", "unit",
                          "need_material", "offer_material", "from_id", "to_id", "contact"})

BASE_TABLES: dict[str, list[list[str]]] = {
    "enterprises": [
        ["id", "name", "sector", "lon", "lat", "park"],
        ["PWR1", "Xiangtan power plant", "4411", "112.88", "27.86", "Xiangtan EDZ"],  # row 2
        ["CEM1", "Xiangtan cement plant", "3011", "112.95", "27.90", ""],              # row 3
        ["CEM2", "Zhuzhou cement plant", "3011", "113.13", "27.83", ""],               # row 4
        ["STL1", "Loudi steel works", "3120", "111.99", "27.70", ""],                  # row 5
    ],
    "offers": [
        ["id", "enterprise_id", "material", "quantity", "unit", "q.loi_pct"],
        ["OF1", "PWR1", "fly_ash", "1000", "t", "4.5"],
        ["OF2", "PWR1", "fgd_gypsum", "500", "t", ""],
        ["OF3", "STL1", "bf_slag", "800", "t", ""],
    ],
    "needs": [
        ["id", "enterprise_id", "material", "quantity", "unit"],
        ["ND1", "CEM1", "cement_admixture", "600", "t"],
        ["ND2", "CEM1", "set_retarder", "200", "t"],
        ["ND3", "CEM2", "cement_admixture", "900", "t"],
    ],
    "substitutions": [
        ["need_material", "offer_material", "ratio"],
        ["cement_admixture", "fly_ash", "1"],
        ["cement_admixture", "bf_slag", "1"],
        ["set_retarder", "fgd_gypsum", "1"],
    ],
    "distances": [
        ["from_id", "to_id", "distance_km"],
        ["PWR1", "CEM1", "12.5"],
        ["STL1", "CEM2", "130"],
    ],
}


def _cell(column: str, text: str) -> object:
    if column in TEXT_COLUMNS or "," in text:
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return int(number) if number.is_integer() and "." not in text else number


@dataclass
class DatasetTables:
    """A dataset as CSV rows (header first); rows are numbered as a spreadsheet shows them."""

    tables: dict[str, list[list[str]]]

    def set(self, table: str, row: int, column: str, value: str) -> DatasetTables:
        """Set one cell (`row` 2 = first data row); returns self so edits chain."""
        rows = self.tables[table]
        rows[row - 1][rows[0].index(column)] = value
        return self

    def set_row(self, table: str, row: int, values: list[str]) -> DatasetTables:
        """Replace a whole row (it may be longer or shorter than the header)."""
        self.tables[table][row - 1] = list(values)
        return self

    def rename_column(self, table: str, old: str, new: str) -> DatasetTables:
        """Rename a header cell."""
        header = self.tables[table][0]
        header[header.index(old)] = new
        return self

    def add_column(self, table: str, name: str, values: list[str] | None = None
                   ) -> DatasetTables:
        """Append a column; `values` per data row, empty by default."""
        rows = self.tables[table]
        rows[0].append(name)
        for i, row in enumerate(r for r in rows[1:] if r):
            row.append(values[i] if values else "")
        return self

    def drop_column(self, table: str, name: str) -> DatasetTables:
        """Remove a column from header and rows."""
        rows = self.tables[table]
        pos = rows[0].index(name)
        for row in rows:
            del row[pos]
        return self

    def append(self, table: str, row: list[str]) -> DatasetTables:
        """Add a raw row at the end (it may be longer than the header)."""
        self.tables[table].append(list(row))
        return self

    def insert_blank(self, table: str, row: int) -> DatasetTables:
        """Insert an empty line so that it becomes spreadsheet row `row`."""
        self.tables[table].insert(row - 1, [])
        return self

    def remove(self, table: str) -> DatasetTables:
        """Drop a whole file / sheet."""
        del self.tables[table]
        return self

    def write_csv(self, folder: Path, encoding: str = "utf-8") -> Path:
        """Write one CSV per table into `folder` (created); returns `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in self.tables.items():
            with (folder / f"{name}.csv").open("w", newline="", encoding=encoding) as f:
                csv.writer(f, lineterminator="\n").writerows(rows)
        return folder

    def write_xlsx(self, path: Path) -> Path:
        """Write one sheet per table into the workbook `path`; returns `path`."""
        import openpyxl

        book = openpyxl.Workbook()
        book.remove(book.active)  # type: ignore[arg-type]
        for name, rows in self.tables.items():
            sheet = book.create_sheet(name)
            header = rows[0]
            for row in rows:
                names = header + [""] * max(0, len(row) - len(header))
                sheet.append([_cell(c, v) for c, v in zip(names, row, strict=False)]
                             if row is not header else list(row))
        book.save(path)
        return path

    @classmethod
    def from_csv_folder(cls, folder: Path) -> DatasetTables:
        """Read every CSV of `folder` as text rows."""
        tables: dict[str, list[list[str]]] = {}
        for path in sorted(folder.glob("*.csv")):
            with path.open(newline="", encoding="utf-8-sig") as f:
                tables[path.stem] = [list(r) for r in csv.reader(f)]
        return cls(tables)


@pytest.fixture
def dataset_tables() -> DatasetTables:
    """A fresh copy of the small valid base dataset (4 enterprises in Hunan)."""
    return DatasetTables(copy.deepcopy(BASE_TABLES))


@pytest.fixture(scope="session")
def demo_path() -> Path:
    """The bundled Hunan demo dataset in this checkout."""
    return Path(__file__).resolve().parents[1] / "data" / "hunan"


CliRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def run_cli(tmp_path_factory: pytest.TempPathFactory) -> CliRunner:
    """Run the installed `symbiosis` executable (else `python -m api.cli`) as a real process,
    in a scratch folder unless `cwd` is given; output is decoded as UTF-8."""
    exe = Path(sys.executable).with_name("symbiosis")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "symbiosis.api.cli"]
    scratch = tmp_path_factory.mktemp("cli-cwd")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}

    def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *map(str, args)], cwd=cwd or scratch,
                              capture_output=True, text=True, encoding="utf-8", env=env,
                              check=False)

    return run


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jServer]:
    """A real Neo4j 5 (tools/neo4j: 5.26 community, embedded, Bolt on a free loopback port,
    built with Maven on first use) for the whole session."""
    server = start_neo4j(tmp_path_factory.mktemp("neo4j"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory, demo_path: Path) -> Iterator[Any]:
    """A live API server (real uvicorn, real SQLite files) with the demo imported; one per
    test module, so modules that edit data do not see each other's edits."""
    from api_support import serving

    yield from serving(tmp_path_factory.mktemp("api"), demo_path)


@pytest.fixture(params=["sqlite", "neo4j"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each kind (the Neo4j one is the session's server, wiped)."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'store' / 'symbiosis.db'}"
    server: Neo4jServer = request.getfixturevalue("neo4j_server")
    server.wipe()
    return server.url()
