"""Type aliases shared by every layer: numpy arrays by dtype, and a table row as a dict."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["BoolArray", "FloatArray", "Int32Array", "IntArray", "Row"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Int32Array = NDArray[np.int32]
BoolArray = NDArray[np.bool_]
Row = dict[str, Any]  # one record of a table, column name -> value
