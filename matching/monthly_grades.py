"""Months combined with grades (issue 15): blending, heat judged at delivery, the heat cascade
and water classes, month by month, over the time-expanded network of `matching.monthly`.

The annual graded LP (`matching.blending`) holds a need's quality limits on the mass-weighted
average of what it receives in the year; here they hold in every month. The arcs are the
annual graded run's (`blending.prepare_grades`: blending needs' arcs rebuilt without the
blended limits, heat arcs judged at delivery with ratio 1 - loss x km, the cascade's return
offers appended), expanded over twelve months with the stores and stockpiles of
`matching.monthly.build_network`. For every limit (attribute k, value L) of a blending need
n and every month t:

    max limit:  sum_{a into n} (v_{o(a),k} - L) x_{a,t} <= 0
    min limit:  sum_{a into n} (L - v_{o(a),k}) x_{a,t} <= 0

(over the arcs of the limit's rule for a standard's limit, as in the annual LP; weights in
offer units). For the return offer r of cascade need i and every month t, the offer's node
row of the network becomes

    sum_{a out of r} x_{a,t} - share_i sum_{a into i} ratio_a x_{a,t} <= 0

(what it gives back in a month is bounded by the heat the user receives that month; heat is
never stored). The limits bind what is delivered in the month: a receiver's store then
holds only deliveries that met them, so every mix it releases meets them too (sufficient,
not necessary: a month under the limit could in principle offset a later one over it
through the store; we do not count on that). A receiver store's initial stock has no stated
quality and is not in the rows.

| symbol    | attribute                                                  |
|-----------|------------------------------------------------------------|
| x_{a,t}   | flow on candidate arc a in month t, offer units            |
| v_{o,k}   | `offers["q.<k>"]`                                          |
| L         | rule limit (rule_limits.csv) or need `min.`/`max.<k>`       |
| share_i   | `needs.return_share`                                       |

Only the components that need it become an LP. Offers and needs are joined into components
by their candidate arcs and by a cascade return and its user; a component with a graded
arc (`Grades.graded_arcs`: into a blending need, out of a return offer), a need reached at
two ratios (heat at delivery, substitutions), a store with losses, or `method lp` goes to
the LP; the others stay in the pure time-expanded min-cost flow (`matching.monthly`), solved
in the same call as ever. The LP is built in matrix form (scipy sparse, one vectorised pass;
no per-variable Python calls) and solved by HiGHS through `scipy.optimize.linprog` -- the
route `matching.monthly` already takes for its lossy LP -- stage by stage, each stage's
optimum kept within `LP_STAGE_TOLERANCE` (relative) before the next:

    1. minimise  -(sum x_{a,t} over arcs of listed offers) + sum (1 - keep_r) h_{r,t}
                                  (offered units delivered, less receivers' store losses)
    2. minimise  sum p_{o,t}      (stockpile drawn; if any)
    3. maximise  sum x_{a,t} over arcs of return offers   (cascaded heat; if any)
    4. minimise  sum km_a x_{a,t}                          (unit-km)
    5. minimise  sum h_{s,t}                               (unit-months held)

The duals of every stage are kept: `matching.monthly` reads each store's marginal value of
capacity from them (module docstring there).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from symbiosis.errors import SolverError
from symbiosis.matching.blending import BLEND_COLUMNS, Grades, limit_arcs
from symbiosis.matching.flow import LP_STAGE_TOLERANCE
from symbiosis.months import MONTHS

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset
    from symbiosis.matching.candidates import Candidates
    from symbiosis.matching.monthly import MonthlyNetwork

__all__ = ["GradedRows", "GradedSplit", "LpStages", "blends_by_month", "graded_rows",
           "merge_networks", "solve_staged_lp", "split_components"]

FLOW_EPS = 1e-9


@dataclass(frozen=True)
class GradedSplit:
    """Which offers and needs the LP takes (the rest stay in the pure network), and why."""

    lp_offer: NDArray[np.bool_]
    lp_need: NDArray[np.bool_]
    components: int
    lp_components: int

    def lp_nodes(self, net: MonthlyNetwork, piles: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Mask over the network's nodes: offer and need months, stockpiles, in the LP part
        (the sink, last, in neither)."""
        T = MONTHS  # noqa: N806 (the model's symbol)
        return np.concatenate([np.repeat(self.lp_offer, T), np.repeat(self.lp_need, T),
                               self.lp_offer[piles], np.zeros(1, bool)])


def split_components(dataset: Dataset, cand: Candidates, grades: Grades | None,
                     storage: pd.DataFrame, force_lp: bool) -> GradedSplit:
    """The components of offers and needs (joined by candidate arcs, and a cascade return
    offer to its user) and which of them the LP takes: those with a graded arc, a need at
    two ratios or a lossy store; all of them with `force_lp`."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_o, n_n = len(dataset.offers), len(dataset.needs)
    a = np.concatenate([cand.offer.astype(np.int64),
                        np.fromiter((grades.returns if grades else {}), np.int64)])
    b = np.concatenate([n_o + cand.need.astype(np.int64),
                        n_o + np.fromiter((v[0] for v in (grades.returns if grades else {})
                                           .values()), np.int64)])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n_o + n_n, n_o + n_n))
    count, label = connected_components(graph, directed=False)
    lp = np.full(count, force_lp)
    if len(cand):
        if grades is not None:
            lp[label[cand.offer[grades.graded_arcs(cand)]]] = True
        mixed = cand.mixed_ratio_needs(n_n)
        lp[label[n_o + np.flatnonzero(mixed)]] = True
    if len(storage):
        lossy = storage["loss_pct_per_month"].to_numpy(float) > 0
        offer_pos = {oid: i for i, oid in enumerate(dataset.offers.index)}
        need_pos = {nid: i for i, nid in enumerate(dataset.needs.index)}
        for side, listing in zip(storage["side"][lossy], storage["listing_id"][lossy],
                                 strict=True):
            node = offer_pos[listing] if side == "supplier" else n_o + need_pos[listing]
            lp[label[node]] = True
    return GradedSplit(lp[label[:n_o]], lp[label[n_o:]], int(count), int(lp.sum()))


@dataclass(frozen=True)
class GradedRows:
    """Rows the graded LP adds to the network's: blend rows (new, each `<= 0`) and the
    cascade's coefficients on return offers' node rows; `limits` names each blend row."""

    blend_rows: NDArray[np.int64]
    blend_cols: NDArray[np.int64]
    blend_coef: NDArray[np.float64]
    n_blend: int
    cascade_rows: NDArray[np.int64]  # network node of the return offer's month
    cascade_cols: NDArray[np.int64]  # network arc (delivery into the user that month)
    cascade_coef: NDArray[np.float64]
    return_nodes: NDArray[np.int64]


def graded_rows(dataset: Dataset, cand: Candidates, grades: Grades) -> GradedRows:
    """The blend rows (module docstring) for every limit and month, and the cascade
    coefficients, as sparse triplets over network arcs (delivery arc a in month t is
    network arc a*12+t, `matching.monthly.MonthlyNetwork`)."""
    T = MONTHS  # noqa: N806 (the model's symbol)
    months = np.arange(T, dtype=np.int64)
    offers = dataset.offers
    rule_key = np.array([r.key for r in cand.rules], dtype=object)[cand.rule] \
        if len(cand) else np.empty(0, dtype=object)
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    coef: list[NDArray[np.float64]] = []
    n_rows = 0
    for _lim, sel, c in limit_arcs(grades, offers, cand.offer, cand.need, rule_key):
        # one row per month: row n_rows + t over arcs sel*12 + t
        rows.append(np.tile(n_rows + months, len(sel)))
        cols.append((sel[:, None] * T + months[None, :]).reshape(-1))
        coef.append(np.repeat(c, T))
        n_rows += T
    c_rows: list[NDArray[np.int64]] = []
    c_cols: list[NDArray[np.int64]] = []
    c_coef: list[NDArray[np.float64]] = []
    for r, (n_pos, share) in grades.returns.items():
        into = np.flatnonzero(cand.need == n_pos).astype(np.int64)
        c_rows.append(np.tile(r * T + months, len(into)))
        c_cols.append((into[:, None] * T + months[None, :]).reshape(-1))
        c_coef.append(np.repeat(-share * cand.ratio[into], T))
    ret = np.fromiter(grades.returns, np.int64)
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
    return GradedRows(
        np.concatenate(rows) if rows else empty_i, np.concatenate(cols) if cols else empty_i,
        np.concatenate(coef) if coef else empty_f, n_rows,
        np.concatenate(c_rows) if c_rows else empty_i,
        np.concatenate(c_cols) if c_cols else empty_i,
        np.concatenate(c_coef) if c_coef else empty_f,
        (ret[:, None] * T + months[None, :]).reshape(-1))


@dataclass(frozen=True)
class LpStages:
    """A staged LP's solution over the network's arcs (zero off the LP part), each stage's
    value, and per stage the derivative of its value with respect to each arc's capacity
    (`capacity_grad[k]`, full arc length; the chain rule through earlier stages' fixing
    rows is applied, so each is d z_k / d capacity along the lexicographic optimum)."""

    flows: NDArray[np.float64]
    values: tuple[float, ...]
    names: tuple[str, ...]
    capacity_grad: tuple[NDArray[np.float64], ...]
    seconds: float


def solve_staged_lp(net: MonthlyNetwork, capacity: NDArray[np.float64],
                    arcs: NDArray[np.bool_] | None = None,
                    nodes: NDArray[np.bool_] | None = None,
                    rows: GradedRows | None = None,
                    listed: NDArray[np.bool_] | None = None) -> LpStages:
    """The time-expanded network restricted to `arcs` and `nodes` (masks; None: all), with
    the graded `rows`, solved stage by stage (module docstring) by HiGHS.

    `listed` marks delivery arcs of listed offers (the others are a cascade's returns; None:
    every delivery arc is listed). Node rows: offer and stockpile nodes `out - gain x in <=
    supply` (with the cascade's coefficients), need nodes `out - gain x in = 0`.

    The constraint matrix is block-diagonal: its blocks (the connected components of rows
    and columns; months without a store between them fall apart) are solved separately, small
    blocks batched up to `BATCH_COLUMNS` columns a solve. The lexicographic optimum of a sum
    of independent blocks is each block's own, so this is the same optimum, found faster.

    Raises:
        SolverError: HiGHS did not prove a stage optimal.
    """
    from scipy.sparse import coo_matrix, vstack
    from scipy.sparse.csgraph import connected_components

    start = time.perf_counter()
    n_all = len(net.tails)
    arcs = np.ones(n_all, bool) if arcs is None else arcs
    nodes = np.ones(net.n_nodes, bool) if nodes is None else nodes
    nodes = nodes.copy()
    nodes[-1] = False  # the sink has no row
    col_of = np.full(n_all, -1, np.int64)
    live = np.flatnonzero(arcs)
    col_of[live] = np.arange(len(live))
    n_v = len(live)
    tails, heads, gain = net.tails[live], net.heads[live], net.gain[live]
    kind = net.kind[live]
    cols = np.arange(n_v)
    r_ent = [tails, heads]
    c_ent = [cols, cols]
    v_ent = [np.ones(n_v), -gain]
    supply = net.supply.copy()
    if rows is not None and len(rows.cascade_rows):
        keep = arcs[rows.cascade_cols]
        r_ent.append(rows.cascade_rows[keep])
        c_ent.append(col_of[rows.cascade_cols[keep]])
        v_ent.append(rows.cascade_coef[keep])
    if rows is not None:
        supply[rows.return_nodes] = 0.0  # a return gives only what its user receives
    need_node = np.zeros(net.n_nodes, bool)
    need_node[net.tails[net.kind == 4]] = True
    src = np.flatnonzero(nodes & ~need_node)
    eq = np.flatnonzero(nodes & need_node)
    # rows renumbered: inequality node rows, blend rows, then equality node rows
    row_of = np.full(net.n_nodes, -1, np.int64)
    n_blend = rows.n_blend if rows is not None else 0
    row_of[src] = np.arange(len(src))
    row_of[eq] = len(src) + n_blend + np.arange(len(eq))
    r_all = row_of[np.concatenate(r_ent)]
    c_all = np.concatenate(c_ent)
    v_all = np.concatenate(v_ent)
    if n_blend:
        assert rows is not None
        keep = arcs[rows.blend_cols]
        r_all = np.concatenate([r_all, len(src) + rows.blend_rows[keep]])
        c_all = np.concatenate([c_all, col_of[rows.blend_cols[keep]]])
        v_all = np.concatenate([v_all, rows.blend_coef[keep]])
    ok = r_all >= 0
    n_ub, n_rows = len(src) + n_blend, len(src) + n_blend + len(eq)
    matrix = coo_matrix((v_all[ok], (r_all[ok], c_all[ok])), shape=(n_rows, n_v)).tocsr()
    rhs = np.concatenate([supply[src], np.zeros(n_blend), np.zeros(len(eq))])
    upper = capacity[live]
    deliver = kind == 0
    is_listed = deliver if listed is None else deliver & listed[live]
    returned = deliver & ~is_listed
    store = (kind == 1) | (kind == 2)
    objectives: list[tuple[str, NDArray[np.float64]]] = [
        ("delivered", -is_listed.astype(float) + (1.0 - gain) * (kind == 2))]
    if (kind == 3).any():
        objectives.append(("stockpile drawn", (kind == 3).astype(float)))
    if returned.any():
        objectives.append(("cascaded heat", -returned.astype(float)))
    objectives.append(("unit-km", net.km[live] * deliver))
    objectives.append(("unit-months held", store.astype(float)))
    # blocks: components of the bipartite row-column graph
    nz_r, nz_c = matrix.nonzero()
    pattern = coo_matrix((np.ones(len(nz_r)), (nz_r, n_rows + nz_c)),
                         shape=(n_rows + n_v, n_rows + n_v))
    _, label = connected_components(pattern, directed=False)
    col_label = label[n_rows:]
    row_label = label[:n_rows]
    x = np.zeros(n_v)
    grads = [np.zeros(n_v) for _ in objectives]
    values = np.zeros(len(objectives))
    solved: dict[bytes, tuple[NDArray[np.float64], list[float],
                              list[NDArray[np.float64]]]] = {}
    for batch_cols, batch_rows in _batches(col_label, row_label):
        sub = matrix[batch_rows][:, batch_cols]
        is_ub = batch_rows < n_ub
        a_ub, a_eq = sub[is_ub], sub[~is_ub]
        b_ub, b_eq = rhs[batch_rows[is_ub]], rhs[batch_rows[~is_ub]]
        stage_c = [(n, c[batch_cols]) for n, c in objectives]
        # a block equal to one solved already (the same month again: flat listings, no
        # store) has the same lexicographic optimum: solved once
        key = _fingerprint(sub, is_ub, rhs[batch_rows], upper[batch_cols],
                           [c for _, c in stage_c])
        if key not in solved:
            solved[key] = _solve_stages(a_ub, b_ub, a_eq, b_eq, upper[batch_cols], stage_c,
                                        vstack)
        xb, vb, gb = solved[key]
        x[batch_cols] = xb
        values += vb
        for k, g in enumerate(gb):
            grads[k][batch_cols] = g
    flows = np.zeros(n_all)
    flows[live] = np.where(x > FLOW_EPS, x, 0.0)
    full_grads = []
    for g in grads:
        full = np.zeros(n_all)
        full[live] = g
        full_grads.append(full)
    return LpStages(flows, tuple(float(v) for v in values), tuple(n for n, _ in objectives),
                    tuple(full_grads), time.perf_counter() - start)


BATCH_COLUMNS = 4000  # small blocks solved together up to this many columns


def _fingerprint(sub: Any, is_ub: NDArray[np.bool_], rhs: NDArray[np.float64],
                 upper: NDArray[np.float64], objectives: list[NDArray[np.float64]]) -> bytes:
    """Bytes that are equal exactly when two blocks are the same LP (matrix in canonical
    CSR form, row kinds, right-hand sides, bounds, stage objectives)."""
    import hashlib

    csr = sub.tocsr()
    csr.sum_duplicates()
    csr.sort_indices()
    digest = hashlib.blake2b(digest_size=32)
    for part in (np.asarray(csr.shape, np.int64), csr.indptr.astype(np.int64),
                 csr.indices.astype(np.int64), csr.data, is_ub, rhs, upper, *objectives):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.digest()


def _batches(col_label: NDArray[np.int64], row_label: NDArray[np.int64]
             ) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Column and row positions of each batch of blocks (a block larger than
    `BATCH_COLUMNS` on its own)."""
    n_labels = int(max(col_label.max(initial=-1), row_label.max(initial=-1))) + 1
    size = np.bincount(col_label, minlength=n_labels)
    batch_of = np.full(n_labels, -1, np.int64)
    batch, filled = 0, 0
    for lab in np.argsort(-size, kind="stable"):
        if size[lab] == 0:
            continue  # rows without columns: nothing to solve
        if filled and filled + size[lab] > BATCH_COLUMNS:
            batch, filled = batch + 1, 0
        batch_of[lab] = batch
        filled += int(size[lab])
    col_batch = batch_of[col_label]
    row_batch = batch_of[row_label]
    order_c = np.argsort(col_batch, kind="stable")
    order_r = np.argsort(row_batch, kind="stable")
    n_batches = int(batch_of.max(initial=-1)) + 1
    bc = np.searchsorted(col_batch[order_c], np.arange(n_batches + 1))
    br = np.searchsorted(row_batch[order_r], np.arange(n_batches + 1))
    return [(order_c[bc[b]:bc[b + 1]], order_r[br[b]:br[b + 1]]) for b in range(n_batches)]


def _solve_stages(a_ub: Any, b_ub: NDArray[np.float64], a_eq: Any, b_eq: NDArray[np.float64],
                  upper: NDArray[np.float64], objectives: list[tuple[str, NDArray[np.float64]]],
                  vstack: Any) -> tuple[NDArray[np.float64], list[float],
                                        list[NDArray[np.float64]]]:
    """One block's stages (`solve_staged_lp`): flows, stage values and the chained
    derivatives of each stage's value with respect to each column's upper bound.

    Raises:
        SolverError: HiGHS did not prove a stage optimal.
    """
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix

    n = len(upper)
    bounds = np.column_stack([np.zeros(n), upper])
    blocks, rhs = [a_ub], [b_ub]
    n_base = a_ub.shape[0]
    values: list[float] = []
    grads: list[NDArray[np.float64]] = []
    x = np.zeros(n)
    for k, (name, objective) in enumerate(objectives):
        if not objective.any() or (k and (objective >= 0).all() and objective @ x <= 0):
            # nothing to optimise in this block, or the plan already has the least value
            # a nonnegative objective can take (no stockpile drawn, nothing held): keep it,
            # and keep later stages from spending it (its fixing row at 0)
            values.append(0.0)
            grads.append(np.zeros(n))
            blocks.append(csr_matrix(objective.reshape(1, -1)))
            rhs.append(np.array([LP_STAGE_TOLERANCE]))
            continue
        res = linprog(objective, A_ub=vstack(blocks).tocsr(), b_ub=np.concatenate(rhs),
                      A_eq=a_eq if a_eq.shape[0] else None,
                      b_eq=b_eq if a_eq.shape[0] else None, bounds=bounds, method="highs")
        if res.status != 0:
            raise SolverError(f"monthly graded LP, stage {k + 1} ({name}): {res.message}")
        x = res.x
        z = float(objective @ x)
        values.append(z)
        # d z_k / d capacity: the bound's dual plus, through every earlier stage's fixing
        # row (right-hand side z_j + slack), its dual times d z_j / d capacity
        g = np.asarray(res.upper.marginals, float).copy()
        fix_duals = np.asarray(res.ineqlin.marginals, float)[n_base:]
        for j, y in enumerate(fix_duals):
            if y != 0.0:
                g += y * grads[j]
        grads.append(g)
        blocks.append(csr_matrix(objective.reshape(1, -1)))
        rhs.append(np.array([z + LP_STAGE_TOLERANCE * max(1.0, abs(z))]))
    return x, values, grads


def blends_by_month(dataset: Dataset, cand: Candidates, x: NDArray[np.float64],
                    grades: Grades) -> pd.DataFrame:
    """blends_monthly.csv: per blending limit and month in which the need receives
    something, `BLEND_COLUMNS` as in `blending.blend_frame` (the mass-weighted average of
    the attribute over what the need receives that month, against the limit), with a
    `month` column first. x: flows, arcs x 12, offer units."""
    needs, offers = dataset.needs, dataset.offers
    rule_key = np.array([r.key for r in cand.rules], dtype=object)[cand.rule] \
        if len(cand) else np.empty(0, dtype=object)
    live = x > 0
    offer_ids = offers.index.to_numpy(dtype=object)
    need_ids = needs.index.to_numpy(dtype=object)
    need_ent = needs["enterprise_id"].to_numpy(dtype=object)
    need_mat = needs["material"].to_numpy(dtype=object)
    values: dict[str, NDArray[np.float64]] = {}
    rows = []
    for lim in grades.limits:
        into = (cand.need == lim.need) & live.any(axis=1)
        if lim.rule_key is not None:
            into &= rule_key == lim.rule_key
        idx = np.flatnonzero(into)
        if not len(idx):
            continue
        flows = np.where(live[idx], x[idx], 0.0)
        qty = flows.sum(axis=0)
        col = f"q.{lim.attribute}"
        if col not in values:
            values[col] = offers[col].to_numpy(float) if col in offers \
                else np.full(len(offers), np.nan)
        v = values[col][cand.offer[idx]]
        with np.errstate(invalid="ignore", divide="ignore"):
            avg = (v @ flows) / qty
        for t in np.flatnonzero(qty > 0):
            got = np.flatnonzero(flows[:, t] > 0)
            rows.append({
                "month": int(t) + 1,
                "need_id": need_ids[lim.need],
                "need_enterprise_id": need_ent[lim.need],
                "need_material": need_mat[lim.need],
                "attribute": lim.attribute, "bound": lim.bound, "limit": lim.value,
                "average": float(avg[t]), "quantity": float(qty[t]),
                "offers": ";".join(f"{offer_ids[cand.offer[idx[j]]]}={flows[j, t]:g}"
                                   for j in got),
                "scope": "need" if lim.rule_key is None else lim.rule_key,
                "source": lim.source,
            })
    frame = pd.DataFrame(rows, columns=["month", *BLEND_COLUMNS])
    return frame.sort_values(["month"], kind="stable").reset_index(drop=True)


def merge_networks(lp_net: MonthlyNetwork, pure_net: MonthlyNetwork | None,
                   lp_arcs: NDArray[np.bool_], lp_nodes: NDArray[np.bool_],
                   lp_stores: NDArray[np.bool_]) -> MonthlyNetwork:
    """One network whose LP part is `lp_net`'s and the rest `pure_net`'s (the two are built
    over the same arcs in the same order; only the units of a pure need's nodes differ)."""
    if pure_net is None:
        return replace(lp_net, pure=False)
    s = lp_stores[:, None]
    return replace(
        lp_net,
        capacity=np.where(lp_arcs, lp_net.capacity, pure_net.capacity),
        gain=np.where(lp_arcs, lp_net.gain, pure_net.gain),
        supply=np.where(lp_nodes, lp_net.supply, pure_net.supply),
        fifo_used=np.where(s, lp_net.fifo_used, pure_net.fifo_used),
        fifo_left=np.where(s, lp_net.fifo_left, pure_net.fifo_left),
        cap_units=np.where(lp_stores, lp_net.cap_units, pure_net.cap_units),
        pure=False)

