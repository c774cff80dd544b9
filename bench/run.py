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

from baselines import NumpyFleet, numpy_esxi, numpy_fair_share, numpy_place  # noqa: E402

from vmsched import Fleet, HostModels, Placer, Policy  # noqa: E402
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
    row("index bytes per host (best_fit)", placer_bytes(n_hosts), "bytes", target="<= 64")

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


def host_fleet(n_hosts, vms_per_host=20, seed=0):
    """n_hosts hosts of 32 pCPUs and 128 GiB (cpu ratio 4, ram 1.5), each with vms_per_host
    VMs of 1-8 vCPUs and 2-4 GiB per vCPU: about 1.8x CPU and 1.3x memory overcommit."""
    rng = np.random.default_rng(seed)
    fleet = Fleet.uniform(n_hosts, vcpus=32, memory_mib=131072, disk_gib=0,
                          overcommit="nova", ram_allocation_ratio=1.5)
    fleet.reserve(n_hosts * vms_per_host)
    vcpus = rng.choice([1, 2, 4, 8], size=(n_hosts, vms_per_host), p=[0.3, 0.35, 0.25, 0.1])
    memory = (vcpus * 1024 * rng.choice([2.0, 3.0, 4.0], size=vcpus.shape)).astype(np.int64)
    memory = np.minimum(memory, 196608 // vms_per_host)   # 20 VMs stay within ratio 1.5
    allocate = fleet.allocate
    for h in range(n_hosts):
        for vm in range(vms_per_host):
            allocate(h, (int(vcpus[h, vm]), int(memory[h, vm]), 0))
    return fleet


def demand_scenarios(layout, rng):
    """Per-tick (CPU demand, active memory) generators, in layout order.

    typical: each VM has its own utilisation level (CPU U(0.05, 0.9) of its vCPUs, active
    memory U(0.2, 0.8) of its MiB) with noise every tick (sd 0.1 and 0.05).
    stress: every tick, every VM draws anew uniformly (CPU U(0, 1), memory U(0.3, 1)): each VM
    ends up having touched nearly all its memory, and about a quarter of the hosts reclaim.
    """
    n = len(layout.vms)
    cpu_level = rng.uniform(0.05, 0.9, n)
    memory_level = rng.uniform(0.2, 0.8, n)

    def typical():
        cpu = np.clip(cpu_level + rng.normal(0, 0.1, n), 0, 1) * layout.vcpus
        memory = np.clip(memory_level + rng.normal(0, 0.05, n), 0, 1) * layout.memory
        return cpu, memory

    def stress():
        return rng.random(n) * layout.vcpus, rng.uniform(0.3, 1.0, n) * layout.memory

    return {"typical": typical, "stress": stress}


def host_models_section(quick):
    n_hosts = 5_000 if quick else 100_000
    n_ticks = 5 if quick else 100
    fleet = host_fleet(n_hosts)
    n_vms = fleet.n_vms
    print(f"host models: {n_hosts:,} hosts x 20 VMs ({n_vms:,} VMs), {n_ticks} ticks, fair_share")
    results = {}
    for scenario in ("typical", "stress"):
        for memory, label in (("none", "CPU alone"), ("esxi", "CPU + memory")):
            for threads in (1, 2):
                models = HostModels(cpu="fair_share", memory=memory, threads=threads)
                layout = models.layout(fleet)
                models.step(fleet, np.zeros(n_vms), np.zeros(n_vms), order="layout")  # JIT
                draw = demand_scenarios(layout, np.random.default_rng(1))[scenario]
                elapsed = 0.0
                for _ in range(n_ticks):
                    demand, active = draw()
                    start = time.perf_counter()
                    result = models.step(fleet, demand, active, order="layout",
                                         validate=False, reuse=True)
                    elapsed += time.perf_counter() - start
                results[(scenario, memory, threads)] = n_vms * n_ticks / elapsed
                target = ">= 50 M/s" if (memory, threads) == ("esxi", 1) else None
                row(f"{scenario}: {label}, {threads} thread{'s' if threads > 1 else ''}",
                    results[(scenario, memory, threads)] / 1e6, "M VM-ticks/s", target=target)
                if memory == "esxi" and threads == 1:
                    states = np.bincount(result.host_state, minlength=5).tolist()
                    print(f"    last tick: {int((result.contention > 1).sum()):,} hosts "
                          f"CPU-contended; memory states high/clear/soft/hard/low {states}")
    rng = np.random.default_rng(1)
    # NumPy baseline: the same models vectorised over all VMs (bisection on water levels),
    # on the stress scenario's last state (touched memory carried over from it).
    models = HostModels(threads=1)
    layout = models.layout(fleet)
    draw = demand_scenarios(layout, rng)["stress"]
    for _ in range(n_ticks):
        demand, active = draw()
        touched_before = models.touched(fleet)
        result = models.step(fleet, demand, active, order="layout", validate=False)
    shares = 1000.0 * layout.vcpus
    start = time.perf_counter()
    grant = numpy_fair_share(layout.host_start, layout.cpu_capacity, demand, shares,
                             np.zeros(n_vms), layout.vcpus)
    _, resident, state = numpy_esxi(layout.host_start, layout.guest_memory,
                                    layout.host_memory, models.parameter_vector, layout.memory, active,
                                    touched_before)
    numpy_rate = n_vms / (time.perf_counter() - start)
    assert np.allclose(grant, result.granted, atol=1e-6), "NumPy fair_share disagrees"
    assert (state == result.host_state).all(), "NumPy memory states disagree"
    assert np.allclose(resident, result.resident, atol=1e-3 * 131072), "NumPy esxi disagrees"
    row("stress: NumPy baseline, CPU + memory", numpy_rate / 1e6, "M VM-ticks/s")
    row("stress: CPU + memory, 1 thread, vs NumPy", results[("stress", "esxi", 1)] / numpy_rate,
        "x", target=">= 20x")
    row("per-tick state per VM", models.nbytes_per_vm(), "bytes")
    jit_section()


JIT_SNIPPET = """
import time, numpy as np
start = time.perf_counter()
from vmsched import Fleet, HostModels
fleet = Fleet.uniform(2, vcpus=8, memory_mib=16384, disk_gib=0)
fleet.allocate(0, (2, 2048, 0))
imported = time.perf_counter()
HostModels().step(fleet, np.array([1.0]), np.array([100.0]))
print(imported - start, time.perf_counter() - imported)
"""


def jit_section():
    """First-call JIT cost in a fresh cache, then a second process start (cache hit)."""
    import os
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        times = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", JIT_SNIPPET], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            times.append(float(out[1]))
    row("first step, empty JIT cache (compile)", times[0], "s")
    row("first step, second process (cached)", times[1], "s")


def simulation_section(quick):
    """The 1M-VM, 30-day synthetic run (bench/simulation_run.py) in its own process, so that
    its peak RSS is its own."""
    import subprocess

    args = ["--vms", "20000", "--days", "2", "--compare"] if quick else ["--compare"]
    print("simulation (bench/simulation_run.py " + " ".join(args) + "):")
    out = subprocess.run([sys.executable, str(Path(__file__).parent / "simulation_run.py"),
                          *args], check=True, capture_output=True, text=True).stdout
    print("  " + out.strip().replace("\n", "\n  "))


def churn_section(quick):
    """bench/churn.py: a filled fleet, then a day of arrivals each matched by a departure, with
    the flavour table's request shapes and with thousands of them."""
    import churn

    args = ["--hosts", "5000", "--churn", "10000"] if quick else []
    for extra in ([], ["--shapes"]):
        rates = churn.main(args + extra)
        reference = rates["first_fit"][1]
        for policy in ("best_fit", "worst_fit", "dot_product"):
            print(f"    {policy}: churn {rates[policy][1] / reference:.2f}x first_fit "
                  f"(target >= 0.25x)")


SECTIONS = {"fleet": fleet_section, "placement": placement_section, "churn": churn_section,
            "host_models": host_models_section, "simulation": simulation_section}


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
