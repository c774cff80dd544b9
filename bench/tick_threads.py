"""The tick kernel on 1 and 2 threads: 300k synthetic VMs over 10 days on 240 hosts (best fit,
fair share, ESXi memory); each configuration twice, the faster counts. Prints the kernel's
seconds and the 2-thread speed-up. Run it under OMP_WAIT_POLICY=ACTIVE too, to see how much
of the gap is OpenMP's workers waking between ticks.

Usage: python bench/tick_threads.py [--vms 300000] [--days 10] [--hosts 240]
"""

import argparse

from vmsched import Fleet, HostModels, Placer
from vmsched.simulation import Simulation
from vmsched.workload.synthetic import synthetic_workload

HOST = dict(vcpus=64, memory_mib=262144, disk_gib=0, overcommit="nova")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vms", type=int, default=300_000)
    parser.add_argument("--days", type=float, default=10.0)
    parser.add_argument("--hosts", type=int, default=240)
    args = parser.parse_args()
    workload = synthetic_workload(args.vms, args.days, seed=0)
    best = {}
    for _ in range(2):
        for threads in (1, 2):
            fleet = Fleet.uniform(args.hosts, **HOST)
            sim = Simulation(fleet, Placer(fleet, "best_fit"), HostModels(threads=threads),
                             workload, tick_s=300, duration_s=args.days * 86400)
            sim.run()
            best[threads] = min(best.get(threads, float("inf")), sim.tick_wall_s)
    print(f"tick kernel: 1 thread {best[1]:.2f} s, 2 threads {best[2]:.2f} s, "
          f"{best[1] / best[2]:.2f} x faster (target >= 1.6)")


if __name__ == "__main__":
    main()
