"""One exception tree for the whole engine, and the `Problem` record that bad input produces.

The CLI maps these exceptions to exit codes in one place (`symbiosis.api.cli.main`), and the
HTTP API maps them to responses in one handler (`symbiosis.api.server.errors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "InfeasibleError",
    "InvalidDataError",
    "OptionsError",
    "Problem",
    "SolverError",
    "StoreError",
    "StoreUnavailableError",
    "SymbiosisError",
]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about the input, located as a spreadsheet user would look for it.

    `row` counts like a spreadsheet (header = row 1, first data row = 2); `row` is None for
    findings about a whole file or column, and `column` is None for findings about a row.
    """

    file: str
    row: int | None
    column: str | None
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(str(self.row))
        if self.column is not None:
            if self.row is None:
                parts.append("")
            parts.append(self.column)
        prefix = ":".join(parts)
        tag = "warning: " if self.severity == "warning" else ""
        return f"{prefix}: {tag}{self.message}"

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (the HTTP API returns validation reports in this shape)."""
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "severity": self.severity,
        }


class SymbiosisError(Exception):
    """Base of every error the engine raises on purpose."""


class InvalidDataError(SymbiosisError):
    """The dataset has one or more errors; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        head = "\n".join(str(p) for p in errors[:20])
        more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} problem(s) in the dataset:\n{head}{more}")


class OptionsError(SymbiosisError):
    """A run's options are out of bounds or do not go together (`MatchOptions`).

    `problems` lists (field, message) pairs; the CLI names the flag, the API the JSON field.
    """

    def __init__(self, field: str | None, message: str,
                 problems: list[tuple[str | None, str]] | None = None) -> None:
        self.problems = problems if problems is not None else [(field, message)]
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in self.problems))

    @classmethod
    def from_validation(cls, exc: Exception) -> OptionsError:
        """From a pydantic `ValidationError`: one (field, message) per error."""
        errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
        problems: list[tuple[str | None, str]] = []
        for err in errors:
            loc = ".".join(str(part) for part in err.get("loc", ()))
            message = str(err.get("msg", "invalid value"))
            problems.append((loc or None, message.removeprefix("Value error, ")))
        if not problems:
            problems = [(None, str(exc))]
        return cls(problems[0][0], problems[0][1], problems)


class InfeasibleError(SymbiosisError):
    """The model has no feasible solution (should not happen for the default objective)."""


class SolverError(SymbiosisError):
    """A solver failed or returned a status the engine cannot turn into a result."""


class StoreError(SymbiosisError):
    """The store refused an operation (unknown run, empty store, bad store URL ...)."""


class StoreUnavailableError(StoreError):
    """The store could not be reached, even after retrying with backoff."""
