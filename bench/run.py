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

from baselines import NumpyFleet, numpy_place  # noqa: E402

from vmsched import Placer, Policy  # noqa: E402
from vmsched.errors import NoValidHost  # noqa: E402
from vmsched.testing import azure_like_requests, uniform_fleet  # noqa: E402


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


def placement_section(quick):
    n_hosts = 10_000 if quick else 100_000
    n_vms = 100_000 if quick else 1_000_000
    requests = azure_like_requests(np.random.default_rng(42), n_vms)
    print(f"placement: {n_vms:,} Azure-shaped VMs (1-32 vCPUs, 0.75-8 GiB/vCPU) onto "
          f"{n_hosts:,} hosts (64 pCPUs, 256 GiB, cpu ratio 4), arrivals only")
    n_baseline = 300 if quick else 2_000
    for policy in ("first_fit", "best_fit", "worst_fit", "dot_product"):
        n = n_vms if policy in ("first_fit", "best_fit") else n_vms // 10
        fleet = uniform_fleet(n_hosts)
        placer = Placer(fleet, policy)
        start = time.perf_counter()
        batch = placer.place_many(requests[:n])
        rate = n / (time.perf_counter() - start)
        baseline_rate = None
        if policy in ("first_fit", "best_fit", "worst_fit"):
            fresh = uniform_fleet(n_hosts)
            args = (fresh.free.copy(), fresh.used.copy(), fresh.min_unit.astype(np.int64),
                    fresh.max_unit.copy(), fresh.step_size.astype(np.int64))
            start = time.perf_counter()
            hosts = numpy_place(*args, requests[:n_baseline], policy)
            baseline_rate = n_baseline / (time.perf_counter() - start)
            assert hosts.tolist() == batch.hosts[:n_baseline].tolist(), "baseline disagrees"
        target = ">= 2 M/s and >= 50x" if policy in ("first_fit", "best_fit") else None
        row(f"{policy}: decisions per second ({n:,})", rate / 1e6, "M decisions/s",
            baseline_rate / 1e6 if baseline_rate else None, target=target)
        if policy == "first_fit":
            print(f"    {int((fleet.host_vm_count > 0).sum()):,} hosts used, "
                  f"{int(batch.rejected.sum()):,} rejected (fit nowhere); NumPy baseline "
                  f"timed on the first {n_baseline:,} requests, same decisions")
    row("index bytes per host (best_fit)", placer_bytes(n_hosts), "bytes", target="<= 32")

    # Churn: half the workload placed, then every arrival follows a random departure.
    n_churn = n_vms // 20
    for policy in ("first_fit", "best_fit"):
        fleet = uniform_fleet(n_hosts)
        placer = Placer(fleet, policy)
        live = [vm for vm in placer.place_many(requests[: n_vms // 2]).vms.tolist() if vm >= 0]
        order = np.random.default_rng(7).permutation(len(live))[:n_churn].tolist()
        index = placer._core.index
        visited, rejected = index.nodes_visited, 0
        start = time.perf_counter()
        for k, i in enumerate(order):
            placer.release(live[i])
            try:
                live[i] = placer.place(requests[n_vms // 2 + k]).vm
            except NoValidHost:
                rejected += 1
                live[i] = placer.place(requests[n_vms // 2 + k] // 2 + 1).vm
        rate = n_churn / (time.perf_counter() - start)
        row(f"{policy} churn: release + place, from Python ({n_churn:,})", rate / 1e3,
            "k pairs/s")
        print(f"    {(index.nodes_visited - visited) / (n_churn + rejected):.0f} tree nodes "
              f"visited per decision, {rejected} arrivals fit nowhere")

    # A general pipeline: 2 filters + 2 weighers over 10k hosts.
    pipeline = Policy(filters=("resource_fit", "max_vms_per_host"),
                      weighers=(("free_ram", 1.0), ("free_cpu", 1.0)))
    fleet = uniform_fleet(10_000)
    placer = Placer(fleet, pipeline)
    n = 5_000 if quick else 50_000
    start = time.perf_counter()
    placer.place_many(requests[:n])
    row("pipeline 2 filters + 2 weighers, 10k hosts", n / (time.perf_counter() - start),
        "decisions/s", target=">= 20,000")

    # Scaling: decision time at 1k .. 1M hosts, 10 VMs per host.
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000, 1_000_000)
    for policy in ("first_fit", "best_fit"):
        times = []
        for size in sizes:
            reqs = azure_like_requests(np.random.default_rng(size), 10 * size)
            fleet = uniform_fleet(size)
            placer = Placer(fleet, policy)
            start = time.perf_counter()
            placer.place_many(reqs)
            times.append((time.perf_counter() - start) / len(reqs) * 1e9)
        figures = ", ".join(f"{size:,}: {t:.0f} ns" for size, t in zip(sizes, times))
        print(f"  {policy} decision time by fleet size (10 VMs/host): {figures}; "
              f"{sizes[-1] // sizes[0]:,}x hosts -> {times[-1] / times[0]:.2f}x time")


def placer_bytes(n_hosts):
    return Placer(uniform_fleet(n_hosts), "best_fit").nbytes()["per_host"]


SECTIONS = {"fleet": fleet_section, "placement": placement_section}


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
