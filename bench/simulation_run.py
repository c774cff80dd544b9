"""The capacity planner's run at scale: a synthetic workload of N VMs over D days at 5-minute
ticks, on the smallest fleet (find_min_hosts) of 64-pCPU, 256-GiB hosts with Nova's
overcommit, a placement policy (default best fit), fair-share CPU and ESXi memory. Prints the time of each phase, VM-ticks
per second end to end and the peak RSS.

Usage: python bench/simulation_run.py [--vms 1000000] [--days 30] [--seed 0] [--policy P]
                                     [--out DIR]
"""

import argparse
import hashlib
import resource
import time
from pathlib import Path

from vmsched import Fleet, HostModels, Placer
from vmsched.simulation import Simulation
from vmsched.simulation.sizing import find_min_hosts
from vmsched.workload.synthetic import synthetic_workload

HOST = dict(vcpus=64, memory_mib=262144, disk_gib=0, overcommit="nova")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vms", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="best_fit")
    parser.add_argument("--out", default=None, help="write the result Parquet files here")
    args = parser.parse_args()
    start = time.perf_counter()
    workload = synthetic_workload(args.vms, args.days, seed=args.seed)
    generated = time.perf_counter()
    sizing = find_min_hosts(workload, policy=args.policy, **HOST)
    sized = time.perf_counter()
    fleet = Fleet.uniform(sizing.n_hosts, **HOST)
    sim = Simulation(fleet, Placer(fleet, args.policy, seed=args.seed), HostModels(threads=1),
                     workload, tick_s=300, duration_s=args.days * 86400)
    results = sim.run()
    simulated = time.perf_counter()
    vm_ticks = int(results.vms["ticks"].sum())
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"workload: {args.vms:,} VMs over {args.days:g} days ({sim.n_ticks:,} ticks), "
          f"policy {args.policy}, "
          f"generated in {generated - start:.1f} s")
    print(f"fleet: {sizing.n_hosts:,} hosts (lower bound {sizing.lower_bound:,}; "
          f"{len(sizing.trials)} placement-only trials in {sized - generated:.1f} s)")
    print(f"simulation: {simulated - sized:.1f} s wall, {vm_ticks:,} VM-ticks, "
          f"{vm_ticks / (simulated - sized) / 1e6:.1f} M VM-ticks/s end to end "
          f"(target >= 20 M/s)")
    print(f"total wall time {simulated - start:.1f} s; peak RSS {peak_rss_mib:,.0f} MiB "
          f"(target <= 2048 MiB)")
    summary = results.summary()
    for key in ("VMs rejected", "hosts in use, peak", "CPU ready p99 (fraction of demand)",
                "memory swapped GiB-hours"):
        print(f"  {key}: {summary[key]}")
    if args.out:
        paths = results.to_parquet(args.out)
        for path in paths:
            print(f"  sha256 {hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]} "
                  f"{path.name}")


if __name__ == "__main__":
    main()
