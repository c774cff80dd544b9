# See _placement.pyx for details.
"""Native placement: the filter/weigher pipeline kernel and the decision loop over requests."""

cimport cython
from libc.stdint cimport uint64_t

from vmsched.engine.placement._fit_index cimport FitIndex
from vmsched.engine.state._fleet cimport FleetState
from vmsched.engine._types cimport amount_t, index_t


cpdef enum FilterKind:
    RESOURCE_FIT = 0
    SERVER_GROUP_AFFINITY = 1
    SERVER_GROUP_ANTI_AFFINITY = 2
    REQUIRED_LABELS = 3
    MAX_VMS_PER_HOST = 4
    DOMAIN_SPREAD = 5


cpdef enum WeigherKind:
    FREE_RAM = 0
    FREE_CPU = 1
    LEAST_ALLOCATED = 2
    MOST_ALLOCATED = 3
    BALANCED_ALLOCATION = 4
    SOFT_AFFINITY = 5
    SOFT_ANTI_AFFINITY = 6
    FREE_AFTER_PLACEMENT = 7
    DOT_PRODUCT = 8
    PYTHON_WEIGHER = 9       # raw weights written by Python (FunctionWeigher)


cpdef enum GroupPolicy:
    NO_GROUP = 0
    GROUP_AFFINITY = 1
    GROUP_ANTI_AFFINITY = 2
    GROUP_SOFT_AFFINITY = 3
    GROUP_SOFT_ANTI_AFFINITY = 4
    GROUP_SPREAD = 5


@cython.final
cdef class PlacementCore:
    cdef readonly FleetState fleet
    cdef readonly FitIndex index             # None unless the policy is a fast one
    cdef readonly int fast                   # FastPolicy, or -1 for the pipeline
    cdef readonly Py_ssize_t host_subset_size

    # The pipeline: filters in order, weighers in order.
    cdef Py_ssize_t n_filters, n_weighers
    cdef int[::1] _filter_kind
    cdef amount_t[::1] _filter_param
    cdef int[::1] _weigher_kind
    cdef double[::1] _multiplier
    cdef index_t[:, ::1] _weigher_classes    # class indices a weigher reads, -1 padded

    # Hosts' placement attributes.
    cdef uint64_t[::1] _host_labels          # bit set of labels
    cdef index_t[::1] _host_domain           # failure domain, -1 for none
    cdef Py_ssize_t n_domains

    # The current request's context (set_context / clear_context).
    cdef uint64_t _labels
    cdef bint _labels_impossible             # asks for a label no host has
    cdef int _group_policy
    cdef amount_t _max_per_host, _max_skew, _group_members, _min_domain_count
    cdef index_t[::1] _group_count           # members of the group per host (0 elsewhere)
    cdef amount_t[::1] _domain_count         # members of the group per domain
    cdef index_t[::1] _member_hosts          # hosts with members, to reset _group_count
    cdef Py_ssize_t _n_member_hosts

    # Scratch of one decision.
    cdef index_t[::1] _candidates
    cdef Py_ssize_t n_candidates
    cdef double[:, ::1] _raw                 # [n_weighers, n_hosts] raw weights
    cdef double[::1] _total
    cdef double[::1] _low                    # per weigher: range of its raw weights, known
    cdef double[::1] _high                   #   when no Python filter changed the candidates
    cdef bint _ranges_known
    cdef amount_t[::1] _eliminated           # per filter
    cdef index_t[::1] _ranked                # best host_subset_size candidates

    cdef bint _passes(self, Py_ssize_t f, Py_ssize_t h, const amount_t* request) noexcept nogil
    cdef double _weight(self, Py_ssize_t k, Py_ssize_t h, const amount_t* request) noexcept nogil
    cdef Py_ssize_t _filter_and_weigh(self, const amount_t* request) noexcept nogil
    cdef Py_ssize_t _apply_filter(self, Py_ssize_t f, const amount_t* request,
                                  index_t* candidates, Py_ssize_t n,
                                  bint all_hosts) noexcept nogil
    cdef void _weigh(self, Py_ssize_t k, const amount_t* request, const index_t* candidates,
                     Py_ssize_t n, double* out) noexcept nogil
    cdef index_t _choose_among(self, double u) noexcept nogil
    cdef index_t decide(self, const amount_t* request, double u) noexcept nogil
