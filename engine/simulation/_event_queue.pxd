# See _event_queue.pyx for details.
"""The simulation's one event queue, keyed (time_s, priority, sequence)."""

cimport cython


# Priorities at one instant, in the order events happen.
cpdef enum Priority:
    DEPARTURE_PRIORITY = 0
    HOST_PRIORITY = 1           # host state changes: drain, down, up, failure, repair
    MIGRATION_PRIORITY = 2      # migration completions
    ARRIVAL_PRIORITY = 3        # workload arrivals and restarts
    CONTROLLER_PRIORITY = 4
    TICK_PRIORITY = 5


# What an event does (its handler). The workload's own arrivals and departures are the
# lifecycle kinds, which the native lifecycle runner may handle in a batch.
cpdef enum EventKind:
    DEPARTURE = 0
    ARRIVAL = 1
    HOST_CHANGE = 2             # drain, down, up (a: host, b: the change)
    HOST_FAIL = 3               # a: host, x: repair seconds
    MIGRATION_DONE = 4          # a: row, b: the migration's number
    RESTART = 5                 # a: row (a VM lost in a failure placed again)
    CONTROLLER = 6              # a: the controller's index
    TICK = 7


@cython.final
cdef class EventQueue:
    # The workload's events, loaded once, sorted by (time, priority, row): sequence = position.
    cdef double[::1] _w_time
    cdef signed char[::1] _w_kind
    cdef long long[::1] _w_row
    cdef readonly Py_ssize_t n_workload
    cdef Py_ssize_t _w_next

    # Events added later: a binary heap over parallel arrays (sequence from n_workload up).
    cdef double[::1] _time
    cdef signed char[::1] _priority
    cdef long long[::1] _sequence
    cdef signed char[::1] _kind
    cdef long long[::1] _a
    cdef long long[::1] _b
    cdef double[::1] _x
    cdef Py_ssize_t _size
    cdef long long _next_sequence

    cdef void _copy(self, Py_ssize_t source, Py_ssize_t target) noexcept nogil
    cdef void _swap(self, Py_ssize_t i, Py_ssize_t j) noexcept nogil
    cdef bint _heap_first(self) noexcept nogil
    cdef bint _less(self, Py_ssize_t i, Py_ssize_t j) noexcept nogil
    cdef void _sift_down(self, Py_ssize_t i) noexcept nogil
    cdef bint head_is_lifecycle(self, double until_s) noexcept nogil
    cdef signed char pop_lifecycle(self, long long* row, double* time_s) noexcept nogil
