"""Start-up stays lean: the CLI's entry module builds its flags from MatchOptions without
loading the array, solver or web stacks (they load when a command needs them)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "pandas", "ortools", "scipy", "fastapi", "geopandas", "neo4j")


def test_cli_import_loads_no_heavy_module() -> None:
    code = ("import json, sys; import symbiosis.api.cli; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(run.stdout) == []
