"""JSON-ready values and files written whole: the one place for both.

`json_safe` turns numpy scalars into Python ones and NaN/infinities into null (JSON has
neither); `frame_records` does the same for a DataFrame's rows; `atomic_write` writes a file
under a temporary name in the same folder and renames it into place, so a reader never sees
a half-written file.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["atomic_write", "atomic_write_text", "frame_records", "is_missing", "json_safe",
           "plain_value"]


def is_missing(value: object) -> bool:
    """None, NaN, an infinite float or pandas' NA (known by its type's name, so that this
    module needs no pandas)."""
    return value is None or (isinstance(value, float) and not math.isfinite(value)) \
        or type(value).__name__ == "NAType"


def plain_value(value: Any) -> Any:
    """A numpy scalar as its Python value; NaN and infinities as None."""
    if hasattr(value, "item") and not isinstance(value, dict | list | tuple | str | bytes):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_safe(value: Any) -> Any:
    """Nested dicts, lists and tuples with numpy scalars -> plain JSON values (NaN, inf and
    -inf -> None; dict keys -> str)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return plain_value(value)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame's rows as JSON-ready dicts: missing values (NaN, None, pd.NA) and
    infinities -> None, numpy scalars -> Python ones, floats exact (no text round trip)."""
    columns = [str(c) for c in frame.columns]
    clean = frame.astype(object).where(frame.notna(), None)
    return [{c: plain_value(v) for c, v in zip(columns, values, strict=True)}
            for values in clean.itertuples(index=False, name=None)]


def atomic_write(target: str | Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp_path)` and rename the temporary file to `target` (same folder, so the
    rename is atomic). The file gets the permissions the user's umask gives a new file.

    Raises:
        OSError: the folder cannot be written; no partial `target` is left behind.
    """
    target = Path(target)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(target: str | Path, text: str) -> Path:
    """Write `text` as UTF-8 to `target` atomically (see `atomic_write`)."""
    return atomic_write(target, lambda p: p.write_text(text, encoding="utf-8", newline=""))
