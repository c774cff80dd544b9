"""Fleet sizing: the smallest fleet of one host shape that places a workload with no rejection.

Each trial replays the workload's arrivals and departures through the placement policy (no
host models), natively. The search starts from a lower bound (the peak concurrent request of
each resource class over one host's capacity), doubles until a size places everything, then
bisects; the answer is checked. It assumes that adding hosts never causes a rejection, which
holds for the fast policies on identical hosts (more empty hosts only add choices).
"""

from dataclasses import dataclass

import numpy as np

from vmsched import _validate
from vmsched.errors import InvalidRequest, shown
from vmsched.fleet import Fleet
from vmsched.simulation import run_placement_only


@dataclass
class Sizing:
    """n_hosts: the smallest fleet with no rejection; lower_bound: from peak demand;
    trials: {n_hosts tried: rejections}."""

    n_hosts: int
    lower_bound: int
    trials: dict


def find_min_hosts(workload, *, policy="best_fit", max_hosts=10_000_000, **host):
    """The smallest number of hosts of shape `host` (Fleet.uniform's arguments: vcpus,
    memory_mib, disk_gib, overcommit, ...) on which `policy` places every VM of `workload`."""
    max_hosts = _validate.integer("max_hosts", max_hosts, minimum=1)
    probe = Fleet.uniform(1, **host)
    requests = workload.requests(probe.resources)
    misfits = ~_fits_empty_host(probe, requests)
    if misfits.any():
        first = int(np.argmax(misfits))
        raise InvalidRequest(f"{int(misfits.sum())} VMs fit on no empty host of this shape "
                             f"(e.g. vm {shown(workload.table['vm_id'][first])} asks for "
                             f"{requests[first].tolist()} of {probe.resources})")
    low = bound = max(1, _lower_bound(workload, requests, probe))
    trials = {}

    def rejections(n):
        if n not in trials:
            trials[n] = run_placement_only(Fleet.uniform(n, **host), policy, workload)
        return trials[n]

    high = low
    while rejections(high) > 0:
        if high >= max_hosts:
            raise InvalidRequest(f"even {max_hosts} hosts reject VMs")
        low, high = high, min(2 * high, max_hosts)
    if high != low or rejections(low) > 0:
        while high - low > 1:
            middle = (low + high) // 2
            if rejections(middle) > 0:
                low = middle
            else:
                high = middle
    return Sizing(high, bound, dict(sorted(trials.items())))


def _fits_empty_host(probe, requests):
    capacity, max_unit = probe.capacity[0], probe.max_unit[0]
    min_unit, step = probe.min_unit[0], probe.step_size[0]
    ok = ((requests <= capacity) & (requests <= max_unit) & (requests >= min_unit)
          & (requests % step == 0)) | (requests == 0)
    return ok.all(axis=1)


def _lower_bound(workload, requests, probe):
    """max over classes of ceil(peak concurrent request / one host's capacity)."""
    start = workload.table["start_s"].to_numpy()
    end = workload.table["end_s"].to_numpy()
    ends = np.where(np.isfinite(end), end, np.inf)
    times = np.concatenate([start, ends])
    order = np.lexsort((np.concatenate([np.ones(len(start)), np.zeros(len(ends))]), times))
    signs = np.concatenate([requests, -requests])[order]
    peak = np.cumsum(signs, axis=0).max(axis=0)
    capacity = probe.capacity[0].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        hosts = np.where(capacity > 0, np.ceil(peak / np.where(capacity > 0, capacity, 1)), 0)
    return int(hosts.max())
