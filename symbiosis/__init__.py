"""symbiosis — industrial symbiosis and resource-exchange matching engine.

This package is the domain layer: the taxonomy, the dataset model and its I/O. The `geo`,
`matching` and `api` packages build on it (imports flow one way only).
"""

from symbiosis.dataset import Dataset, dataset_from_records, load_dataset, validate_dataset
from symbiosis.errors import (
    InfeasibleError,
    InvalidDataError,
    Problem,
    SolverError,
    SymbiosisError,
)
from symbiosis.taxonomy import Taxonomy, load_taxonomy

__version__ = "0.1.0"

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
