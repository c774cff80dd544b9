# See _fit_index.pyx for details.
"""A tree over the hosts that answers the fast placement policies without scanning them all."""

cimport cython
from vmsched.engine.placement._shape_trees cimport ShapeTrees
from vmsched.engine.state._fleet cimport FleetState
from vmsched.engine._types cimport amount_t, index_t


cpdef enum FastPolicy:
    FIRST_FIT = 0      # lowest host index that fits
    BEST_FIT = 1       # least normalised free capacity left after placement
    WORST_FIT = 2      # most normalised free capacity left after placement
    DOT_PRODUCT = 3    # largest sum_r request_r * free_r / capacity_r**2


@cython.final
cdef class FitIndex:
    cdef readonly FleetState fleet
    cdef readonly Py_ssize_t block_size      # hosts per leaf
    cdef readonly FastPolicy policy          # the one policy served
    cdef readonly bint scores                # policy != FIRST_FIT
    cdef readonly ShapeTrees trees           # how it is served on fleets of few shapes,
    cdef readonly bint bounds                # else by score bounds on this tree's nodes
    cdef readonly bint blocks                # the tree over blocks is kept (first_fit, bounds)
    cdef Py_ssize_t n_resources, n_blocks, n_leaves, levels
    cdef long long seen                      # fleet.n_changes already applied
    cdef long long seen_inventory            # fleet.inventory_version the capacities match
    cdef long long _nodes_visited            # statistics: tree nodes popped, leaves scanned
    cdef readonly long long leaves_scanned

    # Per tree node (1-based heap; leaves n_leaves .. 2 n_leaves - 1 are host blocks), over the
    # hosts below it: max free per class (empty unless blocks).
    cdef amount_t[:, ::1] _max_free
    # Only with bounds (else empty): per host, == host_free_score; per node, min and max
    # capacity per class over hosts whose capacity is > 0 (sentinels AMOUNT_MAX and 0 when
    # none); min and max host key.
    cdef amount_t[::1] _host_key
    cdef amount_t[:, ::1] _min_capacity
    cdef amount_t[:, ::1] _max_capacity
    cdef amount_t[::1] _min_key
    cdef amount_t[::1] _max_key

    cdef index_t[::1] _stack_node            # traversal scratch
    cdef Py_ssize_t[::1] _asked              # classes the current request asks for
    cdef Py_ssize_t n_asked
    cdef bint _units_everywhere              # the request passes the unit rules on every host
    cdef amount_t[::1] _cached_capacity      # per class: capacity of the last request_score
    cdef amount_t[::1] _cached_score         # per class: its value (for the current request)

    cdef void sync(self) noexcept nogil
    cdef index_t choose(self, const amount_t* request) noexcept nogil

    cdef void _rebuild(self) noexcept nogil
    cdef int _choose_scoring(self) except -1
    cdef int _allocate_blocks(self) except -1
    cdef void _refresh_leaf(self, Py_ssize_t block, bint capacities) noexcept nogil
    cdef bint _combine(self, Py_ssize_t node, bint capacities) noexcept nogil
    cdef amount_t _request_score(self, Py_ssize_t r, amount_t amount,
                                 amount_t capacity) noexcept nogil
    cdef bint _hopeless(self, Py_ssize_t node, const amount_t* request) noexcept nogil
    cdef bint _host_fits(self, Py_ssize_t h, const amount_t* request) noexcept nogil
    cdef index_t _first_fit(self, const amount_t* request) noexcept nogil
    cdef Py_ssize_t _first_host(self, Py_ssize_t node) noexcept nogil
    cdef amount_t _host_cost(self, Py_ssize_t h, const amount_t* request,
                             FastPolicy policy) noexcept nogil
    cdef amount_t _cost_bound(self, Py_ssize_t node, const amount_t* request,
                              FastPolicy policy) noexcept nogil
    cdef index_t _branch_and_bound(self, const amount_t* request, FastPolicy policy) noexcept nogil
