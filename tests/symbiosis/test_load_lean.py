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


def _stripped(text: str) -> list[list[str]]:
    """csv_grid as it was: every cell stripped."""
    import csv
    import io

    first = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    return [[c.strip() for c in rec]
            for rec in csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)]


# every kind of space str.strip removes, but line breaks (which end an unquoted cell)
SPACES = [chr(c) for c in range(0x3001) if chr(c).isspace() and chr(c) not in "\r\n"]


@pytest.mark.parametrize("seed", range(30))
def test_csv_grid_equals_stripping_every_cell(seed: int) -> None:
    """Random CSV texts (comma or tab separated, quoted cells with delimiters, quotes and
    line breaks, LF or CRLF, a BOM) with whitespace of every kind at cell edges now and
    then: the same records as stripping each cell."""
    from symbiosis.readers import csv_grid

    rng = np.random.default_rng(seed)
    sep = "\t" if seed % 3 == 0 else ","
    words = ["a", "12", "粉煤灰", "x y", "", '"q,""t"""', '"multi\nline"', "E001"]
    lines = []
    for _ in range(int(rng.integers(1, 8))):
        cells = []
        for _ in range(int(rng.integers(1, 5))):
            cell = words[int(rng.integers(0, len(words)))]
            if rng.random() < 0.15:
                space = SPACES[int(rng.integers(0, len(SPACES)))]
                cell = space + cell if rng.random() < 0.5 else cell + space
            cells.append(cell)
        lines.append(sep.join(cells))
    newline = ["\n", "\r\n"][seed % 2]
    text = ("\ufeff" if seed % 4 == 0 else "") + newline.join(lines) + \
        (newline if seed % 5 else "")
    assert csv_grid(text) == _stripped(text)


@pytest.mark.parametrize("space", SPACES)
def test_csv_grid_strips_every_kind_of_space_at_a_cell_edge(space: str) -> None:
    from symbiosis.readers import csv_grid

    texts = ('a,"\nb"\n', 'a,"b\r\n"\r\n', '"\rb",c', f"a,{space}b\n", f"a{space},b\n",
             f"{space}a,b", f"a,b{space}", f'a,"{space}b"\n', f'a,"b{space}"\r\n',
             f"a\r\n{space}b")
    for text in texts:
        assert csv_grid(text) == _stripped(text), repr(text)
