"""The load path's shortcuts (issue 17 item 2) agree with the cell-by-cell checks they skip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from symbiosis.readers import _PLAIN, _all_plain

CELLS = ["", "12", "-3.5", "+.5", "1e5", "1.", "2E-3", "12,000", "12万", "9.5%", "1 000",
         "abc", "12e", "1.2.3", "--1", "１２０", "1e", ".", "-", "0", "7\n8", " 5"]


@pytest.mark.parametrize("seed", range(20))
def test_all_plain_is_true_exactly_when_every_cell_fullmatches(seed: int) -> None:
    """Random columns drawn from plain numbers, blanks and cells the reader must rewrite or
    reject: `_all_plain` is True only when pandas' per-cell fullmatch holds everywhere."""
    rng = np.random.default_rng(seed)
    pool = CELLS[:7] if seed % 2 == 0 else CELLS
    cells = [pool[k] for k in rng.integers(0, len(pool), int(rng.integers(0, 30)))]
    if seed % 5 == 1 and cells:  # one odd cell among plain ones
        cells = [CELLS[k] for k in rng.integers(0, 7, len(cells))]
        cells[int(rng.integers(0, len(cells)))] = CELLS[7 + seed % (len(CELLS) - 7)]
    column = pd.Series(cells, dtype="str")
    expected = bool((column.str.fullmatch(_PLAIN) | (column == "")).all())
    assert _all_plain(column) is expected


def test_all_plain_by_hand() -> None:
    assert _all_plain(pd.Series(["1", "", "2.5e3", "-.5"], dtype="str"))
    assert not _all_plain(pd.Series(["1", "12,000"], dtype="str"))
    assert not _all_plain(pd.Series(["1", "7\n8"], dtype="str"))  # a line break: unsure
    assert _all_plain(pd.Series([], dtype="str"))

