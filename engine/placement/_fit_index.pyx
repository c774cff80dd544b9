# cython: language_level=3
"""FitIndex: the fast placement policies without scanning every host.

Hosts are cut into blocks of `block_size` consecutive indices; a complete binary tree over the
blocks keeps, per node, the most free capacity of each class below it. first_fit walks it
depth-first, left child first, skipping every subtree whose most free capacity of some asked
class is below the request; the first fitting host of a leaf is the answer.

best_fit, worst_fit and dot_product are served by ShapeTrees (per host shape, the hosts ordered
by free-capacity score: O(log hosts) per decision however churned the fleet). On a fleet of
more than MAX_SHAPES distinct capacity vectors, the tree also keeps per node the range of host
capacities and of host free-capacity scores (engine/_fixed_point.pxd), and those policies are
a branch and bound on (score, host index) over it: a subtree is skipped when no host in it
could fit, or when the bound of its score cannot beat the best host found so far; ties go to
the lowest index. (Those bounds prune well on a filling fleet, poorly once churn leaves holes
everywhere.)

A leaf is checked with the full Placement rule, so the answer is exactly the brute-force one.
The index follows the fleet through its change log: `sync()` refreshes the hosts that changed
since the last decision (and their ancestors, stopping where nothing changes) or rebuilds
everything when more changes went by than the log holds.
"""

import numpy as np

from libc.stdint cimport INT32_MIN, INT64_MAX, INT64_MIN

from vmsched.engine.placement._shape_trees cimport ShapeTrees
from vmsched.engine.placement._fixed_point cimport (
    SATURATED,
    SCORE_ONE,
    SMALL,
    dot_product_score,
    host_free_score,
    int128,
    request_score,
)
from vmsched.engine.state._fleet cimport FleetState, asked_fits
from vmsched.engine._types cimport amount_t, index_t

from vmsched.engine import dtypes

cdef extern from *:
    int count_leading_zeros "__builtin_clzll"(unsigned long long) nogil

cdef amount_t NO_CAPACITY = INT64_MAX    # min capacity of a node without capacity
cdef amount_t NO_HOST = INT64_MIN        # max free of a node without hosts (always skipped)


cdef class FitIndex:
    """Index over `fleet` serving one fast policy (a FastPolicy). block_size: hosts per leaf of
    the block tree (default 16)."""

    def __init__(self, FleetState fleet, int policy=BEST_FIT, Py_ssize_t block_size=16):
        if block_size < 1:
            raise ValueError(f"block_size = {block_size} must be >= 1")
        if policy < FIRST_FIT or policy > DOT_PRODUCT:
            raise ValueError(f"policy = {policy} is not a FastPolicy")
        self.fleet = fleet
        self.policy = <FastPolicy>policy
        self.scores = policy != FIRST_FIT
        self.block_size = block_size
        self.n_resources = self.fleet.n_resources
        self.n_blocks = (self.fleet.n_hosts + block_size - 1) // block_size
        self.n_leaves, self.levels = 1, 0
        while self.n_leaves < self.n_blocks:
            self.n_leaves *= 2
            self.levels += 1
        self.trees = ShapeTrees(fleet, policy == DOT_PRODUCT) if self.scores else None
        self.bounds = False    # (until _rebuild chooses)
        self._allocate_blocks()
        self._stack_node = np.zeros(2 * self.levels + 4, dtypes.INDEX)
        self._asked = np.zeros(self.n_resources, np.intp)
        self._cached_capacity = np.zeros(self.n_resources, dtypes.AMOUNT)
        self._cached_score = np.zeros(self.n_resources, dtypes.AMOUNT)
        with nogil:
            self._rebuild()

    # ------------------------------------------------------------ maintenance

    cdef int _choose_scoring(self) except -1:
        """Serve the score policies by ShapeTrees if the fleet has few shapes, else by bounds
        on this tree (allocating or freeing their arrays). Needs the GIL."""
        cdef bint bounds = self.scores and not self.trees.rebuild()
        if bounds != self.bounds:
            self.bounds = bounds
            self._allocate_blocks()
        return 0

    cdef int _allocate_blocks(self) except -1:
        """Size the tree's arrays for what it keeps now: max free if blocks, bounds if bounds;
        the others empty."""
        self.blocks = self.policy == FIRST_FIT or self.bounds
        cdef Py_ssize_t n_nodes = 2 * self.n_leaves if self.blocks else 0
        self._max_free = np.full((n_nodes, self.n_resources), NO_HOST, dtypes.AMOUNT)
        cdef Py_ssize_t n_hosts = self.fleet.n_hosts if self.bounds else 0
        n_nodes = n_nodes if self.bounds else 0
        self._host_key = np.zeros(n_hosts, dtypes.AMOUNT)
        self._min_capacity = np.full((n_nodes, self.n_resources), NO_CAPACITY, dtypes.AMOUNT)
        self._max_capacity = np.zeros((n_nodes, self.n_resources), dtypes.AMOUNT)
        self._min_key = np.full(n_nodes, INT64_MAX, dtypes.AMOUNT)
        self._max_key = np.full(n_nodes, INT64_MIN, dtypes.AMOUNT)
        return 0

    cdef void _rebuild(self) noexcept nogil:
        cdef Py_ssize_t h, b, node
        if self.scores:
            with gil:
                self._choose_scoring()
        if self.bounds:
            for h in range(self.fleet.n_hosts):
                self._host_key[h] = host_free_score(&self.fleet._free[h, 0],
                                                    &self.fleet._used[h, 0], self.n_resources)
        if self.blocks:
            for b in range(self.n_blocks):
                self._refresh_leaf(b, True)
            for node in range(self.n_leaves - 1, 0, -1):
                self._combine(node, True)
        self.seen = self.fleet.n_changes
        self.seen_inventory = self.fleet.inventory_version

    cdef void sync(self) noexcept nogil:
        """Apply the fleet's changes since the last call. Allocations only change free
        capacity and keys; an inventory change (rare) rebuilds everything."""
        cdef long long i, pending = self.fleet.n_changes - self.seen
        cdef index_t entry, host, previous = INT32_MIN
        cdef Py_ssize_t node
        if pending == 0:
            return
        if (pending > self.fleet._change_mask + 1
                or (self.bounds and self.fleet.inventory_version != self.seen_inventory)):
            self._rebuild()
            return
        for i in range(self.seen, self.fleet.n_changes):
            entry = self.fleet._changed_hosts[i & self.fleet._change_mask]
            if entry == previous:
                continue
            previous = entry
            host = entry if entry >= 0 else -1 - entry
            if not self.blocks:
                if not self.trees.update(host, entry >= 0):
                    self._rebuild()            # one shape too many: bounds from now on
                    return
                continue
            if self.bounds:
                self._host_key[host] = host_free_score(&self.fleet._free[host, 0],
                                                       &self.fleet._used[host, 0],
                                                       self.n_resources)
            self._refresh_leaf(host // self.block_size, False)
            node = (self.n_leaves + host // self.block_size) >> 1
            while node >= 1 and self._combine(node, False):
                node >>= 1
        self.seen = self.fleet.n_changes
        self.seen_inventory = self.fleet.inventory_version

    cdef void _refresh_leaf(self, Py_ssize_t block, bint capacities) noexcept nogil:
        """Recompute a leaf from its hosts: free and keys, and capacities if asked."""
        cdef Py_ssize_t n_res = self.n_resources, node = self.n_leaves + block, r, h
        cdef Py_ssize_t first = block * self.block_size
        cdef Py_ssize_t stop = min(first + self.block_size, self.fleet.n_hosts)
        cdef amount_t capacity
        cdef const amount_t* free = &self.fleet._free[0, 0]
        cdef const amount_t* used = &self.fleet._used[0, 0]
        cdef amount_t* max_free = &self._max_free[node, 0]
        cdef amount_t* min_capacity
        cdef amount_t* max_capacity
        cdef amount_t min_key = INT64_MAX, max_key = INT64_MIN
        for r in range(n_res):
            max_free[r] = NO_HOST
        for h in range(first, stop):
            for r in range(n_res):
                max_free[r] = max(max_free[r], free[h * n_res + r])
        if not self.bounds:
            return
        for h in range(first, stop):
            min_key = min(min_key, self._host_key[h])
            max_key = max(max_key, self._host_key[h])
        self._min_key[node] = min_key
        self._max_key[node] = max_key
        if not capacities:
            return
        min_capacity = &self._min_capacity[node, 0]   # (these exist only with bounds)
        max_capacity = &self._max_capacity[node, 0]
        for r in range(n_res):
            min_capacity[r] = NO_CAPACITY
            max_capacity[r] = 0
        for h in range(first, stop):
            for r in range(n_res):
                capacity = free[h * n_res + r] + used[h * n_res + r]
                if capacity > 0:
                    min_capacity[r] = min(min_capacity[r], capacity)
                    max_capacity[r] = max(max_capacity[r], capacity)

    cdef bint _combine(self, Py_ssize_t node, bint capacities) noexcept nogil:
        """Recompute an internal node from its children (capacities too if asked); True if
        anything changed."""
        cdef Py_ssize_t n_res = self.n_resources, r
        cdef amount_t value
        cdef bint changed = False
        cdef amount_t* parent = &self._max_free[node, 0]
        cdef const amount_t* left = &self._max_free[2 * node, 0]
        cdef const amount_t* right = left + n_res
        for r in range(n_res):
            value = max(left[r], right[r])
            changed |= value != parent[r]
            parent[r] = value
        if not self.bounds:
            return changed
        value = min(self._min_key[2 * node], self._min_key[2 * node + 1])
        changed |= value != self._min_key[node]
        self._min_key[node] = value
        value = max(self._max_key[2 * node], self._max_key[2 * node + 1])
        changed |= value != self._max_key[node]
        self._max_key[node] = value
        if not capacities:
            return changed
        parent = &self._min_capacity[node, 0]
        left = &self._min_capacity[2 * node, 0]
        right = left + n_res
        for r in range(n_res):
            value = min(left[r], right[r])
            changed |= value != parent[r]
            parent[r] = value
        parent = &self._max_capacity[node, 0]
        left = &self._max_capacity[2 * node, 0]
        right = left + n_res
        for r in range(n_res):
            value = max(left[r], right[r])
            changed |= value != parent[r]
            parent[r] = value
        return changed

    # ------------------------------------------------------------ decisions

    cdef index_t choose(self, const amount_t* request) noexcept nogil:
        """The host self.policy picks for `request` (a valid request), or -1 if none fits."""
        cdef Py_ssize_t r
        cdef FastPolicy policy = self.policy
        self.sync()
        self.n_asked = 0
        self._units_everywhere = True
        for r in range(self.n_resources):
            if request[r] > 0:
                self._asked[self.n_asked] = r
                self.n_asked += 1
                if (request[r] < self.fleet._min_unit_max[r]
                        or request[r] > self.fleet._max_unit_min[r]
                        or not self.fleet._step_all_one[r]):
                    self._units_everywhere = False
        if policy == FIRST_FIT:
            return self._first_fit(request)
        if not self.bounds:
            if policy == BEST_FIT:
                return self.trees.best_fit(request, &self._asked[0], self.n_asked,
                                           self._units_everywhere)
            if policy == WORST_FIT:
                return self.trees.worst_fit(request, &self._asked[0], self.n_asked,
                                            self._units_everywhere)
            return self.trees.dot_product(request, &self._asked[0], self.n_asked,
                                          self._units_everywhere)
        for r in range(self.n_resources):
            self._cached_capacity[r] = 0
        return self._branch_and_bound(request, policy)

    cdef amount_t _request_score(self, Py_ssize_t r, amount_t amount,
                                 amount_t capacity) noexcept nogil:
        """request_score(amount, capacity), remembered per class for the last capacity (fleets
        have few host shapes, so the division is rarely needed)."""
        if capacity != self._cached_capacity[r]:
            self._cached_capacity[r] = capacity
            self._cached_score[r] = request_score(amount, capacity)
        return self._cached_score[r]

    cdef bint _hopeless(self, Py_ssize_t node, const amount_t* request) noexcept nogil:
        """No host below `node` has enough free capacity of some asked class."""
        cdef Py_ssize_t i, r
        for i in range(self.n_asked):
            r = self._asked[i]
            if self._max_free[node, r] < request[r]:
                return True
        return False

    cdef bint _host_fits(self, Py_ssize_t h, const amount_t* request) noexcept nogil:
        return asked_fits(self.fleet, h, request, &self._asked[0], self.n_asked,
                          self._units_everywhere)

    cdef index_t _first_fit(self, const amount_t* request) noexcept nogil:
        cdef Py_ssize_t top = 0, node, h, first, stop
        self._stack_node[top] = 1
        top += 1
        while top > 0:
            top -= 1
            node = self._stack_node[top]
            self._nodes_visited += 1
            if self._hopeless(node, request):
                continue
            if node >= self.n_leaves:
                self.leaves_scanned += 1
                first = (node - self.n_leaves) * self.block_size
                stop = min(first + self.block_size, self.fleet.n_hosts)
                for h in range(first, stop):
                    if self._host_fits(h, request):
                        return <index_t>h
                continue
            self._stack_node[top] = <index_t>(2 * node + 1)
            self._stack_node[top + 1] = <index_t>(2 * node)
            top += 2
        return -1

    cdef Py_ssize_t _first_host(self, Py_ssize_t node) noexcept nogil:
        cdef int depth = 63 - count_leading_zeros(<unsigned long long>node)
        return ((node << (self.levels - depth)) - self.n_leaves) * self.block_size

    cdef amount_t _host_cost(self, Py_ssize_t h, const amount_t* request,
                             FastPolicy policy) noexcept nogil:
        """What branch and bound minimises for a fitting host: best_fit's score, or minus the
        score of worst_fit and dot_product."""
        cdef Py_ssize_t i, r
        cdef amount_t requested = 0
        if policy == DOT_PRODUCT:
            return -dot_product_score(request, &self.fleet._free[h, 0], &self.fleet._used[h, 0],
                                      self.n_resources)
        for i in range(self.n_asked):
            r = self._asked[i]
            requested += self._request_score(r, request[r],
                                             self.fleet._free[h, r] + self.fleet._used[h, r])
        if policy == BEST_FIT:
            return self._host_key[h] - requested
        return requested - self._host_key[h]

    cdef amount_t _cost_bound(self, Py_ssize_t node, const amount_t* request,
                              FastPolicy policy) noexcept nogil:
        """A lower bound of _host_cost over the fitting hosts below `node`."""
        cdef Py_ssize_t i, r
        cdef amount_t term, requested = 0, capacity, part
        if policy == BEST_FIT:
            # score = key - sum request_score(q, capacity) >= min_key - sum rs(q, min capacity)
            for i in range(self.n_asked):
                r = self._asked[i]
                term = self._request_score(r, request[r], self._min_capacity[node, r])
                if term >= SATURATED:
                    return INT64_MIN
                requested += term
            return self._min_key[node] - requested
        if policy == WORST_FIT:
            # -score <= -(max_key - sum request_score(q, max capacity))
            for i in range(self.n_asked):
                r = self._asked[i]
                requested += self._request_score(r, request[r], self._max_capacity[node, r])
            return requested - self._max_key[node]
        # dot_product: each class adds at most min(ONE, rs(q, min cap) * max free / min cap).
        for i in range(self.n_asked):
            r = self._asked[i]
            capacity = self._min_capacity[node, r]
            part = self._request_score(r, request[r], capacity)
            if part > SCORE_ONE:
                term = SCORE_ONE
            elif self._max_free[node, r] < SMALL:
                term = min(SCORE_ONE, (part * self._max_free[node, r]) / capacity)
            else:
                term = <amount_t>min(<int128>SCORE_ONE,
                                     (<int128>part * self._max_free[node, r]) / capacity)
            requested += term
        return -requested

    cdef index_t _branch_and_bound(self, const amount_t* request, FastPolicy policy) noexcept nogil:
        """Minimise (_host_cost, host) over the fitting hosts. Children are visited in the
        order their key range suggests; a node's bound is computed only once a host has been
        found (before that there is nothing to prune against)."""
        cdef Py_ssize_t top = 0, node, h, first, stop, left, right, first_child, second_child
        cdef Py_ssize_t best_host = INT64_MAX
        cdef amount_t best_cost = INT64_MAX, cost, bound
        cdef bint left_hopeless, right_hopeless, left_first
        if self._hopeless(1, request):
            return -1
        self._stack_node[0] = 1
        top = 1
        while top > 0:
            top -= 1
            node = self._stack_node[top]
            self._nodes_visited += 1
            if best_host != INT64_MAX:
                bound = self._cost_bound(node, request, policy)
                if bound > best_cost or (bound == best_cost and self._first_host(node) > best_host):
                    continue
            if node >= self.n_leaves:
                self.leaves_scanned += 1
                first = (node - self.n_leaves) * self.block_size
                stop = min(first + self.block_size, self.fleet.n_hosts)
                for h in range(first, stop):
                    if self._host_fits(h, request):
                        cost = self._host_cost(h, request, policy)
                        if cost < best_cost or (cost == best_cost and h < best_host):
                            best_cost, best_host = cost, h
                continue
            left, right = 2 * node, 2 * node + 1
            left_hopeless = self._hopeless(left, request)
            right_hopeless = self._hopeless(right, request)
            # The more promising child is pushed last, so it is visited first.
            if policy == BEST_FIT:
                left_first = self._min_key[left] <= self._min_key[right]
            elif policy == WORST_FIT:
                left_first = self._max_key[left] >= self._max_key[right]
            else:
                left_first = (left_hopeless or right_hopeless or
                              self._cost_bound(left, request, policy)
                              <= self._cost_bound(right, request, policy))
            first_child, second_child = (left, right) if left_first else (right, left)
            if not (right_hopeless if first_child == left else left_hopeless):
                self._stack_node[top] = <index_t>second_child
                top += 1
            if not (left_hopeless if first_child == left else right_hopeless):
                self._stack_node[top] = <index_t>first_child
                top += 1
        return -1 if best_host == INT64_MAX else <index_t>best_host

    # ------------------------------------------------------------ Python access (tests)

    def select(self, request):
        """The host the policy picks for `request` (validated like Fleet.allocate), -1 if none."""
        self.fleet.read_request(request, "request")
        return self.choose(&self.fleet._request[0])

    @property
    def nodes_visited(self):
        """Statistics: tree and treap nodes looked at by decisions so far."""
        return self._nodes_visited + (self.trees.nodes_visited if self.trees is not None else 0)

    def nbytes(self):
        """Bytes of index state, total and per host."""
        arrays = [self._host_key, self._max_free, self._min_capacity, self._max_capacity,
                  self._min_key, self._max_key, self._stack_node, self._asked,
                  self._cached_capacity, self._cached_score]
        total = sum(np.asarray(a).nbytes for a in arrays)
        if self.trees is not None and not self.bounds:
            total += self.trees.nbytes()
        return {"index": total, "per_host": total / self.fleet.n_hosts}

    def check(self):
        """Rebuild a copy from scratch and compare (tests): raises AssertionError if stale."""
        self.sync()
        cdef FitIndex fresh = FitIndex(self.fleet, self.policy, self.block_size)
        if self.trees is not None and not self.bounds:
            self.trees.check()
        pairs = {"max_free": (self._max_free, fresh._max_free)}
        if self.bounds and fresh.bounds:   # (a fleet back to few shapes keeps its bounds)
            pairs.update({"host_key": (self._host_key, fresh._host_key),
                          "min_capacity": (self._min_capacity, fresh._min_capacity),
                          "max_capacity": (self._max_capacity, fresh._max_capacity),
                          "min_key": (self._min_key, fresh._min_key),
                          "max_key": (self._max_key, fresh._max_key)})
        for name, (mine, theirs) in pairs.items():
            assert np.array_equal(np.asarray(mine), np.asarray(theirs)), \
                f"FitIndex.{name} is stale"
