"""The quickstart: 10,000 Azure-shaped VMs first-fit onto 500 hosts under Nova's overcommit.

Run with `python -m vmsched`. Prints the realised overcommit, stranded capacity and the
per-tenant allocation, then checks every accounting invariant.
"""

import numpy as np

from vmsched import Fleet
from vmsched.testing import azure_like_requests


def main(seed=0):
    rng = np.random.default_rng(seed)
    fleet = Fleet.uniform(500, vcpus=64, memory_mib=256 * 1024, disk_gib=4096,
                          overcommit="nova")                      # cpu 4.0, ram 1.0, 512 MiB
    requests = azure_like_requests(rng, 10_000)                   # (vCPUs, MiB, GiB) per VM
    tenants = rng.integers(0, 5, size=len(requests))
    placed = rejected = 0
    for request, tenant in zip(requests.tolist(), tenants.tolist()):
        hosts = np.flatnonzero(fleet.fits(request))               # Placement's rule, all hosts
        if hosts.size == 0:
            rejected += 1
            continue
        fleet.allocate(hosts[0], request, tenant=f"tenant-{tenant}")   # first fit
        placed += 1
    print(f"{fleet!r}: placed {placed:,} VMs, rejected {rejected:,}, "
          f"{int((fleet.host_vm_count > 0).sum())} hosts in use")
    print("\nrealised overcommit (used / (total - reserved)) on hosts in use:")
    print(fleet.realised_overcommit().round(3).to_string())
    print("\nstranded capacity for the most common VM shape:")
    print(fleet.stranded_capacity().to_string())
    print("\nallocated per tenant:")
    print(fleet.tenant_usage().to_string())
    fleet.check_invariants()
    return fleet


if __name__ == "__main__":
    main()
