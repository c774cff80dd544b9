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


def _segment_sum(values, host_start):
    """Sum of values over each host's slice (0 for hosts without VMs)."""
    sums = np.add.reduceat(values, np.minimum(host_start[:-1], max(len(values) - 1, 0))) \
        if len(values) else np.zeros(len(host_start) - 1)
    return np.where(np.diff(host_start) > 0, sums, 0.0)


def numpy_fair_share(host_start, capacity, demand, shares, reservation, limit, iterations=60):
    """fair_share as a NumPy script would do it: bisection on every host's water level at once."""
    host_of = np.repeat(np.arange(len(host_start) - 1), np.diff(host_start))
    wanted = np.minimum(demand, limit)
    floor = np.minimum(reservation, wanted)
    contended = _segment_sum(wanted, host_start) > capacity
    low = np.zeros(len(capacity))
    high = np.zeros(len(capacity))
    np.maximum.at(high, host_of, wanted / shares)
    for _ in range(iterations):
        middle = (low + high) / 2
        grant = np.clip(middle[host_of] * shares, floor, wanted)
        over = _segment_sum(grant, host_start) > capacity
        high = np.where(over, middle, high)
        low = np.where(over, low, middle)
    grant = np.clip(low[host_of] * shares, floor, wanted)
    return np.where(contended[host_of], grant, wanted)


def numpy_esxi(host_start, guest_memory, host_memory, params, memory, active, touched,
               iterations=60):
    """The esxi model (default settings: no reservations, limit = memory, 10 shares per MiB)
    as a NumPy script would do it: bisection on every pressured host's level at once."""
    sharing, idle_tax, max_balloon, cache, ratio = params[:5]
    high_at, clear_at, soft_at, hard_at = params[5:9]
    base, knee, rest = params[10:13]
    host_of = np.repeat(np.arange(len(host_start) - 1), np.diff(host_start))
    touched = np.minimum(memory, np.maximum(touched, active))
    want = touched
    hot = np.minimum(active, want)
    shares = 10.0 * memory
    keep, k = 1 - sharing, 1 / (1 - idle_tax)
    min_free = base + rest * np.maximum(0.0, host_memory - knee)
    free0 = guest_memory - keep * _segment_sum(want, host_start)
    state = np.select([free0 >= high_at * min_free, free0 >= clear_at * min_free,
                       free0 >= soft_at * min_free, free0 >= hard_at * min_free],
                      [0, 1, 2, 3], 4)
    compress = (state >= 3)[host_of]
    floor = np.where((state == 2)[host_of], np.maximum(0.0, want - max_balloon * memory), 0.0)

    def held(x):
        y = shares * x[host_of]
        level = np.where(y >= hot, hot + (y - hot) / k, y)
        return np.clip(level, floor, want)

    def footprint(amounts):
        away = touched - amounts
        compressed = np.where(compress, np.clip(away - max_balloon * memory, 0.0, cache * memory),
                              0.0)
        return keep * _segment_sum(amounts, host_start) + _segment_sum(compressed, host_start) / ratio

    adjusted = np.where(want <= hot, want, hot + k * (want - hot)) / shares
    top = np.zeros(len(guest_memory))
    np.maximum.at(top, host_of, adjusted)
    target = guest_memory - min_free
    low, high = np.zeros_like(top), top.copy()
    for _ in range(iterations):
        middle = (low + high) / 2
        fits = footprint(held(middle)) <= target
        low = np.where(fits, middle, low)
        high = np.where(fits, high, middle)
    pressured = state >= 2
    amounts = held(np.where(pressured, low, top))
    # Resident memory never exceeds M (no reservations here: floors at 0).
    over = _segment_sum(amounts, host_start) > guest_memory
    if over.any():
        floor = np.zeros_like(want)
        ceiling = amounts
        low, high = np.zeros_like(top), top.copy()
        for _ in range(iterations):
            middle = (low + high) / 2
            fits = _segment_sum(np.minimum(ceiling, held(middle)), host_start) <= guest_memory
            low = np.where(fits, middle, low)
            high = np.where(fits, high, middle)
        amounts = np.where(over[host_of], np.minimum(ceiling, held(low)), amounts)
    return touched, amounts, state
