"""The lifecycle runner: the workload's arrivals and departures, natively, in queue order.

`run_lifecycle` pops events from the queue while the next one is a workload arrival or
departure before `until_s`, and applies each to the VM table (status, host, slot) and the
fleet, exactly as the simulation's Python handlers would one at a time:

- arrival: the policy decides (native filters and weighers, no Python plugins, no random
  subset); placed: running, and freed at once if its end equals its start (done, never
  measured, and not counted as a departure); not placed: rejected, with the filter that
  eliminated most hosts.
- departure: a running VM is freed; a migrating one frees both its allocations; done.
  Anything else (rejected, lost, done) is left as it is.

Rows whose measured set changes are written out (added: placed and still running; removed:
departed), so the tick can update its layout; the caller gives buffers at least `limit` long
and the runner stops after `limit` events, so they never overflow.
"""

from vmsched.engine._types cimport amount_t, index_t
from vmsched.engine.placement._placement cimport PlacementCore
from vmsched.engine.simulation._event_queue cimport ARRIVAL, DEPARTURE, EventQueue
from vmsched.engine.state._fleet cimport FleetState

from vmsched.errors import InvalidRequest

# Statuses of a workload row (the VM table's status column).
cpdef enum Status:
    PENDING = 0
    RUNNING = 1
    DONE = 2
    REJECTED = 3
    MIGRATING = 4
    LOST = 5


def run_lifecycle(EventQueue queue, PlacementCore core, double until_s, Py_ssize_t limit,
                  requests, start_s, end_s, tenant_index, list tenant_ids, list tenant_codes,
                  status, host, slot, target_slot, reason, rejections, added, removed):
    """Apply workload events from the queue's head (see the module doc).

    Per row: requests int64 [n, n_res]; start_s, end_s float64; tenant_index int32 (into
    tenant_ids; tenant_codes caches the fleet's code of each, -1 until registered); status
    int8; host, slot, target_slot int32; reason int16. rejections: int64 per filter. added,
    removed: int64 buffers of at least `limit` rows. Returns (events, arrivals, departures,
    n_added, n_removed)."""
    cdef FleetState fleet = core.fleet
    cdef const amount_t[:, ::1] q = requests
    cdef const double[::1] start = start_s
    cdef const double[::1] end = end_s
    cdef const index_t[::1] tenant_of = tenant_index
    cdef signed char[::1] status_of = status
    cdef index_t[::1] host_of = host
    cdef index_t[::1] slot_of = slot
    cdef index_t[::1] target_slot_of = target_slot
    cdef short[::1] reason_of = reason
    cdef amount_t[::1] rejected = rejections
    cdef long long[::1] added_rows = added
    cdef long long[::1] removed_rows = removed
    cdef Py_ssize_t n_rows = q.shape[0], f, best
    cdef Py_ssize_t events = 0, arrivals = 0, departures = 0, n_added = 0, n_removed = 0
    cdef long long r
    cdef double t
    cdef signed char kind
    cdef index_t h, code, vm
    if (q.shape[1] != fleet.n_resources or start.shape[0] != n_rows or end.shape[0] != n_rows
            or tenant_of.shape[0] != n_rows or status_of.shape[0] != n_rows
            or host_of.shape[0] != n_rows or slot_of.shape[0] != n_rows
            or target_slot_of.shape[0] != n_rows or reason_of.shape[0] != n_rows
            or rejected.shape[0] < max(core.n_filters, 1) or added_rows.shape[0] < limit
            or removed_rows.shape[0] < limit or core.host_subset_size != 1):
        raise InvalidRequest("run_lifecycle arrays do not match")
    # (No room is reserved in the fleet's VM table: commit grows it when no slot is free, and
    # under churn departures free slots as fast as arrivals take them.)
    while events < limit and queue.head_is_lifecycle(until_s):
        kind = queue.pop_lifecycle(&r, &t)
        events += 1
        if r < 0 or r >= n_rows:
            raise InvalidRequest(f"event row {r} is out of range")
        if kind == DEPARTURE:
            if status_of[r] == RUNNING or status_of[r] == MIGRATING:
                if status_of[r] == MIGRATING:
                    fleet.release_vm(target_slot_of[r])
                    target_slot_of[r] = -1
                fleet.release_vm(slot_of[r])
                status_of[r] = DONE
                removed_rows[n_removed] = r
                n_removed += 1
                departures += 1
            continue
        if status_of[r] != PENDING:
            continue
        arrivals += 1
        h = core.decide(&q[r, 0], 0.0)
        host_of[r] = h
        if h < 0:
            status_of[r] = REJECTED
            best = 0
            if core.fast < 0:
                for f in range(1, core.n_filters):
                    if core._eliminated[f] > core._eliminated[best]:
                        best = f
            reason_of[r] = <short>best
            rejected[best] += 1
            continue
        code = tenant_codes[tenant_of[r]]
        if code < 0:
            code = fleet.tenant_code(tenant_ids[tenant_of[r]])
            tenant_codes[tenant_of[r]] = code
        vm = fleet.commit(h, &q[r, 0], code)
        if end[r] == start[r]:          # placed and freed at once, never measured
            fleet.release_vm(vm)
            status_of[r] = DONE
            continue
        slot_of[r] = vm
        status_of[r] = RUNNING
        added_rows[n_added] = r
        n_added += 1
    return events, arrivals, departures, n_added, n_removed
