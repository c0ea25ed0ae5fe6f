"""The CLI's fast exit (`api.cli._exit`): after a command the process skips the
interpreter's teardown, but never at the cost of what a normal exit does: every line
printed, the exit code kept, atexit handlers run, other threads awaited."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(tmp_path: Path, prelude: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = (f"import sys\n{prelude}\nsys.argv = ['symbiosis', *{list(args)!r}]\n"
            "from symbiosis.api.cli import main\nmain()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)


def test_fast_exit_runs_atexit_handlers_and_flushes_output(tmp_path: Path) -> None:
    """`symbiosis materials` exits 0, its whole table reaches stdout (the last rule row is
    there) and an atexit handler registered before it ran."""
    marker = tmp_path / "atexit.txt"
    prelude = (f"import atexit\natexit.register(lambda: open({str(marker)!r}, 'w')"
               ".write('ran'))")
    proc = _run(tmp_path, prelude, "materials")
    assert proc.returncode == 0, proc.stderr
    assert "Rules (a need served by another material)" in proc.stdout
    assert proc.stdout.rstrip().endswith("┘"), proc.stdout[-200:]
    assert marker.read_text() == "ran"


def test_exit_code_of_a_failed_command_is_kept(tmp_path: Path) -> None:
    """Bad input exits 1 with its last line printed; a usage error exits 2."""
    proc = _run(tmp_path, "", "match", str(tmp_path / "no-such-folder"))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == "1 error(s): nothing was written"
    proc = _run(tmp_path, "", "match", str(tmp_path), "--circuity", "abc")
    assert proc.returncode == 2, proc.stderr
    assert "--circuity" in proc.stderr


def test_exit_waits_for_other_threads(tmp_path: Path) -> None:
    """With another (non-daemon) thread still working, the process exits the normal way,
    so the thread finishes its work first."""
    marker = tmp_path / "thread.txt"
    prelude = ("import threading, time\n"
               "def work():\n"
               "    time.sleep(0.5)\n"
               f"    open({str(marker)!r}, 'w').write('done')\n"
               "threading.Thread(target=work).start()")
    proc = _run(tmp_path, prelude, "materials")
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text() == "done"
