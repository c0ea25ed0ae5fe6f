"""Independent parts of a transport network: the connected components of the offer-need
graph, grouped into balanced bins of whole components, and the cores to solve them on.

Far-apart regions and unrelated materials share no offer or need, so each component is a
problem of its own: the dense solve splits very large networks into worker processes
(`matching.model`), and the certified sparse solve solves each round as groups of
components (`matching.sparse`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["arc_components", "balanced_bins", "spawn_safe", "usable_cores"]


def arc_components(offer: np.ndarray, need: np.ndarray, n_offers: int,
                   n_needs: int) -> np.ndarray:
    """Connected component of each arc in the offer-need graph: far-apart regions and
    unrelated materials are independent problems."""
    from scipy.sparse import coo_matrix  # lazy: only large instances are split
    from scipy.sparse.csgraph import connected_components

    n = n_offers + n_needs
    graph = coo_matrix((np.ones(len(offer), np.int8), (offer, n_offers + need)),
                       shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[offer]


def balanced_bins(labels: np.ndarray, bins: int) -> list[np.ndarray]:
    """Positions grouped into `bins` sets of whole components, largest first to the
    least-loaded bin (arc count as the proxy for solve time)."""
    counts = np.bincount(labels)
    load = np.zeros(bins)
    assign = np.zeros(len(counts), np.int64)
    for comp in np.argsort(counts)[::-1]:
        if counts[comp] == 0:
            break
        target = int(np.argmin(load))
        assign[comp] = target
        load[target] += counts[comp]
    of_arc = assign[labels]
    return [idx for b in range(bins) if len(idx := np.flatnonzero(of_arc == b))]


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def spawn_safe() -> bool:
    """Whether worker processes may be spawned from this process: a spawned child imports
    the parent's main module again, which re-runs a user's script that lacks the
    `if __name__ == "__main__":` guard (and breaks the pool). Safe are an interactive or
    `-c` session (no main file), a module run with `-m` (`python -m symbiosis`, pytest),
    and a console script installed next to this Python (pip writes them with the guard,
    like `symbiosis`); any other script solves in its own process, and so does a daemonic
    process (a Dask worker), which may not have children."""
    import multiprocessing

    if multiprocessing.current_process().daemon:  # e.g. a Dask worker: no children
        return False
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        return True
    return Path(path).resolve().parent == Path(sys.executable).resolve().parent \
        or Path(path).parent == Path(sys.executable).parent
