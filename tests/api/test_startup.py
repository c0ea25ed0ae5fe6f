"""Start-up stays lean: the CLI's entry module builds its flags from MatchOptions without
loading the array, solver or web stacks (they load when a command needs them); the console
script imports with the garbage collector paused, a match runs with it paused, and the
spinner costs nothing where it cannot show."""

from __future__ import annotations

import gc
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from symbiosis.api import cli_common
from symbiosis.api.cli import collector_paused
from symbiosis.api.cli_common import spinner

HEAVY = ("numpy", "pandas", "ortools", "scipy", "fastapi", "geopandas", "neo4j")


def test_cli_import_loads_no_heavy_module() -> None:
    code = ("import json, sys; import symbiosis.api.cli; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(run.stdout) == []


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, check=False, timeout=600)


def test_console_script_imports_with_the_collector_paused_then_resumes_it(
        tmp_path: Path) -> None:
    """`api.launch.main` (the `symbiosis` script): no collection during the CLI's imports,
    the imported objects frozen, the collector back on before the command runs (`materials`
    here, exit 0 and its table printed)."""
    report = tmp_path / "gc.json"
    code = (
        "import atexit, gc, json, sys\n"
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: seen.append(phase))\n"
        "state = {}\n"
        "def record():\n"
        "    state.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count())\n"
        f"    open({str(report)!r}, 'w').write(json.dumps(state))\n"
        "atexit.register(record)\n"
        "import symbiosis.api.launch as launch\n"
        "seen.clear()\n"
        "sys.argv = ['symbiosis', 'materials']\n"
        "real = gc.freeze\n"
        "def freeze():\n"
        "    state['collections_during_imports'] = len(seen)\n"
        "    state['cli_imported'] = 'symbiosis.api.cli' in sys.modules\n"
        "    real()\n"
        "gc.freeze = freeze\n"
        "launch.main()\n")
    run = _run_python(code)
    assert run.returncode == 0, run.stderr
    assert "Rules (a need served by another material)" in run.stdout
    state = json.loads(report.read_text())
    assert state["cli_imported"] is True
    assert state["collections_during_imports"] == 0
    assert state["enabled"] is True
    assert state["frozen"] > 10_000  # the imported modules' objects


def test_collector_paused_restores_the_state_it_found() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failed solve")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off: stays off
    finally:
        gc.enable()


def test_match_runs_with_no_collection(tmp_path: Path) -> None:
    """`symbiosis match` on the demo with the young threshold at 50 (a collection every 50
    net allocations): the collector is off and none happens between loading the dataset
    and printing the tables, and the outputs are written. (`collector_paused` restoring it
    afterwards is the test above.)"""
    out = tmp_path / "out"
    code = (
        "import gc, json, sys\n"
        "import symbiosis.api.cli as cli\n"
        "from symbiosis.api.cli_common import demo_dataset_path\n"
        "cli.GC_YOUNG_THRESHOLD = 50\n"
        "counts = {'collections': 0}\n"
        "real = cli._run_match\n"
        "def spied(*a, **k):\n"
        "    gc.callbacks.append(lambda phase, info: counts.__setitem__(\n"
        "        'collections', counts['collections'] + (phase == 'start')))\n"
        "    try:\n"
        "        real(*a, **k)\n"
        "    finally:\n"
        "        gc.callbacks.clear()\n"
        "        print('COLLECTIONS', counts['collections'], gc.isenabled(), file=sys.stderr)\n"
        "cli._run_match = spied\n"
        f"sys.argv = ['symbiosis', 'match', str(demo_dataset_path()), '--out', {str(out)!r}]\n"
        "cli.main()\n")
    run = _run_python(code)
    assert run.returncode == 0, run.stderr
    line = next(x for x in run.stderr.splitlines() if x.startswith("COLLECTIONS"))
    assert line.split()[1:] == ["0", "False"]  # paused, and no collection
    assert (out / "summary.json").is_file() and (out / "exchanges.csv").is_file()


def test_spinner_is_a_no_op_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped or logged stderr (here pytest's capture): no rich Status and no refresh thread;
    on a terminal, rich's Status with its text."""
    import threading

    from rich.console import Console
    from rich.status import Status

    def refreshing() -> bool:  # rich's Live display runs a _RefreshThread
        return any(type(t).__name__ == "_RefreshThread" for t in threading.enumerate())

    with spinner("Loading dataset ...") as status:
        assert not isinstance(status, Status)
        status.update("Writing outputs ...")
        assert not refreshing()
    monkeypatch.setattr(cli_common, "err_console",
                        Console(file=io.StringIO(), force_terminal=True))
    with spinner("Loading dataset ...") as status:
        assert isinstance(status, Status)
        assert refreshing()
