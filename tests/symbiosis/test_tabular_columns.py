"""The column-at-once CSV writer (`frame_csv_text`) writes exactly what the cell-by-cell
writer (`csv_text` over the rows) writes, for every dtype a result frame holds: whole and
fractional floats, NaN and infinities, -0.0, floats past 2**53, float32, ints, bools, text
with formula prefixes, mixed object columns, nullable and categorical columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from symbiosis.tabular import csv_text, frame_csv_text


def slow(frame: pd.DataFrame, bom: bool = True) -> str:
    return csv_text([str(c) for c in frame.columns],
                    frame.itertuples(index=False, name=None), bom=bom)


def test_edge_values() -> None:
    frame = pd.DataFrame({
        "f": [228000.0, 0.1, -0.0, np.nan, np.inf, -np.inf, 2.0**53, 2.0**53 + 2, 1e-7,
              -12.5],
        "f32": np.array([0.1, 1, 2.5, np.nan, 3, 4, 5, 6, 7, 8], dtype=np.float32),
        "i": np.arange(-5, 5, dtype=np.int64),
        "u": np.arange(10, dtype=np.uint8),
        "b": [True, False] * 5,
        "text": ["=SUM(A1)", "+1", "-x", "@me", "\tt", "\rr", "plain", "粉煤灰", "", "a,b"],
        "mixed": [None, 1, 2.5, "=x", np.float64(3.0), np.int32(4), True, np.nan, pd.NA,
                  np.str_("-s")],
        "nullable": pd.array([1, None, 3, 4, 5, 6, 7, 8, 9, 10], dtype="Int64"),
        "cat": pd.Categorical(["a", "b"] * 5),
        "str": pd.array(["=x", None, "粉煤灰", "-1", "a", "b", "", "@", "c", "d"], dtype="str"),
        "string": pd.array(["+y", None, "z", "1", "a", "b", "", "@", "c", "d"],
                           dtype="string"),
    })
    assert type(frame["str"].dtype).__name__ == type(frame["string"].dtype).__name__ \
        == "StringDtype"  # the text fast path is taken
    assert frame_csv_text(frame[["string"]].iloc[:2]) == "\ufeffstring\r\n'+y\r\n\"\"\r\n"
    assert frame_csv_text(pd.DataFrame({"t": [pd.NaT, pd.NA]}), bom=False) == 't\r\n""\r\n""\r\n'
    for bom in (True, False):
        assert frame_csv_text(frame, bom=bom) == slow(frame, bom=bom)


@pytest.mark.parametrize("seed", range(5))
def test_random_frames(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    values = rng.lognormal(5, 3, n) * rng.choice([-1, 1], n)
    values[rng.random(n) < 0.3] = np.round(values[rng.random(n) < 0.3][:1].sum())
    values[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame({
        "quantity": values,
        "whole": np.round(values),
        "id": [f"{'=+-@'[k % 4] if k % 7 == 0 else ''}OF{k}" for k in range(n)],
        "count": rng.integers(-10**12, 10**12, n),
    })
    assert frame_csv_text(frame) == slow(frame)


def test_empty_frames() -> None:
    assert frame_csv_text(pd.DataFrame()) == slow(pd.DataFrame())
    empty = pd.DataFrame({"a": pd.Series(dtype=float), "b": pd.Series(dtype=object)})
    assert frame_csv_text(empty) == slow(empty) == "\ufeffa,b\r\n"
