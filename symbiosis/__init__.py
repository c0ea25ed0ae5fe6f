"""symbiosis — industrial symbiosis and resource-exchange matching engine.

This package is the domain layer: the taxonomy, the dataset model and its I/O. The `geo`,
`matching` and `api` packages build on it (imports flow one way only). Names that need
pandas are imported on first use, so `symbiosis --help` and the error classes stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from symbiosis.errors import (
    InfeasibleError,
    InvalidDataError,
    Problem,
    SolverError,
    SymbiosisError,
)

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset, dataset_from_records, load_dataset, validate_dataset
    from symbiosis.taxonomy import Taxonomy, load_taxonomy

__version__ = "0.1.0"

_LAZY = {
    "Dataset": "symbiosis.dataset",
    "dataset_from_records": "symbiosis.dataset",
    "load_dataset": "symbiosis.dataset",
    "validate_dataset": "symbiosis.dataset",
    "Taxonomy": "symbiosis.taxonomy",
    "load_taxonomy": "symbiosis.taxonomy",
}

__all__ = [
    "Dataset",
    "InfeasibleError",
    "InvalidDataError",
    "Problem",
    "SolverError",
    "SymbiosisError",
    "Taxonomy",
    "__version__",
    "dataset_from_records",
    "load_dataset",
    "load_taxonomy",
    "validate_dataset",
]


def __getattr__(name: str) -> Any:
    """Import the heavier public names on first access (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'symbiosis' has no attribute '{name}'")
