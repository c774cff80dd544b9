"""Sizing at sweep scale: find_min_hosts against one placement-only replay on the fleet size it
finds, measured in the same run (target: sizing <= 1.5 x that replay), and the search it
replaced (doubling and bisection, about 11 replays at 1M VMs).

N synthetic VMs over D days (default 1M over 30), 64-pCPU, 256-GiB hosts with Nova's
overcommit, best_fit. Prints seconds (min over --repeat runs), the ratios, and peak RSS.

Usage: python bench/sizing_run.py [--vms 1000000] [--days 30] [--policy best_fit]
                                  [--repeat 3] [--quick]
"""

import argparse
import resource
import time

from vmsched import Fleet
from vmsched.simulation import replay_placement
from vmsched.simulation.sizing import find_min_hosts
from vmsched.workload.synthetic import synthetic_workload

HOST = dict(vcpus=64, memory_mib=262144, disk_gib=0, overcommit="nova")


def best_of(repeat, function):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--policy", default="best_fit")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="CI smoke: 20k VMs, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.vms, args.days, args.repeat = 20_000, 7.0, 1
    workload = synthetic_workload(args.vms, args.days, seed=0)
    find_min_hosts(synthetic_workload(500, 1.0, seed=0), policy=args.policy, **HOST)  # warm
    print(f"sizing {args.vms:,} synthetic VMs over {args.days:g} days, {args.policy}, "
          f"64-pCPU 256-GiB hosts (nova); min of {args.repeat} runs")
    sizing_s, sizing = best_of(args.repeat, lambda: find_min_hosts(
        workload, policy=args.policy, **HOST))
    replay_s, (rejected, _) = best_of(args.repeat, lambda: replay_placement(
        Fleet.uniform(sizing.n_hosts, **HOST), args.policy, workload))
    assert rejected == 0
    search_s, search = best_of(1, lambda: find_min_hosts(
        workload, policy=args.policy, method="search", **HOST))
    assert search.n_hosts == sizing.n_hosts
    rows = [
        ("answer", f"{sizing.n_hosts:,} hosts (lower bound {sizing.lower_bound:,}; "
                   f"{sizing.method})"),
        ("find_min_hosts", f"{sizing_s:7.2f} s"),
        (f"one placement-only replay on {sizing.n_hosts:,} hosts", f"{replay_s:7.2f} s"),
        ("sizing / one replay", f"{sizing_s / replay_s:7.2f}x  target <= 1.5"),
        (f"the search ({len(search.trials)} replays, same answer)",
         f"{search_s:7.2f} s  ({search_s / sizing_s:.1f}x the sizing)"),
        ("peak RSS", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MiB"),
    ]
    for label, value in rows:
        print(f"  {label:<44} {value}")

if __name__ == "__main__":
    main()
