"""GLOP, through OR-Tools MathOpt's public API: the second, independent LP solver that the
engine's HiGHS LPs (`matching.flow._HighsLP`) are checked against in the tests."""

from __future__ import annotations

from typing import Any


def solve(model_proto: Any) -> Any:
    """Solve a MathOpt ModelProto with GLOP; returns the SolveResultProto."""
    from ortools.math_opt.python import mathopt

    model = mathopt.Model.from_model_proto(model_proto)
    return mathopt.solve(model, mathopt.SolverType.GLOP).to_proto()
