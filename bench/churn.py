"""Placement under churn: fill a fleet, then a day of arrivals each matched by a departure.

Usage: python bench/churn.py [--hosts N] [--churn N] [--fill F] [--shapes] [--policies ...]

The fleet: N identical hosts (64 pCPUs, 256 GiB, 4 TiB, Nova's ratios). The workload:
Azure-shaped VMs (1-32 vCPUs, 0.75-8 GiB per vCPU) arriving at t = 0 until they ask for the
fraction F of the fleet's memory, then --churn arrivals spread over a day, each at the moment
a uniformly random running VM departs. Placement only (`Simulation(..., host_models=None)`).
--shapes gives every VM its own memory size in 128 MiB steps (thousands of distinct request
shapes) instead of the flavour table's few dozen.

Printed per policy: the fill's decisions per second (place_many), the churn's events
(arrivals + departures) per second, the churn rate as a ratio of first_fit's in the same run,
the VMs that fit nowhere over the whole run (equal for equal decisions), and the index's
bytes per host.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from vmsched import Placer  # noqa: E402
from vmsched.simulation import Simulation  # noqa: E402
from vmsched.workload import Workload  # noqa: E402
from vmsched.testing import azure_like_requests, uniform_fleet  # noqa: E402

POLICIES = ("first_fit", "best_fit", "worst_fit", "dot_product")
DAY_S = 86_400.0


def churn_workload(n_hosts, n_churn, fill, distinct_shapes=False, seed=0):
    """(Workload, number of VMs arriving at t = 0). Departures pick uniformly among the VMs
    running at that moment (all placed: the fill leaves room)."""
    rng = np.random.default_rng(seed)
    capacity_mib = n_hosts * (262_144 - 512)
    mean_mib = azure_like_requests(np.random.default_rng(1), 10_000)[:, 1].mean()
    n_fill = int(fill * capacity_mib / mean_mib)
    requests = azure_like_requests(rng, n_fill + n_churn)
    if distinct_shapes:
        per_vcpu = rng.integers(6, 65, size=len(requests)) * 128      # 0.75-8 GiB per vCPU
        requests[:, 1] = requests[:, 0] * per_vcpu + rng.integers(0, 8, len(requests)) * 128
    start = np.zeros(len(requests))
    end = np.full(len(requests), np.nan)
    times = np.sort(rng.uniform(1.0, DAY_S, n_churn))
    start[n_fill:] = times
    live = np.arange(n_fill)
    picks = rng.integers(0, n_fill, n_churn)         # the running set keeps n_fill VMs
    for k in range(n_churn):
        end[live[picks[k]]] = times[k]
        live[picks[k]] = n_fill + k
    table = pd.DataFrame({"vm_id": np.arange(len(requests)), "start_s": start, "end_s": end,
                          "VCPU": requests[:, 0], "MEMORY_MB": requests[:, 1],
                          "DISK_GB": requests[:, 2]})
    return Workload(table, horizon_s=DAY_S), n_fill


def run_policy(policy, n_hosts, workload, n_fill):
    """(fill decisions/s, churn events/s, rejected, index bytes per host) for one policy.

    The fill is timed as Placer.place_many of the VMs at t = 0 onto an empty fleet; the churn
    as the simulation's run loop from then to the end of the day (arrivals + departures)."""
    requests = workload.requests(("VCPU", "MEMORY_MB", "DISK_GB"))[:n_fill]
    start = time.perf_counter()
    Placer(uniform_fleet(n_hosts), policy).place_many(requests)
    fill_rate = n_fill / (time.perf_counter() - start)
    fleet = uniform_fleet(n_hosts)
    placer = Placer(fleet, policy)
    sim = Simulation(fleet, placer, None, workload, tick_s=DAY_S + 1.0)
    sim.run(until_s=0.5)                 # wall_s: the run loop, not the results tables
    fill_s = sim.wall_s
    sim.run()
    churn_s = sim.wall_s - fill_s
    n_churn = len(workload.table) - n_fill
    rejected = sum(sim.rejections().values())
    return fill_rate, 2 * n_churn / churn_s, rejected, placer.nbytes()["per_host"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--churn", type=int, default=200_000)
    parser.add_argument("--fill", type=float, default=0.6, help="fraction of memory asked at t=0")
    parser.add_argument("--shapes", action="store_true", help="thousands of request shapes")
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    args = parser.parse_args(argv)
    workload, n_fill = churn_workload(args.hosts, args.churn, args.fill, args.shapes)
    shapes = len(np.unique(workload.requests(("VCPU", "MEMORY_MB", "DISK_GB")), axis=0))
    print(f"churn: {args.hosts:,} hosts (64 pCPUs, 256 GiB, 4 TiB, Nova ratios); {n_fill:,} VMs "
          f"at t=0 (~{args.fill:.0%} of memory), then {args.churn:,} arrivals + departures over "
          f"a day; {shapes:,} distinct request shapes; placement only")
    rates = {}
    for policy in args.policies:
        rates[policy] = run_policy(policy, args.hosts, workload, n_fill)
    reference = rates.get("first_fit", (None, None))[1]
    for policy, (fill, churn, rejected, per_host) in rates.items():
        ratio = f"{churn / reference:5.2f}x first_fit" if reference else ""
        print(f"  {policy:<12} fill {fill / 1e6:6.2f} M decisions/s   churn {churn / 1e3:8.0f} "
              f"k events/s  {ratio}   rejected {rejected:,}   index {per_host:.1f} bytes/host")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS of this process {peak_mib:,.0f} MiB")
    return rates


if __name__ == "__main__":
    main()
