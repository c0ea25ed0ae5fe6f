"""`--out` ends complete or untouched (issue 18, item 6): api/staging.py, and input paths
that are not regular files (a FIFO or a folder named enterprises.csv) are a problem, not a
hang or a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from symbiosis.api.staging import staged_folder

_CHILD = """
import signal, sys, time
from pathlib import Path
# a child started from a background job inherits SIGINT ignored: take Python's default back
signal.signal(signal.SIGINT, signal.default_int_handler)
from symbiosis.api.staging import staged_folder
out = Path(sys.argv[1])
with staged_folder(out) as tmp:
    for i in range(6):
        (tmp / f"part{i}.csv").write_text("x")
    Path(sys.argv[2]).write_text("ready")  # six of seven files written: now kill me
    while True:
        time.sleep(0.05)
"""


def _entries(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def test_success_moves_every_file_in_and_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "summary.json").write_text("old")
    with staged_folder(out) as tmp:
        (tmp / "summary.json").write_text("new")
        (tmp / "exchanges.csv").write_text("a,b")
    assert _entries(out) == {"keep.txt": "mine", "summary.json": "new", "exchanges.csv": "a,b"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


def test_an_error_leaves_out_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), staged_folder(out) as tmp:
        (tmp / "summary.json").write_text("half")
        raise KeyboardInterrupt
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_write_leaves_out_untouched(tmp_path: Path, sig: int) -> None:
    out, ready = tmp_path / "out", tmp_path / "ready"
    out.mkdir()
    (out / "summary.json").write_text("previous run")
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), str(ready)],
                             stderr=subprocess.PIPE, text=True)
    while not ready.exists() and child.poll() is None:  # no clock: wait for the marker
        os.sched_yield()
    child.send_signal(sig)
    child.communicate(timeout=600)
    assert child.returncode != 0
    assert _entries(out) == {"summary.json": "previous run"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "ready"]


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_an_input_that_is_not_a_file_is_a_problem_not_a_hang(
        tmp_path: Path, demo_path: Path, kind: str) -> None:
    from symbiosis.dataset import load_dataset
    from symbiosis.errors import InvalidDataError

    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("offers.csv", "needs.csv"):
        (folder / name).write_bytes((demo_path / name).read_bytes())
    target = folder / "enterprises.csv"
    if kind == "fifo":
        os.mkfifo(target)  # reading it would block until a writer comes: none will
    else:
        target.mkdir()
    with pytest.raises(InvalidDataError) as caught:
        load_dataset(folder)
    messages = [p.message for p in caught.value.problems if p.file == str(target)]
    assert messages == [f"is {'a named pipe (FIFO)' if kind == 'fifo' else 'a folder'}; "
                        "expected a regular file"]
    xlsx = tmp_path / "data.xlsx"
    os.mkfifo(xlsx)
    with pytest.raises(InvalidDataError) as caught:
        load_dataset(xlsx)
    assert caught.value.problems[0].message == "is a named pipe (FIFO); expected a regular file"
