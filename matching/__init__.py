"""matching — candidate arcs, the optimisation models and their results.

Imports flow one way: `symbiosis` (domain) <- `geo` <- `matching` <- `api`. The names below
are imported on first use (PEP 562), so `symbiosis.matching.options` (which the CLI reads
to build its flags) does not pull pandas and OR-Tools into `symbiosis --help`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symbiosis.matching.candidates import Candidates, build_candidates
    from symbiosis.matching.flow import FlowSolution, SolverStatus
    from symbiosis.matching.model import solve_candidates, solve_match
    from symbiosis.matching.options import MatchOptions
    from symbiosis.matching.result import MatchResult, SolverFacts, write_outputs
    from symbiosis.matching.summary import MatchSummary

_LAZY = {  # public name -> the submodule of this package that defines it
    **dict.fromkeys(("Candidates", "build_candidates"), "candidates"),
    **dict.fromkeys(("FlowSolution", "SolverStatus"), "flow"),
    **dict.fromkeys(("solve_candidates", "solve_match"), "model"),
    **dict.fromkeys(("MatchOptions",), "options"),
    **dict.fromkeys(("MatchResult", "SolverFacts", "write_outputs"), "result"),
    **dict.fromkeys(("MatchSummary",), "summary"),
}

__all__ = [
    "Candidates",
    "FlowSolution",
    "MatchOptions",
    "MatchResult",
    "MatchSummary",
    "SolverFacts",
    "SolverStatus",
    "build_candidates",
    "solve_candidates",
    "solve_match",
    "write_outputs",
]


def __getattr__(name: str) -> Any:
    """Import the public names on first access (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
