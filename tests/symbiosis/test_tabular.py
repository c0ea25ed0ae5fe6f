"""The one CSV writer: exact numbers, neutralised formulas, a BOM for Excel."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from symbiosis.tabular import csv_cell, csv_text, frame_csv_text


@pytest.mark.parametrize(("value", "text"), [
    (228000.0, "228000"), (np.float64(0.1), "0.1"), (1099511627776.0, "1099511627776"),
    (np.int64(7), "7"), (-12.5, "-12.5"), (float("nan"), ""), (None, ""),
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+86 731", "'+86 731"), ("-x", "'-x"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tcell", "'\tcell"), ("长沙电厂", "长沙电厂"), (True, "true")])
def test_cells(value: object, text: str) -> None:
    assert csv_cell(value) == text


def test_floats_read_back_exactly_and_add_up() -> None:
    values = [0.1, 0.2, 1 / 3, 123456.789012345678, 1e-7]
    frame = pd.DataFrame({"name": ["a", "b", "c", "d", "e"], "quantity": values})
    text = frame_csv_text(frame)
    assert text.startswith("\ufeff")
    back = pd.read_csv(io.StringIO(text.removeprefix("\ufeff")))
    assert back["quantity"].tolist() == values  # exact, not to 10 significant digits
    assert sum(back["quantity"]) == sum(values)


def test_rows_as_mappings_and_no_bom() -> None:
    text = csv_text(["a", "b"], [{"a": 1, "b": "=1+1"}, {"a": 2.5}], bom=False)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["a", "b"], ["1", "'=1+1"], ["2.5", ""]]
