"""The quickstart: 10,000 Azure-shaped VMs onto 500 hosts under Nova's overcommit, best fit.

Run with `python -m vmsched`. Prints where the VMs went, the realised overcommit, stranded
capacity and the per-tenant allocation, then checks every accounting invariant.
"""

import numpy as np

from vmsched import Fleet, Placer
from vmsched.testing import azure_like_requests


def main(seed=0):
    rng = np.random.default_rng(seed)
    fleet = Fleet.uniform(500, vcpus=64, memory_mib=256 * 1024, disk_gib=4096,
                          overcommit="nova")                      # cpu 4.0, ram 1.0, 512 MiB
    placer = Placer(fleet, "best_fit")                            # natively indexed policy
    requests = azure_like_requests(rng, 10_000)                   # (vCPUs, MiB, GiB) per VM
    tenants = [f"tenant-{t}" for t in rng.integers(0, 5, size=len(requests))]
    batch = placer.place_many(requests, tenants=tenants)          # in order, like a loop
    print(f"{fleet!r}: placed {int((~batch.rejected).sum()):,} VMs, rejected "
          f"{int(batch.rejected.sum()):,}, {int((fleet.host_vm_count > 0).sum())} hosts in use")
    print("\nwhy the first rejections failed (hosts each filter eliminated):")
    print(batch.reasons().head(3).to_string())
    print("\nrealised overcommit (used / (total - reserved)) on hosts in use:")
    print(fleet.realised_overcommit().round(3).to_string())
    print("\nstranded capacity for the most common VM shape:")
    print(fleet.stranded_capacity().to_string())
    print("\nallocated per tenant:")
    print(fleet.tenant_usage().sort_index().to_string())
    fleet.check_invariants()
    return fleet


if __name__ == "__main__":
    main()
