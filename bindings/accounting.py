"""Fleet-level accounting: realised overcommit and stranded capacity.

These are reports over the fleet's arrays, exact integer sums; the hot accounting itself
(used, capacity, per-tenant totals) is kept by the engine on every operation.
"""

from collections import Counter

import numpy as np
import pandas as pd

from vmsched import _validate
from vmsched.errors import InvalidRequest, shown


def realised_overcommit(fleet, per_host=False, scope="in_use"):
    """used / (total - reserved) per class; see Fleet.realised_overcommit."""
    usable = (fleet.total - fleet.reserved).astype(np.float64)
    used = fleet.used.astype(np.float64)
    columns = pd.Index(fleet.resources, name="resource")
    if per_host:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(usable > 0, used / np.where(usable > 0, usable, 1), np.nan)
        return pd.DataFrame(ratio, index=fleet.host_names, columns=columns)
    if scope == "in_use":
        hosts = fleet.host_vm_count > 0
    elif scope == "all":
        hosts = np.ones(fleet.n_hosts, dtype=bool)
    else:
        raise InvalidRequest(f"scope = {shown(scope)} is neither 'in_use' nor 'all'")
    usable_sum = usable[hosts].sum(axis=0)
    used_sum = used[hosts].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(usable_sum > 0, used_sum / np.where(usable_sum > 0, usable_sum, 1), np.nan)
    return pd.Series(ratio, index=columns, name="realised_overcommit")


def most_common_shape(fleet):
    """The most common request among the allocated VMs (ties: the smallest, lexicographically)."""
    live = fleet.live_vms()
    if live.size == 0:
        raise InvalidRequest("shape is required: the fleet has no VMs to take the most common "
                             "shape from")
    counts = Counter(map(tuple, fleet.vm_request[live].tolist()))
    best = max(counts.values())
    return min(shape for shape, count in counts.items() if count == best)


def class_fits(fleet, shape):
    """bool [n_hosts, n_resources]: whether each class alone admits `shape` on each host
    (Placement's rule per class; a class the shape does not ask for always admits it)."""
    amount = shape[np.newaxis, :]
    free = fleet.capacity - fleet.used
    ok = ((amount <= free) & (amount >= fleet.min_unit) & (amount <= fleet.max_unit)
          & (amount % fleet.step_size == 0))
    return ok | (amount == 0)


def stranded_capacity(fleet, shape=None):
    """Free capacity of each class on hosts where `shape` does not fit because another class
    refuses it; see Fleet.stranded_capacity."""
    if shape is None:
        shape = most_common_shape(fleet)
    shape = _validate.whole_numbers("shape", shape, labels=(fleet.resources,))
    if shape.shape != (fleet.n_resources,):
        raise InvalidRequest(f"shape has {shape.size} amounts; this fleet has "
                             f"{fleet.n_resources} resource classes {fleet.resources}")
    ok = class_fits(fleet, shape)
    free = np.maximum(fleet.capacity - fleet.used, 0)
    n_refusing = (~ok).sum(axis=1, keepdims=True)
    # A class is stranded on a host when some *other* class refuses the shape there.
    refused_by_other = (n_refusing - (~ok)) > 0
    stranded_free = np.where(refused_by_other, free, 0)
    stranded = stranded_free.sum(axis=0)
    free_total = free.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(free_total > 0, stranded / np.where(free_total > 0, free_total, 1),
                            0.0)
    return pd.DataFrame({
        "stranded": stranded,
        "free": free_total,
        "stranded_fraction": fraction,
        "hosts": (stranded_free > 0).sum(axis=0),
    }, index=pd.Index(fleet.resources, name="resource")).assign(
        shape=shape)
