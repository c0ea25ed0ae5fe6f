"""Shortest paths by frontier Bellman-Ford, for the dual values of a plan (`matching.prices`)
and the node potentials of a residual graph (`matching.sparse`).

Whole-array relaxation rounds with numpy (weights may be negative). Each round relaxes only
the edges out of the nodes the previous round improved: an edge whose tail did not change
would offer the same distance it offered before, which was then either taken or not better,
and its head has only come down since. So every round leaves the same distances as relaxing
every edge (the same rounds, the same floats), at a fraction of the work: a province's dual
graph has 340,000 edges and 10 rounds, and after the first few only a few thousand edges
leave improved nodes.
"""

from __future__ import annotations

import numpy as np

from symbiosis.types import FloatArray, IntArray

__all__ = ["frontier_bellman_ford"]


def frontier_bellman_ford(dist: FloatArray, frontier: IntArray, tails: IntArray,
                          heads: IntArray, weights: FloatArray, tol: float = 0.0) -> bool:
    """Lower `dist` (one float per node, changed in place) to the shortest distances over
    the edges (tails, heads, weights), starting from the nodes in `frontier`; an edge
    improves its head only by more than `tol`.

    Returns True when no edge improves any more, False when one still does after
    len(dist) + 1 rounds (a negative cycle): the caller says what that means.
    """
    n_nodes = len(dist)
    # a stable sort of 16-bit keys is a radix sort: 1.5 ms instead of 17 for a province
    key = tails.astype(np.uint16) if n_nodes <= 2**16 else tails
    by_tail = np.argsort(key, kind="stable")
    edge_tail, edge_head, edge_weight = tails[by_tail], heads[by_tail], weights[by_tail]
    first = np.zeros(n_nodes + 1, np.int64)
    np.cumsum(np.bincount(tails, minlength=n_nodes), out=first[1:])
    frontier = np.asarray(frontier, np.int64)
    for _ in range(n_nodes + 1):
        start, count = first[frontier], first[frontier + 1] - first[frontier]
        total = int(count.sum())
        # the edges out of the frontier: each node's run of edge_* positions
        edges = np.repeat(start - np.cumsum(count) + count, count) + np.arange(total)
        reach = dist[edge_tail[edges]] + edge_weight[edges]
        head = edge_head[edges]
        better = reach < dist[head] - tol
        if not better.any():
            return True
        np.minimum.at(dist, head[better], reach[better])
        frontier = np.unique(head[better]).astype(np.int64)
    return False
