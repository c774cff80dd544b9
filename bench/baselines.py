"""Plain-NumPy baselines, the way one would write them by hand, for ratios in bench/run.py.

They implement the same Placement rule as the engine (tests check that they agree), so a ratio
compares like with like.
"""

import numpy as np


class NumpyFleet:
    """Placement accounting with NumPy arrays: free[h, r] = capacity - used."""

    def __init__(self, fleet):
        self.free = fleet.free.copy()
        self.min_unit = fleet.min_unit.astype(np.int64)
        self.max_unit = fleet.max_unit.copy()
        self.step_size = fleet.step_size.astype(np.int64)
        self.vm_host = {}
        self.vm_request = {}
        self.next_vm = 0

    def fits(self, request):
        request = np.asarray(request)
        ok = ((request <= self.free) & (request >= self.min_unit) & (request <= self.max_unit)
              & (request % self.step_size == 0))
        return (ok | (request == 0)).all(axis=1)

    def allocate(self, host, request):
        request = np.asarray(request)
        row_ok = ((request <= self.free[host]) & (request >= self.min_unit[host])
                  & (request <= self.max_unit[host]) & (request % self.step_size[host] == 0))
        if not (row_ok | (request == 0)).all():
            raise ValueError("does not fit")
        self.free[host] -= request
        vm = self.next_vm
        self.next_vm += 1
        self.vm_host[vm] = host
        self.vm_request[vm] = request
        return vm

    def release(self, vm):
        self.free[self.vm_host.pop(vm)] += self.vm_request.pop(vm)


ONE = 2**32


def numpy_place(fleet_free, fleet_used, min_unit, max_unit, step_size, requests, policy):
    """The hand-written NumPy way: per request, a fit mask over all hosts, a score, argmax.

    Scores are the same fixed-point integers the engine uses, so decisions can be compared.
    Mutates fleet_free / fleet_used; returns the chosen hosts (-1 when nothing fits).
    """
    capacity = fleet_free + fleet_used
    safe_capacity = np.where(capacity > 0, capacity, 1)
    hosts = np.full(len(requests), -1, dtype=np.int64)
    for i, request in enumerate(requests):
        asked = request > 0
        fits = (((request <= fleet_free) & (request >= min_unit) & (request <= max_unit)
                 & (request % step_size == 0)) | ~asked).all(axis=1)
        candidates = np.flatnonzero(fits)
        if candidates.size == 0:
            continue
        if policy == "first_fit":
            host = candidates[0]
        else:
            free = fleet_free[candidates]
            cap = safe_capacity[candidates]
            has_capacity = capacity[candidates] > 0
            key = np.where(has_capacity, np.maximum((free * ONE) // cap, -ONE), 0).sum(axis=1)
            requested = np.where(asked, (request * ONE) // cap, 0).sum(axis=1)
            score = key - requested
            host = candidates[np.argmin(score) if policy == "best_fit" else np.argmax(score)]
        hosts[i] = host
        fleet_free[host] -= request
        fleet_used[host] += request
    return hosts
