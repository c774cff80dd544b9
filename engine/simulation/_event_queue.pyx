"""The simulation's one event queue, keyed (time_s, priority, sequence).

Every event of a run goes through it: the workload's arrivals and departures, ticks,
host state changes, migration completions, restarts and controller rounds. At one instant
events happen in priority order (departures, host changes, migration completions, arrivals,
controllers, ticks) and, within a priority, in sequence order: the order they were added.

The workload's events are known up front and are many, so they are loaded once as sorted
arrays (their sequence is their position, below every event added later); the others go in a
binary heap. Popping takes the smaller of the two heads. The queue is one ordering: nothing
outside it decides what happens next.

An event carries a kind (its handler), two integers and a real: a workload row, a host or a
migration number, a duration, as the kind needs.
"""

import numpy as np

from vmsched.errors import InvalidRequest

cdef inline int priority_of_kind(signed char kind) noexcept nogil:
    return DEPARTURE_PRIORITY if kind == DEPARTURE else ARRIVAL_PRIORITY


cdef class EventQueue:
    """An empty queue; load_workload() first, then push() and pop() in any mix."""

    def __cinit__(self):
        self._w_time = np.zeros(0)
        self._w_kind = np.zeros(0, np.int8)
        self._w_row = np.zeros(0, np.int64)
        self.n_workload = 0
        self._w_next = 0
        self._size = 0
        self._next_sequence = 0
        self._grow(64)

    def _grow(self, Py_ssize_t capacity):
        arrays = {"_time": np.float64, "_priority": np.int8, "_sequence": np.int64,
                  "_kind": np.int8, "_a": np.int64, "_b": np.int64, "_x": np.float64}
        grown = {}
        for name, dtype in arrays.items():
            array = np.zeros(capacity, dtype)
            if self._size:
                array[:self._size] = np.asarray(getattr(self, name + "_view")())[:self._size]
            grown[name] = array
        self._time, self._priority = grown["_time"], grown["_priority"]
        self._sequence, self._kind = grown["_sequence"], grown["_kind"]
        self._a, self._b, self._x = grown["_a"], grown["_b"], grown["_x"]

    # Views of the heap arrays by name (for _grow and pickling).
    def _time_view(self): return self._time
    def _priority_view(self): return self._priority
    def _sequence_view(self): return self._sequence
    def _kind_view(self): return self._kind
    def _a_view(self): return self._a
    def _b_view(self): return self._b
    def _x_view(self): return self._x

    def load_workload(self, times, kinds, rows):
        """The workload's events: times (s), kinds (DEPARTURE or ARRIVAL) and rows, sorted by
        (time, priority, row). Only into an empty queue."""
        if self.n_workload or self._size:
            raise InvalidRequest("the workload's events go into an empty queue")
        t = np.ascontiguousarray(times, np.float64)
        k = np.ascontiguousarray(kinds, np.int8)
        r = np.ascontiguousarray(rows, np.int64)
        if not (t.shape == k.shape == r.shape) or t.ndim != 1:
            raise InvalidRequest("times, kinds and rows must be 1-D arrays of one length")
        if ((k != DEPARTURE) & (k != ARRIVAL)).any() or np.isnan(t).any():
            raise InvalidRequest("workload events are departures or arrivals at real times")
        priority = np.where(k == DEPARTURE, DEPARTURE_PRIORITY, ARRIVAL_PRIORITY)
        if len(t) > 1 and not (np.lexsort((r, priority, t)) == np.arange(len(t))).all():
            raise InvalidRequest("workload events must be sorted by (time, priority, row)")
        self._w_time, self._w_kind, self._w_row = t, k, r
        self.n_workload = len(t)
        self._w_next = 0
        self._next_sequence = self.n_workload

    def push(self, double time_s, int priority, int kind, long long a=0, long long b=0,
             double x=0.0):
        """Add an event; returns its sequence number."""
        if time_s != time_s:
            raise InvalidRequest("an event's time must be a number")
        if not 0 <= priority <= TICK_PRIORITY or not 0 <= kind <= TICK:
            raise InvalidRequest(f"priority {priority} or kind {kind} is unknown")
        if self._size == self._time.shape[0]:
            self._grow(2 * self._size)
        cdef Py_ssize_t i = self._size, parent
        cdef long long sequence = self._next_sequence
        self._next_sequence += 1
        self._size += 1
        # Sift up: move parents down until the new event's place is found.
        while i > 0:
            parent = (i - 1) >> 1
            if (self._time[parent] < time_s
                    or (self._time[parent] == time_s and (self._priority[parent] < priority
                        or (self._priority[parent] == priority
                            and self._sequence[parent] < sequence)))):
                break
            self._copy(parent, i)
            i = parent
        self._time[i], self._priority[i], self._sequence[i] = time_s, priority, sequence
        self._kind[i], self._a[i], self._b[i], self._x[i] = kind, a, b, x
        return sequence

    cdef void _copy(self, Py_ssize_t source, Py_ssize_t target) noexcept nogil:
        self._time[target] = self._time[source]
        self._priority[target] = self._priority[source]
        self._sequence[target] = self._sequence[source]
        self._kind[target] = self._kind[source]
        self._a[target] = self._a[source]
        self._b[target] = self._b[source]
        self._x[target] = self._x[source]

    cdef bint _less(self, Py_ssize_t i, Py_ssize_t j) noexcept nogil:
        """Heap event i comes before heap event j."""
        if self._time[i] != self._time[j]:
            return self._time[i] < self._time[j]
        if self._priority[i] != self._priority[j]:
            return self._priority[i] < self._priority[j]
        return self._sequence[i] < self._sequence[j]

    cdef bint _heap_first(self) noexcept nogil:
        """The next event is the heap's (else the workload's). Requires a non-empty queue."""
        cdef double t
        cdef int p
        if self._w_next == self.n_workload:
            return True
        if self._size == 0:
            return False
        t = self._w_time[self._w_next]
        if self._time[0] != t:
            return self._time[0] < t
        p = priority_of_kind(self._w_kind[self._w_next])
        return self._priority[0] < p  # equal priority: the workload's lower sequence first

    cdef void _sift_down(self, Py_ssize_t i) noexcept nogil:
        cdef Py_ssize_t child
        while True:
            child = 2 * i + 1
            if child >= self._size:
                return
            if child + 1 < self._size and self._less(child + 1, child):
                child += 1
            if not self._less(child, i):
                return
            self._swap(i, child)
            i = child

    cdef void _swap(self, Py_ssize_t i, Py_ssize_t j) noexcept nogil:
        self._time[i], self._time[j] = self._time[j], self._time[i]
        self._priority[i], self._priority[j] = self._priority[j], self._priority[i]
        self._sequence[i], self._sequence[j] = self._sequence[j], self._sequence[i]
        self._kind[i], self._kind[j] = self._kind[j], self._kind[i]
        self._a[i], self._a[j] = self._a[j], self._a[i]
        self._b[i], self._b[j] = self._b[j], self._b[i]
        self._x[i], self._x[j] = self._x[j], self._x[i]

    def __len__(self):
        return self._size + self.n_workload - self._w_next

    def peek(self):
        """(time_s, priority, kind) of the next event, or None when the queue is empty."""
        if len(self) == 0:
            return None
        if self._heap_first():
            return self._time[0], self._priority[0], self._kind[0]
        kind = self._w_kind[self._w_next]
        return self._w_time[self._w_next], priority_of_kind(kind), kind

    def pop(self):
        """Remove the next event; returns (time_s, priority, sequence, kind, a, b, x)."""
        if len(self) == 0:
            raise IndexError("pop from an empty event queue")
        cdef Py_ssize_t w
        if not self._heap_first():
            w = self._w_next
            self._w_next += 1
            kind = self._w_kind[w]
            return self._w_time[w], priority_of_kind(kind), w, kind, self._w_row[w], 0, 0.0
        event = (self._time[0], self._priority[0], self._sequence[0], self._kind[0], self._a[0],
                 self._b[0], self._x[0])
        self._size -= 1
        if self._size:
            self._copy(self._size, 0)
            self._sift_down(0)
        return event

    cdef bint head_is_lifecycle(self, double until_s) noexcept nogil:
        """The next event is a workload arrival or departure before until_s."""
        if self._w_next == self.n_workload or self._w_time[self._w_next] >= until_s:
            return False
        return self._size == 0 or not self._heap_first()

    cdef signed char pop_lifecycle(self, long long* row, double* time_s) noexcept nogil:
        """Pop the workload event at the head (head_is_lifecycle was True): its kind."""
        cdef Py_ssize_t w = self._w_next
        self._w_next += 1
        row[0] = self._w_row[w]
        time_s[0] = self._w_time[w]
        return self._w_kind[w]

    def events(self):
        """Every pending event in queue order, as (time_s, priority, sequence, kind, a, b, x)
        tuples (for inspection and tests; the queue is unchanged)."""
        heap = sorted((self._time[i], self._priority[i], self._sequence[i], self._kind[i],
                       self._a[i], self._b[i], self._x[i]) for i in range(self._size))
        workload = [(self._w_time[w], priority_of_kind(self._w_kind[w]), w, self._w_kind[w],
                     self._w_row[w], 0, 0.0) for w in range(self._w_next, self.n_workload)]
        return sorted(heap + workload)

    def __reduce__(self):
        n = self._size
        state = {name: np.array(getattr(self, name + "_view")())[:n]
                 for name in ("_time", "_priority", "_sequence", "_kind", "_a", "_b", "_x")}
        state.update(w_time=np.asarray(self._w_time), w_kind=np.asarray(self._w_kind),
                     w_row=np.asarray(self._w_row), w_next=self._w_next,
                     next_sequence=self._next_sequence)
        return (_restore, (state,))

    def _restore_state(self, dict state):
        self._w_time, self._w_kind, self._w_row = state["w_time"], state["w_kind"], state["w_row"]
        self.n_workload = len(state["w_time"])
        self._w_next = state["w_next"]
        n = len(state["_time"])
        self._size = 0
        self._grow(max(64, n))
        for name in ("_time", "_priority", "_sequence", "_kind", "_a", "_b", "_x"):
            np.asarray(getattr(self, name + "_view")())[:n] = state[name]
        self._size = n
        self._next_sequence = state["next_sequence"]


def _restore(state):
    queue = EventQueue()
    queue._restore_state(state)
    return queue
