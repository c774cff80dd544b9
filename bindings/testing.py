"""Seeded generators of fleets and requests, shared by the tests and the benchmarks.

Every function takes a numpy.random.Generator, so the same seed gives the same data.
"""

import numpy as np

from vmsched.fleet import Fleet

#: vCPU counts of public-cloud VM flavors (Azure's 2017 trace spans 1-32 vCPUs).
AZURE_VCPUS = np.array([1, 2, 4, 8, 16, 32])
AZURE_VCPU_WEIGHTS = np.array([0.28, 0.36, 0.2, 0.1, 0.045, 0.015])
#: GiB of memory per vCPU of those flavors.
AZURE_GIB_PER_VCPU = np.array([0.75, 1.75, 2.0, 3.5, 4.0, 7.0, 8.0])


def azure_like_requests(rng, n_vms, *, disk_gib_per_vcpu=16):
    """int64 [n_vms, 3] requests (VCPU, MEMORY_MB, DISK_GB) shaped like Azure VM flavors:
    1-32 vCPUs, 0.75-8 GiB per vCPU."""
    vcpus = rng.choice(AZURE_VCPUS, size=n_vms, p=AZURE_VCPU_WEIGHTS)
    gib_per_vcpu = rng.choice(AZURE_GIB_PER_VCPU, size=n_vms)
    memory_mib = (vcpus * gib_per_vcpu * 1024).astype(np.int64)
    disk_gib = vcpus * disk_gib_per_vcpu
    return np.stack([vcpus, memory_mib, disk_gib], axis=1).astype(np.int64)


def uniform_fleet(n_hosts, *, vcpus=64, memory_mib=262144, disk_gib=4096, overcommit="nova"):
    """A fleet of identical hosts (default: 64 pCPUs, 256 GiB, 4 TiB, Nova's ratios)."""
    return Fleet.uniform(n_hosts, vcpus=vcpus, memory_mib=memory_mib, disk_gib=disk_gib,
                         overcommit=overcommit)


def mixed_fleet(rng, n_hosts, *, n_shapes=4):
    """A fleet of a few host shapes (pCPUs 16-128, 4-8 GiB per pCPU), Nova's ratios."""
    pcpus = rng.choice([16, 32, 48, 64, 96, 128], size=n_shapes)
    gib = rng.choice([4, 6, 8], size=n_shapes) * pcpus
    shapes = np.stack([pcpus, gib * 1024, pcpus * 64], axis=1)
    total = shapes[rng.integers(0, n_shapes, size=n_hosts)]
    return Fleet(total.astype(np.int64), reserved={"MEMORY_MB": 512},
                 allocation_ratio={"VCPU": 4.0})


def snapshot(fleet):
    """The fleet's meaning as plain nested tuples (arrays as dtype, shape and bytes): equal
    exactly when two fleets hold the same inventories, VMs, tenants, free slots and settings.
    (Pickled bytes are not a fair test: NumPy may memoize dtype objects differently.)"""
    state = fleet.__reduce__()[1][1]
    items = list(state.items())
    settings = getattr(fleet, "vm_settings", None)
    if settings is not None:
        live = settings.generation >= 0
        items.append(("settings", settings.values[live], settings.generation[live]))
    if hasattr(fleet, "host_names"):
        items.append(("host_names", tuple(fleet.host_names)))
    return tuple(_plain(item) for item in items)


def _plain(value):
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value
