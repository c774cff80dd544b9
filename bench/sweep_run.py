"""A sweep on Dask against the same scenarios one after another in this process.

32 scenarios by default: CPU allocation ratio 1, 2, 4, 8 x policy first_fit, best_fit x 4
replicates, each 20k synthetic VMs over 7 days on the smallest fleet (find_min_hosts) of
64-pCPU, 256-GiB hosts, fair-share CPU and ESXi memory at 5-minute ticks. Three runs, in this
order, each with an empty workload cache (a scenario's workload is built once per process):
one after another in this process with one kernel thread, the same with every core's thread,
then `Sweep.run` on a LocalCluster of --workers processes, timed from the call to its last
result with the cluster's start included. Prints each run's scenarios per second, the sweep's
ratio to both (targets: >= 1.6 against one thread, >= 1.0 against all threads), the cluster's
start, the Dask overhead per scenario, and checks that the three give the same tables.

Usage: python bench/sweep_run.py [--vms 20000] [--days 7] [--replicates 4] [--workers 2]
                                 [--quick]
"""

import argparse
import resource
import time

import pandas as pd

from vmsched.scenarios import Sweep
from vmsched.scenarios.cluster import cores
from vmsched.scenarios.worker import warm


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=20_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="CI smoke: 500 VMs, 1 replicate")
    args = parser.parse_args()
    if args.quick:
        args.vms, args.days, args.replicates = 500, 1.0, 1
    sweep = Sweep({"workload": {"vms": args.vms, "days": args.days}},
                  {"fleet.cpu_ratio": [1.0, 2.0, 4.0, 8.0],
                   "placement.policy": ["first_fit", "best_fit"]}, replicates=args.replicates)
    n = len(sweep.points)
    print(f"{n} scenarios: {args.vms:,} synthetic VMs over {args.days:g} days each; "
          f"{cores()} cores")
    warm()                           # this process's kernels loaded, as a worker's are
    runs = {}
    for name, threads in (("in process, 1 kernel thread", 1),
                          (f"in process, {cores()} kernel threads", cores())):
        started = time.perf_counter()
        runs[name] = sweep.run_in_process(kernel_threads=threads, progress=False)
        runs[name].timing["measured s"] = time.perf_counter() - started
    started = time.perf_counter()
    dask = sweep.run(workers=args.workers, progress=False)
    dask.timing["measured s"] = time.perf_counter() - started
    name = f"Sweep.run, LocalCluster of {args.workers} workers"
    runs[name] = dask

    one, every = (runs[k].timing["measured s"] for k in list(runs)[:2])
    for label, results in runs.items():
        seconds = results.timing["measured s"]
        print(f"  {label:<44} {seconds:7.2f} s  {n / seconds:6.2f} scenarios/s")
    wall = dask.timing["measured s"]
    start = dask.timing["cluster start s"]
    compute = dask.timing["compute s"]
    overhead = ((wall - start) * args.workers - compute) / n
    print(f"  sweep / one after another, 1 thread     {one / wall:5.2f}x   target >= 1.6")
    print(f"  sweep / one after another, all threads  {every / wall:5.2f}x   target >= 1.0")
    print(f"  cluster start (workers forked warm)     {start:5.2f} s")
    print(f"  scenario compute on the workers, mean   {compute / n * 1000:7.1f} ms")
    print(f"  Dask overhead per scenario              {overhead * 1000:7.1f} ms  "
          f"((wall - start) x workers - compute) / scenarios")
    print(f"  peak RSS of this process                "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MiB")
    reference = runs[list(runs)[0]]
    for results in runs.values():
        for kind in ("summary", "ticks", "tenants"):
            pd.testing.assert_frame_equal(getattr(results, kind), getattr(reference, kind),
                                          check_exact=True)
        assert results.errors.empty, results.errors
    print("  the three runs' tables are equal, bit for bit")


if __name__ == "__main__":
    main()
