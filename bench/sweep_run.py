"""A sweep on Dask against the same scenarios one after another in this process.

32 scenarios by default: CPU allocation ratio 1, 2, 4, 8 x policy first_fit, best_fit x 4
replicates, each 20k synthetic VMs over 7 days on the smallest fleet (find_min_hosts) of
64-pCPU, 256-GiB hosts, fair-share CPU and ESXi memory at 5-minute ticks. Runs, each with an
empty workload cache (a scenario's workload is built once per process): `Sweep.run` on a
LocalCluster of --workers processes first (this process cold, as a user's is), timed from the
call to its last result with the cluster's start included; then one after another in this
process with one kernel thread, the same with every core's thread, and the sweep again (its
forkserver, which started with the first sweep, still running). Prints each run's scenarios per second, the sweep's
ratio to both (targets: >= 1.6 against one thread, >= 1.0 against all threads), the cluster's
start, the Dask overhead per scenario, and checks that all give the same tables.

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
    runs, seconds = {}, {}

    def timed(name, run):
        started = time.perf_counter()
        runs[name] = run()
        seconds[name] = time.perf_counter() - started

    sweep_name = f"Sweep.run, LocalCluster of {args.workers} workers"
    timed(sweep_name, lambda: sweep.run(workers=args.workers, progress=False))
    warm()                           # this process's kernels loaded, as a worker's are
    one_name, every_name = "in process, 1 kernel thread", f"in process, {cores()} kernel threads"
    timed(one_name, lambda: sweep.run_in_process(kernel_threads=1, progress=False))
    timed(every_name, lambda: sweep.run_in_process(kernel_threads=cores(), progress=False))
    again_name = "Sweep.run again (its forkserver still running)"
    timed(again_name, lambda: sweep.run(workers=args.workers, progress=False))
    for label in runs:
        print(f"  {label:<48} {seconds[label]:7.2f} s  {n / seconds[label]:6.2f} scenarios/s")
    dask = runs[sweep_name]
    wall = seconds[sweep_name]
    start = dask.timing["cluster start s"]
    compute = dask.timing["compute s"]
    overhead = ((wall - start) * args.workers - compute) / n
    print(f"  sweep / one after another, 1 thread         {seconds[one_name] / wall:5.2f}x   "
          f"target >= 1.6")
    print(f"  sweep / one after another, all threads      {seconds[every_name] / wall:5.2f}x   "
          f"target >= 1.0")
    print(f"  the same for the sweep run again            {seconds[one_name] / seconds[again_name]:5.2f}x, "
          f"{seconds[every_name] / seconds[again_name]:5.2f}x")
    print(f"  cluster start (first sweep, then again)     {start:5.2f} s, "
          f"{runs[again_name].timing['cluster start s']:5.2f} s")
    print(f"  scenario compute: on the workers, in process {compute / n * 1000:6.1f} ms, "
          f"{runs[one_name].timing['compute s'] / n * 1000:6.1f} ms (mean)")
    print(f"  Dask overhead per scenario                  {overhead * 1000:7.1f} ms  "
          f"((wall - start) x workers - compute) / scenarios")
    print(f"  peak RSS of this process                    "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MiB")
    reference = runs[list(runs)[0]]
    for results in runs.values():
        for kind in ("summary", "ticks", "tenants"):
            pd.testing.assert_frame_equal(getattr(results, kind), getattr(reference, kind),
                                          check_exact=True)
        assert results.errors.empty, results.errors
    print("  every run's tables are equal, bit for bit")


if __name__ == "__main__":
    main()
