"""Dynamic consolidation beyond CloudSim: a synthetic workload whose VMs (1 to 32 vCPUs)
arrive and leave over a month, pre-copy live migration, on the fleet `find_min_hosts` sizes.

Builds `synthetic_workload(--vms, --days)` (Azure-2017-shaped arrivals, lifetimes, flavors
and CPU utilisation), sizes a fleet of 64-pCPU, 256-GiB hosts with best_fit and no overcommit
(every VM gets its vCPUs and memory by allocation), then runs the consolidation policy on it
with the `precopy` migration model over 10 Gbit/s links: VMs are placed by the power-aware
rule when they arrive, hosts switch off when emptied. Prints the fleet, every summary figure
(energy, SLA metrics, migrations, downtime, VMs not placed), the wall times and the peak RSS.
The energy of the same fleet without consolidation (`dvfs`) is printed beside it.

Usage: python bench/consolidation_synthetic.py [--vms 100000] [--days 30] [--policy lr-mmt-1.2]
                                               [--quick]
"""

import argparse
import resource
import time

from vmsched import Fleet
from vmsched.simulation import consolidate
from vmsched.simulation.sizing import find_min_hosts
from vmsched.workload.synthetic import synthetic_workload

HOST = dict(vcpus=64, memory_mib=262144, disk_gib=0, overcommit="none")
SHOWN = ("hosts", "VMs", "energy kWh", "migrations", "SLATAH %", "PDM %", "SLAV %", "ESV",
         "host shutdowns", "mean time before a host shutdown s", "mean migration duration s",
         "MiB transferred", "migration downtime s", "overall SLA violation %",
         "VMs not placed", "VMs delayed", "mean delay s", "VMs finished",
         "anti-affinity violations", "simulated s")


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--policy", default="lr-mmt-1.2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="CI smoke: 2,000 VMs, 2 days")
    args = parser.parse_args()
    if args.quick:
        args.vms, args.days = 2_000, 2.0
    started = time.perf_counter()
    workload = synthetic_workload(args.vms, args.days, seed=args.seed)
    sizing = find_min_hosts(workload, **HOST)
    fleet = Fleet.uniform(sizing.n_hosts, **HOST)
    prepared = time.perf_counter() - started
    print(f"{args.vms:,} synthetic VMs over {args.days:g} days; {sizing.n_hosts:,} hosts of "
          f"64 pCPUs, 256 GiB (find_min_hosts, best_fit, no overcommit) in {prepared:.1f} s")
    duration = args.days * 86400.0
    runs = {}
    for policy in (args.policy, "dvfs"):
        started = time.perf_counter()
        runs[policy] = consolidate(workload, policy, fleet=fleet, migration="precopy",
                                   bandwidth_mbps=10_000.0, duration_s=duration)
        print(f"  {policy}: {time.perf_counter() - started:.1f} s wall "
              f"(engine {runs[policy].wall_s:.1f} s)")
    summary = runs[args.policy].summary
    baseline = runs["dvfs"].summary
    print(f"  {'':<38} {args.policy:>16} {'dvfs':>16}")
    for key in SHOWN:
        a, b = summary[key], baseline[key]
        show = (lambda x: f"{x:16,.5g}") if isinstance(a, float) else (lambda x: f"{x:>16,}")
        print(f"  {key:<38} {show(a)} {show(b)}")
    lost = int(summary["VMs not placed"])
    print(f"  VMs lost (never placed): {lost}; peak RSS {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
