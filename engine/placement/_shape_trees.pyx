# cython: language_level=3
"""ShapeTrees: best_fit, worst_fit and dot_product decisions that stay O(log hosts) under churn.

Fleets have few host shapes (capacity vectors). Within one shape every policy's score is a
function of the host's free vector alone, and best_fit's and worst_fit's are its free score
(engine/_fixed_point.pxd: host_free_score, the "key") minus a constant of the shape and the
request. So the hosts of each shape are kept in a treap ordered by (key, host index), each node
holding the most free capacity per class and the lowest host index of its subtree:

- best_fit is the first host in that order that fits: an in-order search that skips every
  subtree whose most free capacity of some asked class is below the request. Ties go to the
  lowest index because the order breaks equal keys by index.
- worst_fit is the last fitting host's key K (the mirror search), then the first fitting host
  with key K (the lowest index among equal scores).
- dot_product's score weighs the classes by the request, so no one key orders it: its treaps
  are ordered by the Morton code of the free fractions (hosts with alike free vectors are
  near), and a decision is a branch and bound, the child of higher bound first: a subtree is
  skipped when the score of its most free capacity per class (the score grows with free
  capacity) cannot beat the best host found, or ties it with no lower host index.

Across shapes the best (score, host) wins; a shape's search stops at the keys that cannot beat
the best so far. A treap node is the host itself, so the index costs a few words per host; its
priorities are a hash of the host index, so its form depends only on the fleet's state, never
on the order of events. Cost per allocation or release: one treap erase and insert,
O(log hosts), deferred while the host is one of the few "dirty" ones (see the .pxd). Why not
bounds over hosts in index order: once churn leaves holes everywhere, every subtree of an
index-ordered tree holds both nearly full hosts and holes, and its bounds prune nothing;
ordered by key, a subtree's hosts are alike.
"""

import numpy as np

from libc.stdint cimport INT64_MAX, INT64_MIN

from vmsched.engine.placement._fixed_point cimport (
    dot_term_by_inverse,
    host_free_score,
    int128,
    request_score,
)
from vmsched.engine.state._fleet cimport FleetState, asked_fits
from vmsched.engine._types cimport amount_t, index_t

from vmsched.engine import dtypes

cdef extern from *:
    """
    static inline unsigned long long vmsched_treap_priority(long long host) {
        /* splitmix64 of the host index: distinct hosts get distinct priorities. */
        unsigned long long z = (unsigned long long)host * 0x9E3779B97F4A7C15ULL
                               + 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    static inline unsigned long long vmsched_spread_by_2(unsigned long long x) {
        /* bit b of x (b < 32) to bit 2b */
        x &= 0xFFFFFFFFULL;
        x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
        x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
        x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
        x = (x | (x << 2)) & 0x3333333333333333ULL;
        return (x | (x << 1)) & 0x5555555555555555ULL;
    }
    static inline unsigned long long vmsched_spread_by_3(unsigned long long x) {
        /* bit b of x (b < 21) to bit 3b */
        x &= 0x1FFFFFULL;
        x = (x | (x << 32)) & 0x1F00000000FFFFULL;
        x = (x | (x << 16)) & 0x1F0000FF0000FFULL;
        x = (x | (x << 8)) & 0x100F00F00F00F00FULL;
        x = (x | (x << 4)) & 0x10C30C30C30C30C3ULL;
        return (x | (x << 2)) & 0x1249249249249249ULL;
    }
    """
    unsigned long long priority "vmsched_treap_priority"(long long host) nogil
    unsigned long long spread_by_2 "vmsched_spread_by_2"(unsigned long long x) nogil
    unsigned long long spread_by_3 "vmsched_spread_by_3"(unsigned long long x) nogil
    void prefetch "__builtin_prefetch"(const void* address) nogil

cdef Py_ssize_t NO_BEST = INT64_MAX

# Word offsets in a host's record (see _shape_trees.pxd).
cdef enum:
    KEY = 0
    LINKS = 1    # two index_t: left, right
    INFO = 2     # two index_t: min_host, shape | DIRTY | RANK
    FREE = 3     # n_resources amounts: max_free
    DIRTY = 1 << 16
    RANK_SHIFT = 17    # the top 14 bits of the host's priority, so that comparing priorities
                       # mostly reads the records at hand instead of hashing (see _outranks)


cdef inline index_t rank(Py_ssize_t host) noexcept nogil:
    """The top 14 bits of host's priority, in place in a record's INFO word."""
    return <index_t>(priority(host) >> 50) << RANK_SHIFT


cdef class ShapeTrees:
    """Per-shape treaps over the hosts of `fleet`, ordered by free score (best_fit, worst_fit)
    or, by_space, by free vector (dot_product); call rebuild() before use."""

    def __init__(self, FleetState fleet, bint by_space=False):
        self.fleet = fleet
        self.by_space = by_space
        self.n_resources = fleet.n_resources
        # (by space, one more word: the most free fraction summed over classes, SUM)
        self._stride = FREE + self.n_resources + (1 if by_space else 0)
        self._nodes = np.zeros(max(fleet.n_hosts, 1) * self._stride, dtypes.AMOUNT)
        self._base = &self._nodes[0]
        self._root = np.full(MAX_SHAPES, -1, dtypes.INDEX)
        self._capacity = np.zeros((MAX_SHAPES, self.n_resources), dtypes.AMOUNT)
        self._inverse = np.zeros((MAX_SHAPES, self.n_resources), np.float64)
        self._part = np.zeros(self.n_resources, dtypes.AMOUNT)
        self._dot_weight = np.zeros(self.n_resources, np.float64)
        self._rest_weight = np.zeros(self.n_resources, np.float64)
        self._quantised = np.zeros(self.n_resources, dtypes.AMOUNT)
        self._dirty = np.zeros(MAX_DIRTY, dtypes.INDEX)
        self._dirty_key = np.zeros(MAX_DIRTY, dtypes.AMOUNT)
        self._path = np.zeros(max(fleet.n_hosts, 1) + 1, dtypes.INDEX)
        self._path_base = &self._path[0]
        self._need = np.zeros(max(self.n_resources, 1), dtypes.AMOUNT)
        self._need_base = &self._need[0]

    cdef amount_t* _record(self, Py_ssize_t node) noexcept nogil:
        return self._base + node * self._stride

    cdef void _prefetch_children(self, Py_ssize_t node) noexcept nogil:
        """Ask the cache for node's children's records (a walk is bound by memory latency)."""
        cdef index_t* links = self._links(node)
        if links[0] >= 0:
            prefetch(self._record(links[0]))
        if links[1] >= 0:
            prefetch(self._record(links[1]))

    cdef index_t* _links(self, Py_ssize_t node) noexcept nogil:
        """[left, right] of node."""
        return <index_t*>(self._base + node * self._stride + LINKS)

    cdef amount_t _key(self, Py_ssize_t node) noexcept nogil:
        return self._base[node * self._stride + KEY]

    cdef Py_ssize_t _shape(self, Py_ssize_t node) noexcept nogil:
        return (<index_t*>(self._base + node * self._stride + INFO))[1] & (DIRTY - 1)

    cdef bint _is_dirty(self, Py_ssize_t node) noexcept nogil:
        return ((<index_t*>(self._base + node * self._stride + INFO))[1] & DIRTY) != 0

    cdef bint _outranks(self, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
        """priority(a) > priority(b): by the ranks in the records, hashing only on a tie."""
        cdef index_t rank_a = (<index_t*>(self._base + a * self._stride + INFO))[1] >> RANK_SHIFT
        cdef index_t rank_b = (<index_t*>(self._base + b * self._stride + INFO))[1] >> RANK_SHIFT
        if rank_a != rank_b:
            return rank_a > rank_b
        return priority(a) > priority(b)

    # ------------------------------------------------------------ maintenance

    cdef bint rebuild(self) except -1:
        """Rebuild every treap from the fleet (needs the GIL); False, leaving the trees unusable,
        when the fleet has more than MAX_SHAPES shapes."""
        cdef Py_ssize_t n = self.fleet.n_hosts, h, i, j, top, x, last, s
        capacity = np.asarray(self.fleet._free) + np.asarray(self.fleet._used)
        shapes, inverse = np.unique(capacity, axis=0, return_inverse=True)
        if len(shapes) > MAX_SHAPES:
            self.n_shapes = 0
            return False
        self.n_shapes = len(shapes)
        self.n_dirty = 0
        np.asarray(self._capacity)[:self.n_shapes] = shapes
        with np.errstate(divide="ignore"):
            np.asarray(self._inverse)[:self.n_shapes] = np.where(shapes > 0, 1.0 / shapes, 0.0)
        np.asarray(self._root)[:] = -1
        cdef const index_t[::1] shape_of = inverse.reshape(-1).astype(dtypes.INDEX)
        keys = np.empty(n, dtypes.AMOUNT)
        cdef amount_t[::1] key = keys
        with nogil:
            for h in range(n):
                key[h] = self._order_key(h, shape_of[h])
                self._record(h)[KEY] = key[h]
                (<index_t*>(self._record(h) + INFO))[1] = shape_of[h] | rank(h)
        cdef Py_ssize_t[::1] order = np.lexsort(
            (np.arange(n), keys, np.asarray(shape_of))).astype(np.intp)
        cdef Py_ssize_t[::1] stack = np.empty(max(n, 1), np.intp)
        with nogil:
            # Each shape's hosts in (key, host) order make a Cartesian tree on priorities.
            i = 0
            while i < n:
                s = shape_of[order[i]]
                top = 0
                j = i
                while j < n and shape_of[order[j]] == s:
                    x = order[j]
                    self._links(x)[1] = -1
                    last = -1
                    while top > 0 and priority(stack[top - 1]) < priority(x):
                        top -= 1
                        last = stack[top]
                    self._links(x)[0] = <index_t>last
                    if top > 0:
                        self._links(stack[top - 1])[1] = <index_t>x
                    stack[top] = x
                    top += 1
                    j += 1
                self._root[s] = <index_t>self._pull_all(stack[0])
                i = j
        return True

    cdef Py_ssize_t _shape_of(self, index_t host) noexcept nogil:
        """The shape of host's capacity now (added if new), or -1 when the table is full."""
        cdef Py_ssize_t s, r, k, n_res = self.n_resources
        cdef const amount_t* free = &self.fleet._free[host, 0]
        cdef const amount_t* used = &self.fleet._used[host, 0]
        for k in range(-1, self.n_shapes):      # its current shape first: the usual answer
            s = self._shape(host) if k < 0 else k
            for r in range(n_res):
                if self._capacity[s, r] != free[r] + used[r]:
                    break
            else:
                return s
        if self.n_shapes == MAX_SHAPES:
            return -1
        s = self.n_shapes
        for r in range(n_res):
            self._capacity[s, r] = free[r] + used[r]
            self._inverse[s, r] = 1.0 / self._capacity[s, r] if self._capacity[s, r] > 0 else 0.0
        self._root[s] = -1
        self.n_shapes += 1
        return s

    cdef amount_t _order_key(self, Py_ssize_t host, Py_ssize_t shape) noexcept nogil:
        """The host's place in its treap: host_free_score; or, by space, the Morton code of its
        free fraction per class with capacity (each quantised to 63 // classes bits), so that
        hosts with alike free vectors are near and a subtree's most free capacity per class
        bounds its scores tightly. (Only the order depends on it; decisions stay exact.)"""
        cdef const amount_t* free = &self.fleet._free[host, 0]
        cdef Py_ssize_t r, n_dims = 0, bits, b
        cdef amount_t capacity, amount, code = 0
        if not self.by_space:
            return host_free_score(free, &self.fleet._used[host, 0], self.n_resources)
        for r in range(self.n_resources):
            if self._capacity[shape, r] > 0:
                n_dims += 1
        if n_dims == 0:
            return 0
        bits = min(63 // n_dims, 32)
        for r in range(self.n_resources):
            capacity = self._capacity[shape, r]
            if capacity > 0:
                amount = min(max(free[r], 0), capacity)
                self._quantised[r] = <amount_t>(
                    (<int128>amount * ((<amount_t>1 << bits) - 1)) / capacity)
        if n_dims == 3 or n_dims == 2:
            # The same interleaving as the loop below, by spreading each class's bits.
            b = 0
            for r in range(self.n_resources - 1, -1, -1):
                if self._capacity[shape, r] > 0:
                    code |= <amount_t>((spread_by_3(self._quantised[r]) if n_dims == 3
                                        else spread_by_2(self._quantised[r])) << b)
                    b += 1
            return code
        for b in range(bits - 1, -1, -1):
            for r in range(self.n_resources):
                if self._capacity[shape, r] > 0:
                    code = (code << 1) | ((self._quantised[r] >> b) & 1)
        return code

    cdef bint update(self, index_t host, bint allocation) noexcept nogil:
        """Follow a change of host's free capacity or inventory (`allocation`: an allocation,
        so its capacity is the same); False (nothing changed) when its new capacity would be
        one shape too many. A host whose shape stays is only marked dirty; one that changes
        shape moves to its new treap at once."""
        cdef Py_ssize_t i, shape = self._shape(host)
        if not allocation:
            shape = self._shape_of(host)
            if shape < 0:
                return False
        if shape == self._shape(host):        # stays dirty until a flush
            for i in range(self.n_dirty):
                if self._dirty[i] == host:
                    self._dirty_key[i] = self._order_key(host, shape)
                    return True
            if self.n_dirty == MAX_DIRTY:
                self.flush()
            (<index_t*>(self._record(host) + INFO))[1] |= DIRTY
            self._dirty[self.n_dirty] = host
            self._dirty_key[self.n_dirty] = self._order_key(host, shape)
            self.n_dirty += 1
            return True
        if self._is_dirty(host):
            for i in range(self.n_dirty):
                if self._dirty[i] == host:
                    self.n_dirty -= 1
                    self._dirty[i] = self._dirty[self.n_dirty]
                    self._dirty_key[i] = self._dirty_key[self.n_dirty]
                    break
        self._place(host, shape, self._order_key(host, shape))
        return True

    cdef void flush(self) noexcept nogil:
        """Move every dirty host to its place."""
        cdef Py_ssize_t i
        for i in range(self.n_dirty):
            self._place(self._dirty[i], self._shape(self._dirty[i]), self._dirty_key[i])
        self.n_dirty = 0

    cdef void _place(self, index_t host, Py_ssize_t shape, amount_t key) noexcept nogil:
        """Move host (clean after) from where it is to `key` in the treap of `shape`.

        Summaries are recomputed (_pull: from a node's own free capacity now and its children's
        summaries) bottom up on every path an erase, insert, split or merge changes, each
        stopping at the first node whose summaries come out unchanged. So every node's summaries
        are always those of its own free capacity at its last recomputation and of its
        children's summaries now; a node's free capacity changes without a recomputation only
        while it is dirty, and it is recomputed when moved. After a flush, every summary is
        exact (check() verifies it)."""
        cdef index_t* info = <index_t*>(self._record(host) + INFO)
        cdef Py_ssize_t old = self._shape(host)
        info[1] = <index_t>shape | rank(host)   # (clean)
        if shape == old and key == self._key(host):
            self._touch(self._root[old], host)
            return
        self._root[old] = <index_t>self._erase(self._root[old], host)
        self._record(host)[KEY] = key
        self._links(host)[0] = self._links(host)[1] = -1
        self._pull(host)
        self._root[shape] = <index_t>self._insert(self._root[shape], host)

    cdef bint _before(self, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
        """(key, host) of a < that of b: the treaps' order."""
        cdef amount_t key_a = self._key(a), key_b = self._key(b)
        return key_a < key_b or (key_a == key_b and a < b)

    cdef bint _pull(self, Py_ssize_t node) noexcept nogil:
        """Recompute node's summaries from its own free capacity and its children's; True if
        they changed."""
        cdef amount_t* record = self._record(node)
        cdef index_t* links = <index_t*>(record + LINKS)
        cdef index_t* info = <index_t*>(record + INFO)
        cdef const amount_t* own = &self.fleet._free[node, 0]
        cdef amount_t* left = self._record(links[0]) if links[0] >= 0 else NULL
        cdef amount_t* right = self._record(links[1]) if links[1] >= 0 else NULL
        cdef Py_ssize_t r
        cdef amount_t most
        cdef index_t lowest = <index_t>node
        cdef bint changed = False
        for r in range(self.n_resources):
            most = own[r]
            if left != NULL:
                most = max(most, left[FREE + r])
            if right != NULL:
                most = max(most, right[FREE + r])
            changed |= most != record[FREE + r]
            record[FREE + r] = most
        if left != NULL:
            lowest = min(lowest, (<index_t*>(left + INFO))[0])
        if right != NULL:
            lowest = min(lowest, (<index_t*>(right + INFO))[0])
        changed |= lowest != info[0]
        info[0] = lowest
        if self.by_space:
            most = self._free_fraction_sum(own, info[1] & (DIRTY - 1))
            if left != NULL:
                most = max(most, left[self._stride - 1])
            if right != NULL:
                most = max(most, right[self._stride - 1])
            changed |= most != record[self._stride - 1]
            record[self._stride - 1] = most
        return changed

    cdef amount_t _free_fraction_sum(self, const amount_t* free, Py_ssize_t shape) noexcept nogil:
        """A host's free fractions (free / capacity of its shape) summed over classes, in units
        of 2**-32, rounded up: at least the exact sum (the doubles' error is below 2**-17
        units; +2 covers it and the truncation), and no division. A host far over capacity
        (after an inventory shrank) counts at least -1 per class, so the integer cannot
        overflow; a higher value is still an upper bound."""
        cdef const double* inverse = &self._inverse[shape, 0]
        cdef Py_ssize_t r
        cdef double total = 0.0
        for r in range(self.n_resources):
            total += <double>free[r] * inverse[r]      # (inverse 0 without capacity)
        total = max(total, -<double>self.n_resources)
        return <amount_t>(total * 4294967296.0) + 2

    def free_fraction_sum(self, Py_ssize_t host):
        """_free_fraction_sum of host's free capacity now (tests)."""
        if not 0 <= host < self.fleet.n_hosts:
            raise IndexError(f"host {host} is not in the fleet (0 .. {self.fleet.n_hosts - 1})")
        return self._free_fraction_sum(&self.fleet._free[host, 0], self._shape(host))

    cdef Py_ssize_t _pull_all(self, Py_ssize_t node) noexcept nogil:
        if node >= 0:
            self._pull_all(self._links(node)[0])
            self._pull_all(self._links(node)[1])
            self._pull(node)
        return node

    cdef void _pull_path(self, Py_ssize_t depth) noexcept nogil:
        """Recompute the summaries of _path[depth - 1], ..., _path[0] (a path from a changed
        node's parent up to the root), bottom up, while they change."""
        while depth > 0:
            depth -= 1
            if not self._pull(self._path_base[depth]):
                return

    cdef index_t* _descend(self, index_t* link, Py_ssize_t node, bint to_place,
                           Py_ssize_t* depth) noexcept nogil:
        """Walk from the subtree that *link leads to towards node in (key, host) order,
        keeping every node passed on _path (depth[0] of them): down to node itself or, if
        to_place, to where node belongs (the first node it outranks, or an empty link).
        Returns the link that leads there."""
        cdef Py_ssize_t at = link[0]
        cdef index_t* links
        depth[0] = 0
        while at >= 0 and at != node and not (to_place and self._outranks(node, at)):
            self._path_base[depth[0]] = <index_t>at
            depth[0] += 1
            self._prefetch_children(at)
            links = self._links(at)
            link = &links[0] if self._before(node, at) else &links[1]
            at = link[0]
        return link

    cdef Py_ssize_t _insert(self, Py_ssize_t tree, Py_ssize_t node) noexcept nogil:
        """Insert the lone node (summaries pulled) into tree; returns the new root. Down the
        path to node's place (the first node it outranks), split what hangs there around node,
        then recompute the summaries up the path while they change (recomputed, not widened
        by node's: the split may have recomputed a dirty host with less free capacity than
        they held)."""
        cdef index_t root = <index_t>tree
        cdef Py_ssize_t depth, below, above
        cdef index_t* link = self._descend(&root, node, True, &depth)
        cdef index_t* links
        self._split(link[0], node, &below, &above)
        links = self._links(node)
        links[0], links[1] = <index_t>below, <index_t>above
        self._pull(node)
        link[0] = <index_t>node
        self._pull_path(depth)
        return root

    cdef void _split(self, Py_ssize_t tree, Py_ssize_t node, Py_ssize_t* below,
                     Py_ssize_t* above) noexcept nogil:
        """Cut tree into the nodes before `node` and the rest."""
        cdef Py_ssize_t low, high
        cdef index_t* links
        if tree < 0:
            below[0] = above[0] = -1
            return
        links = self._links(tree)
        if self._before(tree, node):
            self._split(links[1], node, &low, &high)
            links[1] = <index_t>low
            self._pull(tree)
            below[0], above[0] = tree, high
        else:
            self._split(links[0], node, &low, &high)
            links[0] = <index_t>high
            self._pull(tree)
            below[0], above[0] = low, tree

    cdef Py_ssize_t _erase(self, Py_ssize_t tree, Py_ssize_t node) noexcept nogil:
        """Remove node (at its stored key) from tree; returns the new root. Its children merge
        in its place; the summaries up the path are recomputed while they change."""
        cdef index_t root = <index_t>tree
        cdef Py_ssize_t depth
        cdef index_t* link = self._descend(&root, node, False, &depth)
        cdef index_t* links = self._links(node)
        link[0] = <index_t>self._merge(links[0], links[1])
        self._pull_path(depth)
        return root

    cdef Py_ssize_t _merge(self, Py_ssize_t below, Py_ssize_t above) noexcept nogil:
        """Join two treaps, every node of `below` before every node of `above`."""
        cdef index_t* links
        if below < 0:
            return above
        if above < 0:
            return below
        if self._outranks(below, above):
            links = self._links(below)
            links[1] = <index_t>self._merge(links[1], above)
            self._pull(below)
            return below
        links = self._links(above)
        links[0] = <index_t>self._merge(below, links[0])
        self._pull(above)
        return above

    cdef void _touch(self, Py_ssize_t tree, Py_ssize_t node) noexcept nogil:
        """node's free capacity changed but not its key: refresh the summaries on the path
        down to it, bottom up while they change."""
        cdef index_t root = <index_t>tree
        cdef Py_ssize_t depth
        self._descend(&root, node, False, &depth)
        if self._pull(node):
            self._pull_path(depth)

    # ------------------------------------------------------------ decisions

    cdef void _begin(self, const amount_t* request, const Py_ssize_t* asked,
                     Py_ssize_t n_asked, bint units_everywhere) noexcept nogil:
        cdef Py_ssize_t i, r
        self._request, self._asked, self._n_asked = request, asked, n_asked
        self._units_everywhere = units_everywhere
        for r in range(self.n_resources):
            self._need_base[r] = INT64_MIN
        for i in range(n_asked):
            self._need_base[asked[i]] = request[asked[i]]

    cdef bint _hopeless(self, Py_ssize_t node) noexcept nogil:
        """No host in node's subtree has enough free capacity of some asked class."""
        cdef const amount_t* max_free = self._record(node) + FREE
        cdef Py_ssize_t r
        for r in range(self.n_resources):     # (every class: an unasked one needs INT64_MIN)
            if max_free[r] < self._need_base[r]:
                return True
        return False

    cdef bint _fits(self, Py_ssize_t host) noexcept nogil:
        """Whether host fits the request (a dirty host is checked on its own, not here)."""
        cdef const amount_t* free
        cdef Py_ssize_t r
        if self._is_dirty(host):
            return False
        if not self._units_everywhere:
            return asked_fits(self.fleet, host, self._request, self._asked, self._n_asked, False)
        free = &self.fleet._free[host, 0]     # only free capacity to check (asked_fits)
        for r in range(self.n_resources):
            if free[r] < self._need_base[r]:
                return False
        return True

    cdef bint _in_play(self, Py_ssize_t shape) noexcept nogil:
        """Whether a host of `shape` may fit: its treap's summaries say so, or a dirty host of
        that shape fits (a dirty host's free capacity may be above what the summaries hold)."""
        cdef Py_ssize_t i, host
        if self._root[shape] >= 0 and not self._hopeless(self._root[shape]):
            return True
        for i in range(self.n_dirty):
            if self._dirty_fitting(i, shape) >= 0:
                return True
        return False

    cdef Py_ssize_t _dirty_fitting(self, Py_ssize_t i, Py_ssize_t shape) noexcept nogil:
        """The i-th dirty host if it has `shape` and fits the request now, else -1."""
        cdef Py_ssize_t host = self._dirty[i]
        if self._shape(host) == shape and asked_fits(self.fleet, host, self._request,
                                                     self._asked, self._n_asked,
                                                     self._units_everywhere):
            return host
        return -1

    cdef amount_t _shape_request_score(self, Py_ssize_t shape) noexcept nogil:
        """sum over asked classes of request_score(amount, the shape's capacity)."""
        cdef Py_ssize_t i, r
        cdef amount_t total = 0
        for i in range(self._n_asked):
            r = self._asked[i]
            total += request_score(self._request[r], self._capacity[shape, r])
        return total

    cdef Py_ssize_t _first_fitting(self, Py_ssize_t tree, amount_t low_key,
                                   amount_t high_key) noexcept nogil:
        """The first host of tree in (key, host) order with low_key <= key <= high_key that
        fits, or -1: an in-order walk that keeps on _path the nodes whose left subtree it is
        searching, passes over subtrees where no host fits (summaries) and nodes with keys
        below low_key with their left subtrees, and stops at the first key above high_key."""
        cdef Py_ssize_t node = tree, depth = 0
        while True:
            while node >= 0:                   # down node's subtree, leftmost first
                self.nodes_visited += 1
                self._prefetch_children(node)
                if self._hopeless(node):
                    break
                if self._key(node) < low_key:  # node and its left subtree are below low_key
                    node = self._links(node)[1]
                    continue
                self._path_base[depth] = <index_t>node
                depth += 1
                node = self._links(node)[0]
            if depth == 0:
                return -1
            depth -= 1                         # nothing fits left of it: the node itself
            node = self._path_base[depth]
            if self._key(node) > high_key:     # so is everything after it
                return -1
            if self._fits(node):
                return node
            node = self._links(node)[1]

    cdef Py_ssize_t _last_fitting(self, Py_ssize_t tree, amount_t low_key) noexcept nogil:
        """The last host of tree in (key, host) order with key >= low_key that fits, or -1
        (the mirror of _first_fitting's walk)."""
        cdef Py_ssize_t node = tree, depth = 0
        while True:
            while node >= 0:                   # down node's subtree, rightmost first
                self.nodes_visited += 1
                self._prefetch_children(node)
                if self._hopeless(node):
                    break
                if self._key(node) < low_key:
                    node = self._links(node)[1]
                    continue
                self._path_base[depth] = <index_t>node
                depth += 1
                node = self._links(node)[1]
            if depth == 0:
                return -1
            depth -= 1
            node = self._path_base[depth]
            if self._fits(node):
                return node
            node = self._links(node)[0]

    cdef index_t best_fit(self, const amount_t* request, const Py_ssize_t* asked,
                          Py_ssize_t n_asked, bint units_everywhere) noexcept nogil:
        """The fitting host with the least (key - request score, host), or -1."""
        cdef Py_ssize_t s, i, host, best_host = NO_BEST
        cdef amount_t asked_score, cost, best_cost = INT64_MAX, high
        self._begin(request, asked, n_asked, units_everywhere)
        for s in range(self.n_shapes):
            if not self._in_play(s):
                continue
            asked_score = self._shape_request_score(s)
            # The dirty hosts first: in a fill they are the likely answer, and they bound the
            # search.
            for i in range(self.n_dirty):
                host = self._dirty_fitting(i, s)
                if host >= 0:
                    cost = self._dirty_key[i] - asked_score
                    if cost < best_cost or (cost == best_cost and host < best_host):
                        best_cost, best_host = cost, host
            high = INT64_MAX if best_cost == INT64_MAX else best_cost + asked_score
            host = self._first_fitting(self._root[s], INT64_MIN, high)
            if host >= 0:
                cost = self._key(host) - asked_score
                if cost < best_cost or (cost == best_cost and host < best_host):
                    best_cost, best_host = cost, host
        return -1 if best_host == NO_BEST else <index_t>best_host

    cdef index_t worst_fit(self, const amount_t* request, const Py_ssize_t* asked,
                           Py_ssize_t n_asked, bint units_everywhere) noexcept nogil:
        """The fitting host with the least (request score - key, host), or -1."""
        cdef Py_ssize_t s, i, host, best_host = NO_BEST
        cdef amount_t asked_score, cost, best_cost = INT64_MAX, low, key
        self._begin(request, asked, n_asked, units_everywhere)
        for s in range(self.n_shapes):
            if not self._in_play(s):
                continue
            asked_score = self._shape_request_score(s)
            for i in range(self.n_dirty):      # (first, as in best_fit)
                host = self._dirty_fitting(i, s)
                if host >= 0:
                    cost = asked_score - self._dirty_key[i]
                    if cost < best_cost or (cost == best_cost and host < best_host):
                        best_cost, best_host = cost, host
            low = INT64_MIN if best_cost == INT64_MAX else asked_score - best_cost
            host = self._last_fitting(self._root[s], low)
            if host >= 0:
                # The lowest index among the fitting hosts with that key.
                key = self._key(host)
                host = self._first_fitting(self._root[s], key, key)
                cost = asked_score - key
                if cost < best_cost or (cost == best_cost and host < best_host):
                    best_cost, best_host = cost, host
        return -1 if best_host == NO_BEST else <index_t>best_host

    # dot_product: a branch and bound. Per decision and shape, _part holds each asked class's
    # request_score and _dot_weight its _part / capacity (0.0 for classes not asked), so that
    # a free vector's score before the floors is one multiply-add per class.

    cdef double _dot_estimate(self, const amount_t* free) noexcept nogil:
        """sum over classes of _dot_weight * free: dot_product_score of that free vector (a
        host's, or a subtree's most free capacity: its bound) before each term's floor, in
        floating point. The exact integer lies in (estimate - n_asked - e, estimate + e] with
        e = _dot_slack(estimate)."""
        cdef const double* weight = &self._dot_weight[0]
        cdef Py_ssize_t r
        cdef double estimate = 0.0
        for r in range(self.n_resources):
            estimate += weight[r] * <double>free[r]
        return estimate

    cdef double _dot_slack(self, double estimate) noexcept nogil:
        """A bound of the rounding error of _dot_estimate (one unit, plus 2**-40 relative:
        products and sums of doubles are off by a few 2**-53 of their magnitude)."""
        return 1.0 + (estimate if estimate > 0 else -estimate) * 9.094947017729282e-13

    cdef amount_t _dot_exact(self, const amount_t* free, Py_ssize_t shape) noexcept nogil:
        """dot_product_score of that free vector on a host of `shape` (_part set for it): a
        host's score, or, for a subtree's most free capacity, an upper bound of its hosts'
        (the score grows with free capacity)."""
        cdef const amount_t* capacity = &self._capacity[shape, 0]
        cdef const double* inverse = &self._inverse[shape, 0]
        cdef const amount_t* part = &self._part[0]
        cdef Py_ssize_t i, r
        cdef amount_t score = 0
        for i in range(self._n_asked):
            r = self._asked[i]
            score += dot_term_by_inverse(part[r], free[r], capacity[r], inverse[r])
        return score

    cdef double _dot_bound_estimate(self, Py_ssize_t node) noexcept nogil:
        """An upper bound of the scores of node's subtree before the floors, within the error
        of _dot_estimate (-1 when there is no node or no host of its subtree has enough of
        some asked class): _dot_estimate of its most free capacity per class or, when that is
        lower (_sum_weight > 0), the bound that also uses its most free fraction summed over
        classes (see dot_product)."""
        cdef const amount_t* max_free
        cdef const amount_t* need = self._need_base
        cdef const double* weight = &self._dot_weight[0]
        cdef const double* rest_weight = &self._rest_weight[0]
        cdef Py_ssize_t r
        cdef double estimate = 0.0, rest = 0.0
        if node < 0:
            return -1.0
        max_free = self._record(node) + FREE
        for r in range(self.n_resources):   # (an unasked class needs INT64_MIN, weighs 0)
            if max_free[r] < need[r]:
                return -1.0
            estimate += weight[r] * <double>max_free[r]
            rest += rest_weight[r] * <double>max_free[r]
        if self._sum_weight > 0:
            rest += self._sum_weight * <double>self._record(node)[self._stride - 1]
            if rest < estimate:
                estimate = rest
        return estimate

    cdef bint _dot_worth(self, Py_ssize_t node, Py_ssize_t shape, double estimate) noexcept nogil:
        """Whether node's subtree, of that bound estimate (-1: no node, or none of its hosts
        fits), could hold a host whose (score, -host) beats the best so far: decided by the
        estimate unless it is within its error of the best score, then by the exact bound
        (ties go to the subtree only if it holds a lower host index)."""
        cdef double slack, best = <double>self._best_score
        cdef amount_t bound
        if estimate < 0:
            return False
        slack = self._dot_slack(estimate)
        if estimate + slack < best:
            return False
        if estimate - self._n_asked - slack > best:
            return True
        if self._same_as_best(self._record(node) + FREE, shape):   # (a tie: the usual case)
            bound = self._best_score
        else:
            bound = self._dot_exact(self._record(node) + FREE, shape)
        return bound > self._best_score or (
            bound == self._best_score and
            (<index_t*>(self._record(node) + INFO))[0] < self._best_host)

    cdef bint _same_as_best(self, const amount_t* free, Py_ssize_t shape) noexcept nogil:
        """Whether that free vector, on a host of `shape`, is the best host's so far (so it
        scores the same: a score depends on the free vector and the shape's capacity)."""
        cdef const amount_t* best
        cdef Py_ssize_t r
        if self._best_host == NO_BEST or self._shape(self._best_host) != shape:
            return False
        best = &self.fleet._free[self._best_host, 0]
        for r in range(self.n_resources):
            if free[r] != best[r]:
                return False
        return True

    cdef void _dot_consider(self, Py_ssize_t host, Py_ssize_t shape) noexcept nogil:
        """Keep host (fitting) if its (score, -host) beats the best so far; its exact score is
        computed only when its estimate does not already say it scores lower."""
        cdef const amount_t* free = &self.fleet._free[host, 0]
        cdef amount_t score
        cdef double estimate = self._dot_estimate(free)
        if estimate + self._dot_slack(estimate) < <double>self._best_score:
            return
        if self._same_as_best(free, shape):
            if host < self._best_host:
                self._best_host = host
            return
        score = self._dot_exact(free, shape)
        if score > self._best_score or (score == self._best_score and host < self._best_host):
            self._best_score, self._best_host = score, host

    cdef void _dot_search(self, Py_ssize_t root, Py_ssize_t shape) noexcept nogil:
        """Branch and bound over the treap below root (worth searching), updating
        (_best_score, _best_host): depth first, each node itself, then its children, the one
        of higher bound estimate first (ties: the left, lower keys and indices), the other
        waiting on _path and checked again against the best when its turn comes. Which child
        goes first changes the work, not the answer: the greatest (score, -host)."""
        cdef index_t* pending = self._path_base     # a node is pending at most once
        cdef Py_ssize_t top = 0, node = root, first, second
        cdef double first_bound, second_bound
        cdef index_t* links
        while True:
            self.nodes_visited += 1
            self._prefetch_children(node)
            links = self._links(node)
            if self._fits(node):
                self._dot_consider(node, shape)
            first, second = links[0], links[1]
            first_bound = self._dot_bound_estimate(first)
            second_bound = self._dot_bound_estimate(second)
            if second_bound > first_bound:
                first, second = second, first
                first_bound, second_bound = second_bound, first_bound
            if second_bound >= 0 and (second_bound + self._dot_slack(second_bound)
                                      >= <double>self._best_score):
                pending[top] = <index_t>second
                top += 1
            if self._dot_worth(first, shape, first_bound):
                node = first
                continue
            node = -1
            while top > 0:
                top -= 1
                if self._dot_worth(pending[top], shape,
                                   self._dot_bound_estimate(pending[top])):
                    node = pending[top]
                    break
            if node < 0:
                return

    cdef void _set_sum_bound(self, Py_ssize_t shape) noexcept nogil:
        """Set up the second bound of _dot_bound_estimate for this request and shape. A host's
        score is at most sum_r part_r f_r (f_r: its free fraction of class r) = p f_sum +
        sum_r (part_r - p) f_r for p = the least part_r; a subtree's hosts have f_sum at most
        its SUM * 2**-32 and each f_r at most its max_free_r / capacity_r.
        Where hosts are alike in free score but not in free vector (a fleet filled evenly),
        this bounds a subtree more tightly than max_free alone. Only when the request asks for
        every class the shape has (else p = 0 and the bound is max_free's)."""
        cdef const amount_t* capacity = &self._capacity[shape, 0]
        cdef Py_ssize_t i, r
        cdef amount_t least = INT64_MAX
        cdef bint all_asked = True
        for r in range(self.n_resources):
            self._rest_weight[r] = 0.0
            if capacity[r] > 0:
                all_asked = all_asked and self._need_base[r] != INT64_MIN
        for i in range(self._n_asked):
            least = min(least, self._part[self._asked[i]])
        self._sum_weight = 0.0
        if not self.by_space or not all_asked or self._n_asked < 2 or least <= 0:
            return
        self._sum_weight = <double>least * 2.3283064365386963e-10     # x 2**-32
        for i in range(self._n_asked):
            r = self._asked[i]
            self._rest_weight[r] = <double>(self._part[r] - least) * self._inverse[shape, r]

    cdef index_t dot_product(self, const amount_t* request, const Py_ssize_t* asked,
                             Py_ssize_t n_asked, bint units_everywhere) noexcept nogil:
        """The fitting host with the greatest (dot_product_score, -host), or -1."""
        cdef Py_ssize_t s, i, r, root, host
        self._begin(request, asked, n_asked, units_everywhere)
        self._best_score, self._best_host = -1, NO_BEST
        for r in range(self.n_resources):
            self._part[r] = 0
            self._dot_weight[r] = 0.0
        for s in range(self.n_shapes):
            root = self._root[s]
            if not self._in_play(s):
                continue
            for i in range(n_asked):
                r = asked[i]
                self._part[r] = request_score(request[r], self._capacity[s, r])
                self._dot_weight[r] = <double>self._part[r] * self._inverse[s, r]
            self._set_sum_bound(s)
            for i in range(self.n_dirty):      # (first, as in best_fit)
                host = self._dirty_fitting(i, s)
                if host >= 0:
                    self._dot_consider(host, s)
            if self._dot_worth(root, s, self._dot_bound_estimate(root)):
                self._dot_search(root, s)
        return -1 if self._best_host == NO_BEST else <index_t>self._best_host

    # ------------------------------------------------------------ Python access (tests)

    def nbytes(self):
        """Bytes of the treaps' state."""
        arrays = [self._nodes, self._root, self._capacity, self._inverse, self._part,
                  self._dot_weight, self._quantised, self._dirty, self._dirty_key, self._path,
                  self._need]
        return sum(np.asarray(a).nbytes for a in arrays)

    def check(self):
        """Check every invariant from scratch (tests), after moving the dirty hosts to their
        place: raises AssertionError if broken."""
        self.flush()
        free, used = np.asarray(self.fleet._free), np.asarray(self.fleet._used)
        capacity = np.asarray(self._capacity)
        n = self.fleet.n_hosts
        records = np.asarray(self._nodes)[:n * self._stride].reshape(n, self._stride)
        key = records[:, KEY]
        # (Copies: with one host a column is contiguous already, and a view would let the
        # masking below write into the records.)
        links = records[:, LINKS].copy().view(dtypes.INDEX).reshape(n, 2)
        info = records[:, INFO].copy().view(dtypes.INDEX).reshape(n, 2)
        assert ((info[:, 1] & DIRTY) == 0).all(), "a dirty host after flush"
        for h in range(n):
            assert info[h, 1] >> RANK_SHIFT == priority(h) >> 50, f"host {h}: wrong rank"
        info[:, 1] &= DIRTY - 1                          # the shapes
        max_free = records[:, FREE:FREE + self.n_resources]
        if self.by_space:   # the most free fraction summed over classes, per subtree
            fraction_sum = np.array([self.free_fraction_sum(h) for h in range(n)], np.int64)
            exact = (free / np.where(capacity[info[:, 1]] > 0, capacity[info[:, 1]], np.inf))
            assert (fraction_sum >= exact.sum(axis=1) * 2**32).all(), "a fraction sum too low"
        seen = np.zeros(n, bool)
        for h in range(n):
            assert (capacity[info[h, 1]] == free[h] + used[h]).all(), f"host {h}: stale shape"
            assert key[h] == self._order_key(h, info[h, 1]), f"host {h}: stale key"

        def walk(node, s):
            """In-order (key, host) list of node's subtree, checking heap and summaries."""
            if node < 0:
                return []
            assert not seen[node] and info[node, 1] == s, f"host {node} in the wrong treap"
            seen[node] = True
            below, above = walk(links[node, 0], s), walk(links[node, 1], s)
            for child in links[node]:
                assert child < 0 or priority(child) < priority(node), "heap order broken"
            members = below + [node] + above
            assert (max_free[node] == free[members].max(axis=0)).all(), \
                f"host {node}: stale max_free"
            assert info[node, 0] == min(members), f"host {node}: stale min_host"
            if self.by_space:
                assert records[node, -1] == fraction_sum[members].max(), \
                    f"host {node}: stale free fraction sum"
            return members

        for s in range(self.n_shapes):
            members = walk(self._root[s], s)
            order = sorted(members, key=lambda h: (key[h], h))
            assert members == order, f"shape {s}: treap out of (key, host) order"
        assert seen.all(), "a host is in no treap"
