"""CloudSim's PlanetLab consolidation experiments (Beloglazov and Buyya), on vmsched.

For every PlanetLab day folder given (default: the data folder's planetlab/*), runs each
policy with the cloudsim-planetlab preset under CloudSim's rules and under vmsched's own
(memory counts, VMs stay to the end), and prints one table: energy, migrations, SLA metrics,
host shutdowns, CloudSim 3.0.3's published figures where known and whether vmsched prints
the same, the wall time of the run (excluding reading the traces; the minimum and median of
--repeat runs after a warm-up; the first call's time, which includes loading or compiling the
kernels, is printed once) and the process's peak RSS above its RSS after `import vmsched`.

Usage: python bench/cloudsim_planetlab.py [DAY_FOLDER ...] [--repeat 5] [--rules both]
                                           [--policies npa,dvfs,...] [--seeds 10]
"""

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import vmsched  # noqa: F401  (the RSS baseline is taken after importing it)

RSS_AFTER_IMPORT_MIB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

from vmsched.simulation import consolidate  # noqa: E402
from vmsched.simulation.consolidation import CLOUDSIM_FIGURES  # noqa: E402
from vmsched.workload.readers import read_planetlab  # noqa: E402

POLICIES = ("npa", "dvfs", "thr-mmt-0.8", "iqr-mmt-1.5", "mad-mmt-2.5", "lr-mmt-1.2",
            "lrr-mmt-1.2", "lr-mc-1.2", "lr-mu-1.2", "thr-mu-0.8", "lr-rs-1.2")
def default_days():
    data = Path(os.environ.get("VMSCHED_DATA", Path(__file__).resolve().parents[2] / "shared"
                               / "data"))
    return sorted(p for p in (data / "planetlab").glob("*") if p.is_dir())


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def printed(s):
    """CloudSim's printed digits of a summary."""
    return (f"{s['energy kWh']:.2f}", s["migrations"], f"{s['SLATAH %']:.2f}",
            f"{s['PDM %']:.2f}", f"{s['SLAV %']:.5f}", s["host shutdowns"])


def matches(s, known):
    if known is None:
        return ""
    ours = printed(s)
    theirs = (f"{known[0]:.2f}", known[1], f"{known[2]:.2f}", f"{known[3]:.2f}",
              f"{known[4]:.5f}", known[5])
    if all(a == b for a, b in zip(ours, theirs) if b is not None):
        return "equal"
    energy = s["energy kWh"] / known[0] - 1
    migrations = s["migrations"] / known[1] - 1 if known[1] else 0.0
    return f"{100 * energy:+.1f}% kWh, {100 * migrations:+.1f}% migr."


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("days", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per day-policy")
    parser.add_argument("--rules", choices=("both", "cloudsim", "vmsched"), default="both")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--seeds", type=int, default=10, help="seeds of LR-RS (mean, spread)")
    args = parser.parse_args()
    days = args.days or default_days()
    if not days:
        sys.exit("no PlanetLab day folders: give them, or set VMSCHED_DATA")
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    rules = ("cloudsim", "vmsched") if args.rules == "both" else (args.rules,)

    workloads = {day.name: read_planetlab(day) for day in days}
    first_day = next(iter(workloads.values()))
    start = time.perf_counter()
    consolidate(first_day, "lr-mmt-1.2", preset="cloudsim-planetlab")
    first_call = time.perf_counter() - start
    print(f"first call (LR-MMT-1.2, loading or compiling the kernels): {first_call:.2f} s; "
          f"RSS after import vmsched {RSS_AFTER_IMPORT_MIB:.0f} MiB")
    header = (f"{'day':<9} {'policy':<12} {'rules':<8} {'kWh':>8} {'migr.':>6} {'SLATAH%':>7} "
              f"{'PDM%':>5} {'SLAV%':>8} {'ESV':>8} {'shutd.':>6} {'t<shut s':>8} "
              f"{'migr. s':>7} {'CloudSim 3.0.3':<34} {'ms min':>7} {'ms med':>7} "
              f"{'RSS+MiB':>7}")
    print(header)
    print("-" * len(header))
    for name, workload in workloads.items():
        for policy in policies:
            for rule in rules:
                walls = []
                for _ in range(max(1, args.repeat)):
                    results = consolidate(workload, policy, preset="cloudsim-planetlab",
                                          rules=rule)
                    walls.append(results.wall_s * 1000)
                s = results.summary
                known = CLOUDSIM_FIGURES.get((name, policy)) if rule == "cloudsim" else None
                reference = ""
                if known is not None:
                    reference = (f"{known[0]:.2f} {known[1]} {known[4]:.5f} "
                                 f"[{matches(s, known)}]")
                print(f"{name:<9} {policy:<12} {rule:<8} {s['energy kWh']:>8.2f} "
                      f"{s['migrations']:>6} {s['SLATAH %']:>7.2f} {s['PDM %']:>5.2f} "
                      f"{s['SLAV %']:>8.5f} {s['ESV']:>8.5f} {s['host shutdowns']:>6} "
                      f"{s['mean time before a host shutdown s']:>8.0f} "
                      f"{s['mean migration duration s']:>7.2f} {reference:<34} "
                      f"{min(walls):>7.1f} {statistics.median(walls):>7.1f} "
                      f"{peak_rss_mib() - RSS_AFTER_IMPORT_MIB:>7.0f}")
        if "lr-rs-1.2" in policies and args.seeds > 1:
            energy, migrations = [], []
            for seed in range(args.seeds):
                s = consolidate(workload, "lr-rs-1.2", preset="cloudsim-planetlab",
                                seed=seed).summary
                energy.append(s["energy kWh"])
                migrations.append(s["migrations"])
            print(f"{name:<9} LR-RS-1.2 over seeds 0..{args.seeds - 1} (cloudsim rules): "
                  f"energy {statistics.mean(energy):.2f} +- {statistics.stdev(energy):.2f} kWh "
                  f"(min {min(energy):.2f}, max {max(energy):.2f}), migrations "
                  f"{statistics.mean(migrations):.0f} +- {statistics.stdev(migrations):.0f}")
    print(f"peak RSS {peak_rss_mib():.0f} MiB, {peak_rss_mib() - RSS_AFTER_IMPORT_MIB:.0f} MiB "
          f"above the RSS after import vmsched")


if __name__ == "__main__":
    main()
