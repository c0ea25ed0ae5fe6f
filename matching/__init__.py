"""matching — candidate arcs, the optimisation models and their results.

Imports flow one way: `symbiosis` (domain) <- `geo` <- `matching` <- `api`.
"""

from symbiosis.matching.candidates import Candidates, build_candidates
from symbiosis.matching.flow import FlowSolution, SolverStatus
from symbiosis.matching.model import MatchOptions, solve_candidates, solve_match
from symbiosis.matching.result import MatchResult, SolverFacts, write_outputs

__all__ = [
    "Candidates",
    "FlowSolution",
    "MatchOptions",
    "MatchResult",
    "SolverFacts",
    "SolverStatus",
    "build_candidates",
    "solve_candidates",
    "solve_match",
    "write_outputs",
]
