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
