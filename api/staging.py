"""Write an output folder completely or not at all (issue 18, item 6).

SIGINT while `symbiosis match` wrote its reports left 6 of 7 files in `--out`. Outputs are
now written into a temporary folder beside `--out` and moved in at the end with SIGINT and
SIGTERM held for the few renames; an interrupt (SIGINT, or SIGTERM turned into one) or an
error before that deletes the temporary folder, leaving `--out` as it was.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

__all__ = ["staged_folder"]

_HELD = {signal.SIGINT, signal.SIGTERM}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _move_in(tmp: Path, out: Path) -> None:
    if not out.exists():
        tmp.replace(out)  # one rename: the folder appears complete
        return
    for entry in sorted(tmp.iterdir()):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        entry.replace(target)


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `out` to write into; on normal exit its
    entries replace those of the same name in `out` (created if absent), with SIGINT and
    SIGTERM held meanwhile; on an exception or interrupt it is deleted and `out` is
    untouched. In the main thread SIGTERM raises KeyboardInterrupt for the duration, so a
    terminated run cleans up as an interrupted one does.

    Raises:
        OSError: `out`'s parent cannot be created or written.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        yield tmp
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD) if main else None
        try:
            _move_in(tmp, out)
        finally:
            if mask is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if main:
            signal.signal(signal.SIGTERM, previous)
