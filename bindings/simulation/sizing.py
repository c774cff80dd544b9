"""Fleet sizing: the smallest fleet of one host shape that places a workload with no rejection.

Each trial replays the workload's arrivals and departures through the placement policy (no
host models), natively. For first_fit and best_fit on identical hosts the answer comes from
one replay: on identical hosts both open a new host only when no host in use fits (best fit
prefers any host in use that fits to an empty one, whose free capacity is the largest in every
class; ties go to the lowest index), and then open the empty host of lowest index. So the
hosts ever used are always the first k, a larger fleet never changes a decision, and a fleet
of n hosts rejects a VM exactly when the replay on a larger fleet uses more than n: the
answer is the number of hosts that replay used, on a fleet of twice the lower bound (at least
8 hosts more; doubled while it rejects). Other policies search: from a lower bound (the peak
concurrent request of each resource class over one host's capacity), doubling until a size
places everything, then bisecting; this assumes that adding hosts never causes a rejection,
which holds for the fast policies on identical hosts (more empty hosts only add choices).
"""

from dataclasses import dataclass

import numpy as np

from vmsched import _validate
from vmsched.errors import InvalidRequest, shown
from vmsched.fleet import Fleet
from vmsched.simulation import replay_placement


@dataclass
class Sizing:
    """n_hosts: the smallest fleet with no rejection; lower_bound: from peak demand;
    trials: {n_hosts tried: rejections}; method: 'one replay' or 'search'."""

    n_hosts: int
    lower_bound: int
    trials: dict
    method: str = "search"


#: Policies whose minimum fleet of identical hosts comes from one replay (module doc).
ONE_REPLAY_POLICIES = ("first_fit", "best_fit")


def find_min_hosts(workload, *, policy="best_fit", max_hosts=10_000_000, method="auto",
                   progress=None, **host):
    """The smallest number of hosts of shape `host` (Fleet.uniform's arguments: vcpus,
    memory_mib, disk_gib, overcommit, ...) on which `policy` places every VM of `workload`.
    method: 'auto' (one replay for first_fit and best_fit, else search), 'replay' or
    'search'; progress: a progress-bar factory (total=) shown over each replay's events."""
    max_hosts = _validate.integer("max_hosts", max_hosts, minimum=1)
    if method not in ("auto", "replay", "search"):
        raise InvalidRequest(f"method {shown(method)} is not one of auto, replay, search")
    one_replay = isinstance(policy, str) and policy in ONE_REPLAY_POLICIES
    if method == "replay" and not one_replay:
        raise InvalidRequest(f"method 'replay' is for {' and '.join(ONE_REPLAY_POLICIES)}, "
                             f"not {shown(policy)}")
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
    if one_replay and method != "search":
        return _from_one_replay(workload, policy, host, bound, max_hosts, progress)

    def rejections(n):
        if n not in trials:
            trials[n] = replay_placement(Fleet.uniform(n, **host), policy, workload,
                                         progress)[0]
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


def _from_one_replay(workload, policy, host, bound, max_hosts, progress):
    """The hosts one replay uses on a fleet large enough to reject nothing (module doc)."""
    size = min(max(2 * bound, bound + 8), max_hosts)
    trials = {}
    while True:
        rejected, used = replay_placement(Fleet.uniform(size, **host), policy, workload,
                                          progress)
        trials[size] = rejected
        if rejected == 0:
            return Sizing(max(used, 1), bound, trials, "one replay")
        if size >= max_hosts:
            raise InvalidRequest(f"even {max_hosts} hosts reject VMs")
        size = min(2 * size, max_hosts)


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
