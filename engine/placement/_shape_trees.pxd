# See _shape_trees.pyx for details.
"""Per host shape, a treap of the hosts ordered by free-capacity score: best_fit, worst_fit and
dot_product in about O(log hosts) whatever the history of arrivals and departures."""

cimport cython
from vmsched.engine.state._fleet cimport FleetState
from vmsched.engine._types cimport amount_t, index_t

# Fleets with more distinct capacity vectors than this use FitIndex's score bounds instead.
cdef enum:
    MAX_SHAPES = 64
    MAX_DIRTY = 4        # hosts changed and not yet moved to their new place


@cython.final
cdef class ShapeTrees:
    cdef readonly FleetState fleet
    cdef readonly Py_ssize_t n_shapes
    cdef Py_ssize_t n_resources
    cdef readonly bint by_space              # the order: by free vector (dot_product), else
                                             # by free score (best_fit, worst_fit)
    cdef readonly long long nodes_visited    # statistics: treap nodes looked at by decisions

    # Per host (a host is its own treap node), one record of `_stride` = 3 + n_resources words
    # (by space, one more: SUM) in `_nodes`: [key | left, right | min_host, shape | max_free
    # per class | SUM]. SUM: the most free fraction summed over classes (units of 2**-32,
    # rounded up) in the subtree, for dot_product's second bound. key: the host's
    # place in its treap (_order_key); left and right: children, -1 for none;
    # min_host: the lowest host index in the subtree; shape: the host's capacity vector (its
    # index, with the DIRTY flag and the top bits of the host's priority above it);
    # max_free: per class, the most free capacity in the subtree. (One record is one or two
    # cache lines: a treap walk touches a line per node.)
    cdef amount_t[::1] _nodes
    cdef amount_t* _base
    cdef Py_ssize_t _stride
    # Hosts whose free capacity changed since they were last placed in their treap ("dirty"):
    # decisions pass over them in the treaps and check them one by one, so their stale keys
    # and summaries mislead no decision (the summaries still bound every other host's free
    # capacity). A fill that keeps allocating on the same host (best_fit) moves it once, not
    # once per VM; a departure then an arrival on one host move it once.
    cdef index_t[::1] _dirty
    cdef amount_t[::1] _dirty_key            # their _order_key now
    cdef Py_ssize_t n_dirty
    # Scratch of the walks: a path from a root down (updates), or the nodes whose left (right)
    # subtree a search is in; a path is never longer than the hosts.
    cdef index_t[::1] _path
    cdef index_t* _path_base
    # Per shape.
    cdef index_t[::1] _root                  # -1: no host has this shape (now)
    cdef amount_t[:, ::1] _capacity          # the shape: capacity per class (free + used)
    cdef double[:, ::1] _inverse             # 1.0 / capacity (0 where capacity <= 0)

    # The decision being made.
    cdef const amount_t* _request
    cdef const Py_ssize_t* _asked
    cdef Py_ssize_t _n_asked
    cdef bint _units_everywhere
    cdef amount_t[::1] _need                 # per class: the request's amount if asked, else
    cdef amount_t* _need_base                # INT64_MIN (so every class can be compared)
    cdef amount_t[::1] _part                 # per class: request_score(amount, shape capacity)
    cdef double[::1] _dot_weight             # per class: _part / shape capacity (estimates)
    cdef double[::1] _rest_weight            # per class, and for the free fraction sum (SUM,
    cdef double _sum_weight                  # by space: a record's last word), the weights
                                             # of the second bound (see _set_sum_bound)
    cdef amount_t[::1] _quantised            # scratch of _order_key
    cdef amount_t _best_score                # dot_product: best (score, host) so far
    cdef Py_ssize_t _best_host

    cdef bint rebuild(self) except -1
    cdef bint update(self, index_t host, bint allocation) noexcept nogil
    cdef void flush(self) noexcept nogil
    cdef index_t best_fit(self, const amount_t* request, const Py_ssize_t* asked,
                          Py_ssize_t n_asked, bint units_everywhere) noexcept nogil
    cdef index_t worst_fit(self, const amount_t* request, const Py_ssize_t* asked,
                           Py_ssize_t n_asked, bint units_everywhere) noexcept nogil
    cdef void _set_sum_bound(self, Py_ssize_t shape) noexcept nogil
    cdef index_t dot_product(self, const amount_t* request, const Py_ssize_t* asked,
                             Py_ssize_t n_asked, bint units_everywhere) noexcept nogil

    cdef amount_t* _record(self, Py_ssize_t node) noexcept nogil
    cdef void _prefetch_children(self, Py_ssize_t node) noexcept nogil
    cdef index_t* _links(self, Py_ssize_t node) noexcept nogil
    cdef amount_t _key(self, Py_ssize_t node) noexcept nogil
    cdef Py_ssize_t _shape(self, Py_ssize_t node) noexcept nogil
    cdef bint _is_dirty(self, Py_ssize_t node) noexcept nogil
    cdef bint _outranks(self, Py_ssize_t a, Py_ssize_t b) noexcept nogil
    cdef void _place(self, index_t host, Py_ssize_t shape, amount_t key) noexcept nogil
    cdef Py_ssize_t _shape_of(self, index_t host) noexcept nogil
    cdef amount_t _order_key(self, Py_ssize_t host, Py_ssize_t shape) noexcept nogil
    cdef void _begin(self, const amount_t* request, const Py_ssize_t* asked,
                     Py_ssize_t n_asked, bint units_everywhere) noexcept nogil
    cdef bint _in_play(self, Py_ssize_t shape) noexcept nogil
    cdef Py_ssize_t _dirty_fitting(self, Py_ssize_t i, Py_ssize_t shape) noexcept nogil
    cdef amount_t _shape_request_score(self, Py_ssize_t shape) noexcept nogil
    cdef bint _before(self, Py_ssize_t a, Py_ssize_t b) noexcept nogil
    cdef bint _pull(self, Py_ssize_t node) noexcept nogil
    cdef amount_t _free_fraction_sum(self, const amount_t* free, Py_ssize_t shape) noexcept nogil
    cdef Py_ssize_t _pull_all(self, Py_ssize_t node) noexcept nogil
    cdef void _pull_path(self, Py_ssize_t depth) noexcept nogil
    cdef index_t* _descend(self, index_t* link, Py_ssize_t node, bint to_place,
                           Py_ssize_t* depth) noexcept nogil
    cdef Py_ssize_t _insert(self, Py_ssize_t tree, Py_ssize_t node) noexcept nogil
    cdef void _split(self, Py_ssize_t tree, Py_ssize_t node, Py_ssize_t* below,
                     Py_ssize_t* above) noexcept nogil
    cdef Py_ssize_t _erase(self, Py_ssize_t tree, Py_ssize_t node) noexcept nogil
    cdef Py_ssize_t _merge(self, Py_ssize_t below, Py_ssize_t above) noexcept nogil
    cdef void _touch(self, Py_ssize_t tree, Py_ssize_t node) noexcept nogil
    cdef bint _hopeless(self, Py_ssize_t node) noexcept nogil
    cdef bint _fits(self, Py_ssize_t host) noexcept nogil
    cdef Py_ssize_t _first_fitting(self, Py_ssize_t tree, amount_t low_key,
                                   amount_t high_key) noexcept nogil
    cdef Py_ssize_t _last_fitting(self, Py_ssize_t tree, amount_t low_key) noexcept nogil
    cdef double _dot_estimate(self, const amount_t* free) noexcept nogil
    cdef double _dot_slack(self, double estimate) noexcept nogil
    cdef amount_t _dot_exact(self, const amount_t* free, Py_ssize_t shape) noexcept nogil
    cdef double _dot_bound_estimate(self, Py_ssize_t node) noexcept nogil
    cdef bint _dot_worth(self, Py_ssize_t node, Py_ssize_t shape, double estimate) noexcept nogil
    cdef bint _same_as_best(self, const amount_t* free, Py_ssize_t shape) noexcept nogil
    cdef void _dot_consider(self, Py_ssize_t host, Py_ssize_t shape) noexcept nogil
    cdef void _dot_search(self, Py_ssize_t root, Py_ssize_t shape) noexcept nogil
