"""The embedded default workload: a seeded synthetic generator fitted to Azure's 2017 traces.

Parameters (numbers only) ship in vmsched/data/azure2017_synthetic.json, fitted by
tools/fit_synthetic.py: flavor mix, batch sizes, the daily arrival profile, lifetimes (per
trace bin, uniform within a bin; a share stays to the end) and CPU utilisation (per-VM level
~ Beta, a daily profile, noise). Memory activity is not in those traces: each VM gets a
constant active fraction drawn uniformly from [0.2, 0.6].
"""

import json
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from vmsched import _validate
from vmsched.workload.utilization import ConstantUtilization, SyntheticUtilization
from vmsched.workload.workload import Workload

SLOTS_PER_DAY = 288


@lru_cache(maxsize=1)
def azure2017_parameters():
    """The fitted parameters (a dict; see the module doc)."""
    text = resources.files("vmsched").joinpath("data/azure2017_synthetic.json").read_text()
    return json.loads(text)


def synthetic_workload(n_vms=10_000, days=7.0, seed=0, n_tenants=None, params=None):
    """n_vms VMs arriving over `days` days, shaped like Azure 2017 (see the module doc).

    Batches (one tenant, one moment, one flavor) arrive at times drawn from the daily arrival
    profile; each VM's lifetime is drawn independently. Same arguments, same workload.
    """
    n_vms = _validate.integer("n_vms", n_vms, minimum=1, maximum=2**31 - 2)
    days = float(days)
    if not np.isfinite(days) or days <= 0:
        raise _validate.InvalidRequest(f"days = {days} must be > 0")
    seed = _validate.integer("seed", seed, minimum=0)
    p = params or azure2017_parameters()
    rng = np.random.default_rng(seed)
    # Batches until n_vms VMs (the last one cut short).
    sizes = np.array(p["batch_size"]["sizes"])
    size_p = np.array(p["batch_size"]["probabilities"])
    mean_size = float(sizes @ size_p)
    batch_sizes = rng.choice(sizes, size=int(n_vms / mean_size * 1.2) + 16, p=size_p / size_p.sum())
    while batch_sizes.sum() < n_vms:
        batch_sizes = np.concatenate([batch_sizes, rng.choice(sizes, size=len(batch_sizes),
                                                              p=size_p / size_p.sum())])
    cut = int(np.searchsorted(np.cumsum(batch_sizes), n_vms)) + 1
    batch_sizes = batch_sizes[:cut]
    batch_sizes[-1] -= batch_sizes.sum() - n_vms
    n_batches = len(batch_sizes)
    # When: a 5-minute slot weighted by the daily profile, then uniform within it.
    profile = np.array(p["arrival_daily_profile"])
    n_slots = max(1, int(np.ceil(days * SLOTS_PER_DAY)))
    weights = profile[np.arange(n_slots) % SLOTS_PER_DAY]
    width = np.ones(n_slots)
    width[-1] = days * SLOTS_PER_DAY - (n_slots - 1)  # the last slot may be a part-slot
    weights = weights * width
    slots = np.sort(rng.choice(n_slots, size=n_batches, p=weights / weights.sum()))
    batch_start = (slots + rng.random(n_batches) * width[slots]) * 300.0
    # What: one flavor and one tenant per batch.
    flavors = p["flavors"]
    flavor_p = np.array([f["probability"] for f in flavors])
    batch_flavor = rng.choice(len(flavors), size=n_batches, p=flavor_p / flavor_p.sum())
    n_tenants = n_tenants or max(10, n_vms // 200)
    tenant_weights = 1.0 / np.arange(1, n_tenants + 1)  # a few large tenants, many small
    batch_tenant = rng.choice(n_tenants, size=n_batches, p=tenant_weights / tenant_weights.sum())
    # Per VM.
    vm_batch = np.repeat(np.arange(n_batches), batch_sizes)
    start = batch_start[vm_batch]
    bins = p["lifetime_bins"]
    bin_p = np.array([b["probability"] for b in bins] + [p["open_ended_probability"]])
    which = rng.choice(len(bin_p), size=n_vms, p=bin_p / bin_p.sum())
    low = np.array([b["min_s"] for b in bins] + [np.inf])[which]
    high = np.array([b["max_s"] for b in bins] + [np.inf])[which]
    open_ended = ~np.isfinite(low)
    span = np.where(open_ended, 0.0, high - np.where(open_ended, 0.0, low))
    lifetime = np.where(open_ended, np.nan,
                        np.where(open_ended, 0.0, low) + rng.random(n_vms) * span)
    lifetime = np.maximum(lifetime, 60.0)
    vcpus = np.array([f["vcpus"] for f in flavors])[batch_flavor][vm_batch]
    memory = (np.array([f["memory_gib"] for f in flavors]) * 1024).astype(np.int64)
    table = pd.DataFrame({
        "vm_id": np.arange(n_vms), "tenant": batch_tenant[vm_batch],
        "start_s": start, "end_s": start + lifetime,
        "VCPU": vcpus.astype(np.int64), "MEMORY_MB": memory[batch_flavor][vm_batch],
    })
    a, b = p["cpu"]["level_beta"]
    cpu = SyntheticUtilization(rng.beta(a, b, size=n_vms), p["cpu"]["daily_profile"],
                               p["cpu"]["noise_cv"], seed=seed)
    memory_active = ConstantUtilization(rng.uniform(0.2, 0.6, size=n_vms))
    return Workload(table, cpu=cpu, memory=memory_active, horizon_s=days * 86400.0,
                    name=f"synthetic Azure-2017-like, {n_vms} VMs over {days:g} days, seed {seed}")
