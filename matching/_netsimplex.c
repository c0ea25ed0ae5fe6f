/* The pivot loop of matching/netsimplex.py, in C.
 *
 * The method, the arrays and their invariants are documented in netsimplex.py (module and
 * NetworkSimplex docstrings); this file is only the loop, compiled ahead of time so that a
 * solve pays no JIT start-up (numba's took 0.3-0.4 s, as long as OR-Tools' whole solve of
 * a 3,000-enterprise province). The Python wrapper checks every array's dtype, length and
 * contiguity and every node index before calling; the loop runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define LOWER 1
#define UPPER (-1)
#define TREE 0
#define INF_CAP ((int64_t)1 << 62)
#define OPTIMAL 0
#define UNBOUNDED 1
#define PIVOT_LIMIT 2

typedef struct {
    const int64_t *tail, *head, *cap, *cost;
    int64_t *flow;
    int8_t *state;
    int64_t *pi, *parent, *pred;
    uint8_t *up;
    int64_t *depth, *first_child, *next_sib, *prev_sib, *stem;
} Basis;

static void unlink_node(Basis *b, int64_t x) {
    int64_t p = b->parent[x];
    if (b->prev_sib[x] < 0)
        b->first_child[p] = b->next_sib[x];
    else
        b->next_sib[b->prev_sib[x]] = b->next_sib[x];
    if (b->next_sib[x] >= 0)
        b->prev_sib[b->next_sib[x]] = b->prev_sib[x];
    b->next_sib[x] = -1;
    b->prev_sib[x] = -1;
}

static void link_node(Basis *b, int64_t x, int64_t p) {
    int64_t first = b->first_child[p];
    b->next_sib[x] = first;
    b->prev_sib[x] = -1;
    if (first >= 0)
        b->prev_sib[first] = x;
    b->first_child[p] = x;
}

static int pivot_loop(Basis *b, int64_t n_arcs, int64_t search_from, int64_t *next_arc,
                      int64_t block, int64_t max_pivots, int64_t *pivots_out) {
    const int64_t *tail = b->tail, *head = b->head, *cap = b->cap, *cost = b->cost;
    int64_t *flow = b->flow, *pi = b->pi, *parent = b->parent, *pred = b->pred;
    int64_t *depth = b->depth;
    int8_t *state = b->state;
    uint8_t *up = b->up;
    int64_t n_search = n_arcs - search_from;
    int64_t pivots = 0;
    int64_t e = *next_arc;
    if (e < search_from || e >= n_arcs)
        e = search_from;
    while (pivots < max_pivots) {
        /* entering arc: block search */
        int64_t best = 0, entering = -1, left = block;
        for (int64_t i = 0; i < n_search; ++i) {
            int64_t c = (int64_t)state[e] * (cost[e] + pi[tail[e]] - pi[head[e]]);
            if (c < best) {
                best = c;
                entering = e;
            }
            if (++e == n_arcs)
                e = search_from;
            if (--left == 0) {
                if (entering >= 0)
                    break;
                left = block;
            }
        }
        if (entering < 0) {
            *next_arc = e;
            *pivots_out = pivots;
            return OPTIMAL;
        }
        ++pivots;
        /* apex of the cycle the entering arc closes */
        int64_t u = tail[entering], v = head[entering];
        while (u != v) {
            if (depth[u] > depth[v])
                u = parent[u];
            else if (depth[v] > depth[u])
                v = parent[v];
            else {
                u = parent[u];
                v = parent[v];
            }
        }
        int64_t apex = u;
        int64_t first, second;
        if (state[entering] == LOWER) {
            first = tail[entering];
            second = head[entering];
        } else {
            first = head[entering];
            second = tail[entering];
        }
        int64_t delta = cap[entering], out_node = -1;
        int side = 0;
        for (u = first; u != apex; u = parent[u]) { /* flow moves down: strict < */
            int64_t a = pred[u];
            int64_t d = up[u] ? flow[a] : cap[a] - flow[a];
            if (d < delta) {
                delta = d;
                out_node = u;
                side = 1;
            }
        }
        for (u = second; u != apex; u = parent[u]) { /* flow moves up: <= */
            int64_t a = pred[u];
            int64_t d = up[u] ? cap[a] - flow[a] : flow[a];
            if (d <= delta) {
                delta = d;
                out_node = u;
                side = 2;
            }
        }
        if (delta >= INF_CAP / 2) { /* only uncapacitated arcs block: a negative cycle */
            *next_arc = e;
            *pivots_out = pivots;
            return UNBOUNDED;
        }
        if (delta > 0) {
            int64_t val = (int64_t)state[entering] * delta;
            flow[entering] += val;
            for (u = tail[entering]; u != apex; u = parent[u])
                flow[pred[u]] += up[u] ? -val : val;
            for (u = head[entering]; u != apex; u = parent[u])
                flow[pred[u]] += up[u] ? val : -val;
        }
        if (side == 0) { /* the entering arc itself blocks: it moves to its other bound */
            state[entering] = (int8_t)(-state[entering]);
            continue;
        }
        int64_t leaving = pred[out_node];
        state[leaving] = flow[leaving] == 0 ? LOWER : UPPER;
        state[entering] = TREE;
        int64_t u_in = side == 1 ? first : second;
        int64_t v_in = side == 1 ? second : first;
        /* the stem: u_in, its parent, ..., out_node (the root of the cut subtree) */
        int64_t k = 0;
        for (u = u_in;; u = parent[u]) {
            b->stem[k] = u;
            if (u == out_node)
                break;
            ++k;
        }
        unlink_node(b, out_node);
        for (int64_t i = k; i > 0; --i) {
            int64_t s = b->stem[i], below = b->stem[i - 1];
            unlink_node(b, below);
            parent[s] = below;
            pred[s] = pred[below];
            up[s] = !up[below];
            link_node(b, s, below);
        }
        parent[u_in] = v_in;
        pred[u_in] = entering;
        up[u_in] = tail[entering] == u_in;
        link_node(b, u_in, v_in);
        /* potentials and depths of the re-hung subtree move together */
        int64_t rc = cost[entering] + pi[tail[entering]] - pi[head[entering]];
        int64_t sigma = u_in == tail[entering] ? -rc : rc;
        depth[u_in] = depth[v_in] + 1;
        pi[u_in] += sigma;
        int64_t x = u_in;
        for (;;) {
            int64_t c = b->first_child[x];
            if (c >= 0)
                x = c;
            else {
                while (x != u_in && b->next_sib[x] < 0)
                    x = parent[x];
                if (x == u_in)
                    break;
                x = b->next_sib[x];
            }
            depth[x] = depth[parent[x]] + 1;
            pi[x] += sigma;
        }
    }
    *next_arc = e;
    *pivots_out = pivots;
    return PIVOT_LIMIT;
}

/* pivot(tail, head, cap, cost, flow, state, pi, parent, pred, up, depth, first_child,
 *       next_sib, prev_sib, stem, search_from, next_arc, block, max_pivots)
 *   -> (status, pivots, next_arc)
 * Arc arrays: int64 (state int8); node arrays: int64 (up uint8/bool); C-contiguous. */
static PyObject *pivot(PyObject *self, PyObject *args) {
    Py_buffer buf[15];
    long long search_from, next_arc, block, max_pivots;
    memset(buf, 0, sizeof(buf));
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*w*w*w*w*w*w*w*w*LLLL", &buf[0], &buf[1],
                          &buf[2], &buf[3], &buf[4], &buf[5], &buf[6], &buf[7], &buf[8],
                          &buf[9], &buf[10], &buf[11], &buf[12], &buf[13], &buf[14],
                          &search_from, &next_arc, &block, &max_pivots))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_arcs = buf[0].len / 8, n_nodes = buf[6].len / 8;
    int ok = n_arcs >= 0 && buf[1].len == buf[0].len && buf[2].len == buf[0].len &&
             buf[3].len == buf[0].len && buf[4].len == buf[0].len && buf[5].len == n_arcs &&
             buf[7].len == buf[6].len && buf[8].len == buf[6].len && buf[9].len == n_nodes &&
             buf[10].len == buf[6].len && buf[11].len == buf[6].len &&
             buf[12].len == buf[6].len && buf[13].len == buf[6].len &&
             buf[14].len == buf[6].len && search_from >= 0 && search_from <= n_arcs &&
             block > 0 && max_pivots >= 0;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "pivot: array lengths or arguments disagree");
    } else {
        Basis b = {buf[0].buf, buf[1].buf, buf[2].buf, buf[3].buf, buf[4].buf, buf[5].buf,
                   buf[6].buf, buf[7].buf, buf[8].buf, buf[9].buf, buf[10].buf, buf[11].buf,
                   buf[12].buf, buf[13].buf, buf[14].buf};
        int64_t next = next_arc, pivots = 0;
        int status = OPTIMAL;
        if (search_from < n_arcs) {
            Py_BEGIN_ALLOW_THREADS
            status = pivot_loop(&b, n_arcs, search_from, &next, block, max_pivots, &pivots);
            Py_END_ALLOW_THREADS
        }
        result = Py_BuildValue("iLL", status, (long long)pivots, (long long)next);
    }
    for (int i = 0; i < 15; ++i)
        if (buf[i].obj != NULL)
            PyBuffer_Release(&buf[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"pivot", pivot, METH_VARARGS, "The network simplex pivot loop (see netsimplex.py)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_netsimplex",
                                    "Compiled pivot loop of matching.netsimplex.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__netsimplex(void) { return PyModule_Create(&module); }
