"""Primal network simplex with a warm start: min-cost flow whose basis survives added arcs.

Why it is ours: OR-Tools' min-cost flow (cost scaling) solves every certified sparse round
(matching.sparse) from scratch, and its time follows the nodes more than the arcs, so a
round that adds 124 arcs to 3 M costs as much as the first. A network simplex keeps its
spanning-tree basis: arcs that price out join as non-basic arcs at their lower bound, the
tree stays primal feasible, and the next solve pivots from there. No package on PyPI offers
one over sparse arcs with that warm start (POT's network simplex takes dense cost
matrices), so it is written here. The pivot loop is C (matching/_netsimplex.c, built at
install as an optional extension; `available`); this module holds the basis, builds it,
grows it and checks its arrays before handing them to the loop. (A numba version of the
same loop was measured first: 0.3-0.4 s of JIT start-up per process, as long as OR-Tools'
whole solve of the 3,000-enterprise province, and 2-3x slower pivots than C.)

The method (Ahuja, Magnanti and Orlin, *Network Flows*, 1993, ch. 11; Kelly and O'Neill,
"The minimum cost flow problem and the network simplex solution method", 1991; the
references are given from memory, their chapters and years not re-checked here):

* a basis is a spanning tree rooted at `root`, held as parent, the tree arc to the parent
  (`pred`, with its direction `up`: the arc leaves the node towards its parent), depth,
  and a first-child / sibling list for walking a subtree;
* potentials pi make every tree arc's reduced cost cost + pi[tail] - pi[head] zero;
* entering arc: block search (Grigoriadis 1986): scan blocks of about sqrt(arcs) arcs,
  cyclically from where the last search stopped, and take the most violating arc of the
  first block that holds one; the solve is optimal when a full pass finds none;
* leaving arc: the last blocking arc of the cycle met from its apex in the direction of
  the flow change, which keeps the tree *strongly feasible* (Cunningham 1976): every
  degenerate pivot moves towards the root, so the method cannot cycle;
* the subtree cut off by the leaving arc is re-hung from the entering arc: the path
  between the two reverses its parent pointers, and the subtree's potentials and depths
  move by one constant, in a walk over the subtree.

Integers throughout (int64): costs, capacities, flows, potentials. Callers keep every
|potential| below 2**62 (the wrappers check their bounds), so no sum overflows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from symbiosis.types import IntArray

__all__ = ["INF_CAP", "NetworkSimplex", "NetworkSimplexStatus", "arc_order", "available",
           "fits", "path_count", "transport_basis", "transport_big_m"]

INF_CAP = 2**62  # an uncapacitated arc's capacity: above any flow the wrappers allow
LOWER, TREE, UPPER = 1, 0, -1  # arc states; state x reduced cost < 0 means the arc violates
# an arc of capacity 0 can carry nothing: it is held at state 0 as well, so the search never
# prices it (as an entering arc it could only make degenerate pivots); it is not in the tree
FIXED = 0
OPTIMAL, UNBOUNDED, PIVOT_LIMIT = 0, 1, 2


class NetworkSimplexStatus:
    """Outcome codes of `NetworkSimplex.solve`."""

    OPTIMAL = OPTIMAL
    UNBOUNDED = UNBOUNDED  # a negative cycle of uncapacitated arcs
    PIVOT_LIMIT = PIVOT_LIMIT


def available() -> bool:
    """Whether the compiled pivot loop (matching/_netsimplex.c) was built at install. It is
    an optional extension: without a C compiler the install succeeds without it, and the
    certified sparse rounds run on OR-Tools instead (`matching.sparse`)."""
    try:
        from symbiosis.matching import _netsimplex  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class NetworkSimplex:
    """A min-cost flow basis that can be solved, grown by arcs and solved again.

    Build it with `from_tree` (a strongly feasible spanning tree the caller knows, as the
    transport network's sink tree) or `with_artificial_root` (any balanced network). The
    arrays hold the arcs in a mixed order (`arc_order`): position p holds the arc given
    at index order[p]; `arc_flows` and `reduced_costs` answer in the given order. The
    first `search_from` arcs are the basis's own (artificial) arcs, never entering again
    once they leave. A capacity of INF_CAP / 2 or more counts as uncapacitated.

    Attributes (numpy arrays, int64 unless said): tail, head, cap, cost, flow, state (int8:
    1 at lower bound, 0 in the tree or of capacity 0, -1 at upper bound) per arc; pi,
    parent, pred, up (bool), depth per node; `pivots` made in all.
    """

    tail: IntArray
    head: IntArray
    cap: IntArray
    cost: IntArray
    flow: IntArray
    state: np.ndarray
    pi: IntArray
    parent: IntArray
    pred: IntArray
    up: np.ndarray
    depth: IntArray
    first_child: IntArray
    next_sib: IntArray
    prev_sib: IntArray
    root: int
    order: IntArray
    supply: IntArray  # each node's outflow - inflow, read off the first basis's flow
    search_from: int = 0
    next_arc: int = 0
    pivots: int = 0

    @classmethod
    def from_tree(cls, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray,
                  flow: IntArray, tree_pred: IntArray, root: int,
                  search_from: int = 0) -> NetworkSimplex:
        """A basis from a spanning tree: `tree_pred[u]` is the arc joining node u to its
        parent (-1 for `root`), every tree arc hangs directly from the root (a star, as the
        sink of a transport network), `flow` is a feasible flow that is zero off the tree.
        The tree must be strongly feasible (every zero-flow tree arc points towards the
        root, every saturated one away from it).

        Raises:
            ValueError: the tree is not a star on `root`, or a flow is off the tree.
        """
        n = len(tree_pred)
        # arcs are held in a mixed order (arc_order), so that every block of the search
        # samples the whole network, not the arcs of a few neighbouring offers
        order = np.concatenate([np.arange(search_from),
                                search_from + arc_order(len(tail) - search_from, n)])
        where = np.empty_like(order)
        where[order] = np.arange(len(order))
        tail = np.asarray(tail, np.int64)[order]
        head = np.asarray(head, np.int64)[order]
        cap = np.asarray(cap, np.int64)[order]
        cost = np.asarray(cost, np.int64)[order]
        tree_pred = np.asarray(tree_pred, np.int64)
        tree_pred = np.where(tree_pred >= 0, where[np.maximum(tree_pred, 0)], -1)
        nodes = np.flatnonzero(np.arange(n) != root)
        arcs = tree_pred[nodes]
        if (arcs < 0).any() or not np.all((tail[arcs] == root) | (head[arcs] == root)):
            raise ValueError("from_tree: every non-root node needs a tree arc to the root")
        parent = np.full(n, -1, np.int64)
        parent[nodes] = root
        up = np.zeros(n, bool)
        up[nodes] = tail[arcs] == nodes
        state = np.where(cap > 0, LOWER, FIXED).astype(np.int8)
        state[arcs] = TREE
        flow = np.asarray(flow, np.int64)[order]
        if (flow[state != TREE] != 0).any():
            raise ValueError("from_tree: flow on a non-tree arc")
        pi = np.zeros(n, np.int64)
        # tree arc u -> root: cost + pi[u] - 0 = 0; root -> u: cost + 0 - pi[u] = 0
        pi[nodes] = np.where(up[nodes], -cost[arcs], cost[arcs])
        depth = np.zeros(n, np.int64)
        depth[nodes] = 1
        first_child = np.full(n, -1, np.int64)
        next_sib = np.full(n, -1, np.int64)
        prev_sib = np.full(n, -1, np.int64)
        if len(nodes):
            first_child[root] = nodes[0]
            next_sib[nodes[:-1]] = nodes[1:]
            prev_sib[nodes[1:]] = nodes[:-1]
        supply = (np.bincount(tail, flow, n) - np.bincount(head, flow, n)).astype(np.int64)
        return cls(tail, head, cap, cost, flow, state, pi, parent, tree_pred, up, depth,
                   first_child, next_sib, prev_sib, root, order, supply, search_from,
                   search_from)

    @classmethod
    def with_artificial_root(cls, tail: IntArray, head: IntArray, cap: IntArray,
                             cost: IntArray, supply: IntArray) -> NetworkSimplex:
        """A basis for any network with balanced `supply` (sum 0): a root node n is added
        with one artificial arc per node (node -> root where supply >= 0, root -> node
        otherwise) carrying its supply at cost (n + 1) x max|cost| + 1, more than any path
        of real arcs, so the artificial arcs carry flow at the optimum only when the real
        network is infeasible (`artificial_flow`). Real arcs keep their positions after
        the n artificial ones (`search_from` = n).

        Raises:
            ValueError: supplies do not balance, or the costs are too large for int64.
        """
        supply = np.asarray(supply, np.int64)
        n = len(supply)
        if int(supply.sum()) != 0:
            raise ValueError(f"supplies sum to {int(supply.sum())}, not 0")
        cost = np.asarray(cost, np.int64)
        art = (n + 1) * int(np.abs(cost).max(initial=0)) + 1
        if 4 * art >= 2**62:
            raise ValueError("costs too large for the network simplex's int64 potentials")
        nodes = np.arange(n, dtype=np.int64)
        out = supply >= 0
        a_tail = np.where(out, nodes, n)
        a_head = np.where(out, n, nodes)
        tail = np.concatenate([a_tail, np.asarray(tail, np.int64)])
        head = np.concatenate([a_head, np.asarray(head, np.int64)])
        caps = np.concatenate([np.full(n, INF_CAP, np.int64), np.asarray(cap, np.int64)])
        costs = np.concatenate([np.full(n, art, np.int64), cost])
        flow = np.zeros(len(tail), np.int64)
        flow[:n] = np.abs(supply)
        return cls.from_tree(tail, head, caps, costs, flow, np.append(nodes, -1), n,
                             search_from=n)

    @property
    def artificial_flow(self) -> int:
        """Flow left on the artificial arcs (0 at an optimum of a feasible network)."""
        return int(self.flow[:self.search_from].sum())

    def add_arcs(self, tail: IntArray, head: IntArray, cap: IntArray,
                 cost: IntArray) -> None:
        """Append arcs at their lower bound (flow 0): the tree stays a feasible basis, and
        the next `solve` starts from it."""
        self.tail = np.concatenate([self.tail, np.asarray(tail, np.int64)])
        self.head = np.concatenate([self.head, np.asarray(head, np.int64)])
        self.cap = np.concatenate([self.cap, np.asarray(cap, np.int64)])
        self.cost = np.concatenate([self.cost, np.asarray(cost, np.int64)])
        self.flow = np.concatenate([self.flow, np.zeros(len(tail), np.int64)])
        self.state = np.concatenate([self.state, np.where(np.asarray(cap) > 0, LOWER,
                                                          FIXED).astype(np.int8)])
        self.order = np.concatenate([self.order, np.arange(len(self.order),
                                                           len(self.order) + len(tail))])

    def solve(self, max_pivots: int | None = None) -> int:
        """Pivot to an optimum (or `max_pivots` pivots); returns a NetworkSimplexStatus
        code. The loop releases the GIL.

        Raises:
            ImportError: the compiled loop was not built (`available()` is False).
            ValueError: an array has the wrong dtype or length, or an arc names a node
                that does not exist (checked here: the C loop trusts its inputs).
        """
        from symbiosis.matching._netsimplex import pivot

        self._check()
        n_search = len(self.tail) - self.search_from
        block = max(10, math.ceil(math.sqrt(max(n_search, 1))))
        stem = np.empty(len(self.pi), np.int64)
        limit = 2**62 if max_pivots is None else max_pivots
        status, pivots, self.next_arc = pivot(
            self.tail, self.head, self.cap, self.cost, self.flow, self.state, self.pi,
            self.parent, self.pred, self.up, self.depth, self.first_child, self.next_sib,
            self.prev_sib, stem, self.search_from, self.next_arc, block, limit)
        self.pivots += int(pivots)
        return int(status)

    def _check(self) -> None:
        """Dtypes, lengths and contiguity the C loop relies on; node indices in range."""
        n, m = len(self.pi), len(self.tail)
        for name in ("tail", "head", "cap", "cost", "flow"):
            a = getattr(self, name)
            if a.dtype != np.int64 or len(a) != m or not a.flags.c_contiguous:
                raise ValueError(f"network simplex: {name} must be {m} contiguous int64")
        for name in ("pi", "parent", "pred", "depth", "first_child", "next_sib",
                     "prev_sib"):
            a = getattr(self, name)
            if a.dtype != np.int64 or len(a) != n or not a.flags.c_contiguous:
                raise ValueError(f"network simplex: {name} must be {n} contiguous int64")
        if self.state.dtype != np.int8 or len(self.state) != m or (
                self.up.dtype != np.bool_ or len(self.up) != n):
            raise ValueError("network simplex: state must be int8 per arc, up bool per node")
        if m and (min(int(self.tail.min()), int(self.head.min())) < 0
                  or max(int(self.tail.max()), int(self.head.max())) >= n):
            raise ValueError("network simplex: an arc names a node that does not exist")

    def optimality_violations(self, supply: IntArray | None = None) -> int:
        """Arcs and nodes that break an optimality condition of this network, computed
        from the arrays, not taken from the solver: a flow outside [0, capacity], a node
        whose outflow - inflow is not its `supply` (one per node, root included; default:
        the supplies the basis was built with), a
        reduced cost < 0 on an arc whose flow can rise or > 0 on one whose flow can fall,
        flow on an artificial arc. 0 proves the flow optimal for these arcs (LP
        complementary slackness); artificial arcs without flow are as good as absent."""
        first = self.search_from
        f = self.flow
        real = slice(first, None)
        rc = self.cost[real] + self.pi[self.tail[real]] - self.pi[self.head[real]]
        cap = self.cap[real]
        bad = int(np.count_nonzero(f[:first])) + int(np.count_nonzero((f[real] < 0) |
                                                                      (f[real] > cap)))
        bad += int(np.count_nonzero((rc < 0) & (f[real] < cap)) +
                   np.count_nonzero((rc > 0) & (f[real] > 0)))
        expected = self.supply if supply is None else np.asarray(supply)
        n = len(expected)  # float64 sums of integer flows: exact below 2**53
        net = np.bincount(self.tail, f, n) - np.bincount(self.head, f, n)
        return bad + int(np.count_nonzero(net != expected))

    def arc_flows(self) -> IntArray:
        """Flow of every arc, in the order the arcs were given (artificial arcs first)."""
        out = np.empty_like(self.flow)
        out[self.order] = self.flow
        return out

    def reduced_costs(self) -> IntArray:
        """cost + pi[tail] - pi[head] of every arc, in the order the arcs were given."""
        out = np.empty_like(self.cost)
        out[self.order] = self.cost + self.pi[self.tail] - self.pi[self.head]
        return out


def arc_order(n_arcs: int, n_nodes: int) -> IntArray:
    """A fixed interleaving of arc positions: position p holds arc order[p], stepping
    through the arcs by max(arcs / nodes, 3). Arcs given grouped by offer would otherwise
    fill a search block with the arcs of a few offers, none of which may price out; mixed,
    a block samples the whole network (LEMON's network simplex mixes arcs the same way, for
    the same reason). On the 31 M-arc national network (dense, first numba version) it cut
    the solve from 50 s to 18 s: the search had scanned 16.0 G reduced costs."""
    skip = max(n_arcs // max(n_nodes, 1), 3)
    return np.concatenate([np.arange(j, n_arcs, skip) for j in range(min(skip, n_arcs))]
                          ) if n_arcs else np.zeros(0, np.int64)



def path_count(offer: IntArray, need: IntArray) -> int:
    """K of the big M: the offers or the needs that have an arc, whichever fewer (an
    alternating path visits each at most once). Counted with bincount: O(arcs), where
    unique sorts them."""
    if not len(offer):
        return 0
    return min(int(np.count_nonzero(np.bincount(offer))),
               int(np.count_nonzero(np.bincount(need))))


def transport_big_m(offer: IntArray, need: IntArray, cost: IntArray) -> int:
    """The unserved-supply cost M = K x c_max + 1 of the transport network (K from
    `path_count`; c_max the largest integer arc cost): more than any alternating path, so
    every min-cost flow of the big-M network delivers the maximum (proof in
    matching.sparse's module docstring)."""
    if not len(cost):
        return 1
    return path_count(offer, need) * int(np.max(cost)) + 1


def fits(n_nodes: int, big_m: int) -> bool:
    """Whether int64 potentials hold this network: (nodes + 2) x M < 2**60 (a potential
    sums at most `nodes` tree-arc costs; a reduced cost adds two potentials and a cost)."""
    return (n_nodes + 2) * big_m < 2**60


def transport_basis(supply: IntArray, demand: IntArray, offer: IntArray, need: IntArray,
                    cap: IntArray, cost: IntArray, big_m: int) -> NetworkSimplex:
    """The big-M transport network's first basis, the sink star, strongly feasible.

    Nodes: offers 0..S-1, needs S..S+D-1, the sink S+D (the root). Arcs, in this order:
    each offer's unserved arc o -> sink (cost `big_m`, uncapacitated: an offer's outflow is
    its supply anyway), each need's arc n -> sink (cost 0, capacity its demand), then the
    transport arcs offer[i] -> S + need[i] (`cap`, `cost`). The basis puts every offer's
    supply on its unserved arc and leaves the needs' arcs empty: every tree arc can still
    carry more towards the root, which is what strong feasibility asks.
    """
    n_s, n_d = len(supply), len(demand)
    sink = n_s + n_d
    flow = np.zeros(sink + len(offer), np.int64)
    flow[:n_s] = supply
    return NetworkSimplex.from_tree(
        np.concatenate([np.arange(sink, dtype=np.int64), np.asarray(offer, np.int64)]),
        np.concatenate([np.full(sink, sink, np.int64), n_s + np.asarray(need, np.int64)]),
        np.concatenate([np.full(n_s, INF_CAP, np.int64), np.asarray(demand, np.int64),
                        np.asarray(cap, np.int64)]),
        np.concatenate([np.full(n_s, big_m, np.int64), np.zeros(n_d, np.int64),
                        np.asarray(cost, np.int64)]),
        flow, np.append(np.arange(sink, dtype=np.int64), -1), sink)
