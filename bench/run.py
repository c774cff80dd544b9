"""Print vmsched's throughput, its ratio against a baseline measured in the same run, and the
bytes of engine state. Usage: python bench/run.py [--quick] [--only SECTION ...]

--quick shrinks every size (the CI smoke run); figures in the closing notes come from full runs.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from baselines import NumpyFleet  # noqa: E402

from vmsched.testing import uniform_fleet  # noqa: E402


def per_call_seconds(function, *, number, repeat):
    """Median over `repeat` runs of the mean seconds per call over `number` calls."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


def row(name, value, unit, baseline=None, target=None):
    ratio = f"{value / baseline:8.1f}x" if baseline else " " * 9
    target = f"  target {target}" if target else ""
    print(f"  {name:<46} {value:>14,.1f} {unit:<14} {ratio}{target}")


def fleet_section(quick):
    n_hosts = 10_000 if quick else 100_000
    request = (4, 8192, 40)
    fleet = uniform_fleet(n_hosts)
    baseline = NumpyFleet(fleet)
    print(f"fleet state: {n_hosts:,} hosts x 3 resource classes (VCPU, MEMORY_MB, DISK_GB)")

    allocate, release = fleet.allocate, fleet.release

    def pair():
        release(allocate(1234, request))

    def numpy_pair():
        baseline.release(baseline.allocate(1234, request))

    number, repeat = (2_000, 5) if quick else (20_000, 51)
    pair_s = per_call_seconds(pair, number=number, repeat=repeat)
    numpy_pair_s = per_call_seconds(numpy_pair, number=number // 10, repeat=repeat)
    row("allocate + release pair, median", pair_s * 1e9, "ns/pair", target="<= 1000 ns")
    row("  NumPy baseline", numpy_pair_s * 1e9, "ns/pair")
    row("allocate + release pairs per second", 1 / pair_s, "pairs/s", 1 / numpy_pair_s)

    out = np.empty(n_hosts, dtype=bool)
    np.testing.assert_array_equal(fleet.fits(request, out), baseline.fits(request))
    number = 20 if quick else 200
    mask_s = per_call_seconds(lambda: fleet.fits(request, out), number=number, repeat=7)
    numpy_mask_s = per_call_seconds(lambda: baseline.fits(request), number=max(number // 10, 2),
                                    repeat=7)
    row("fit mask, host-checks per second", n_hosts / mask_s / 1e6, "M hosts/s",
        (n_hosts / numpy_mask_s / 1e6), target=">= 300 M hosts/s")
    row("fit mask, (host, class) checks per second", 3 * n_hosts / mask_s / 1e6, "M checks/s")

    # Memory: the VM table filled to 1M VMs (hosts sized so they fit).
    n_vms = 100_000 if quick else 1_000_000
    big = uniform_fleet(n_vms // 10, vcpus=4096, memory_mib=2**30, disk_gib=2**20)
    allocate_big = big.allocate
    for vm in range(n_vms):
        allocate_big(vm // 10, (1, 1024, 1))
    sizes = big.nbytes()
    row("engine state per host per resource class", sizes["per_host_per_resource"], "bytes",
        target="<= 64")
    row("engine state per VM slot", sizes["per_vm_slot"], "bytes", target="<= 48")
    row(f"VM table bytes / live VMs ({n_vms:,} VMs)", sizes["vm_slots"] / n_vms, "bytes")


SECTIONS = {"fleet": fleet_section}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--only", nargs="*", choices=sorted(SECTIONS), help="sections to run")
    args = parser.parse_args(argv)
    print(f"vmsched benchmarks ({'quick' if args.quick else 'full'}); ratio = vmsched / "
          f"baseline measured in this run")
    for name in args.only or SECTIONS:
        SECTIONS[name](args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
