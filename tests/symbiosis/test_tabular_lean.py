"""The joined-rows CSV writer (issue 17 item 2): `frame_csv_text` quotes cells exactly as
the csv module does and reuses the cells of equal float columns without changing a byte."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from symbiosis.tabular import csv_text, frame_csv_text

NASTY = ["a,b", 'say "hi"', "line\nbreak", "cr\rhere", "nul\x00x", "a\n=b", "\n-x", " lead",
         "", "=1+1", "plain", "粉煤灰,石膏", '"', ",", "\r\n", "-", "@x\n@y"]


def slow(frame: pd.DataFrame) -> str:
    return csv_text([str(c) for c in frame.columns],
                    frame.itertuples(index=False, name=None))


@pytest.mark.parametrize("seed", range(8))
def test_frame_csv_text_quotes_as_the_csv_module(seed: int) -> None:
    """Random text columns built from cells the csv module quotes (commas, quotes, CR,
    LF), formula prefixes after a line break, NUL: the same text as the cell-by-cell
    writer (csv.writer)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    pick = rng.integers(0, len(NASTY), (3, n))
    frame = pd.DataFrame({
        "a": [NASTY[k] for k in pick[0]],
        "b": [NASTY[k] + NASTY[j] for k, j in zip(pick[1], pick[2], strict=True)],
        "clean": [f"E{k:05d}" for k in range(n)],
        "x": rng.normal(size=n),
    })
    assert frame_csv_text(frame) == slow(frame)


def test_equal_float_columns_share_cells_but_keep_their_own_bytes() -> None:
    """Columns equal as floats (NaN where the other has NaN, -0.0 against 0.0) give the
    same cells; a column differing in one value gets its own."""
    base = np.array([0.1, -0.0, np.nan, 2.5, 1e20, 3.0])
    frame = pd.DataFrame({
        "p": base,
        "same": base.copy(),
        "signed": np.array([0.1, 0.0, np.nan, 2.5, 1e20, 3.0]),
        "other": np.array([0.1, -0.0, np.nan, 2.5, 1e20, 3.5]),
        "f32": base.astype(np.float32),
    })
    text = frame_csv_text(frame, bom=False)
    assert text == slow(frame).removeprefix("\ufeff")
    assert text.splitlines()[1] == "0.1,0.1,0.1,0.1,0.10000000149011612"
    assert [line.split(",")[3] for line in text.splitlines()[1:]] == \
        ["0.1", "0", "", "2.5", "1e+20", "3.5"]
