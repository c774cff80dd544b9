"""Compile the kernels that most tests use (or load them from Numba's cache) before the test
workers start, one group per process, so that the workers load them instead of each compiling
the same kernels at once. The consolidation kernels (a cold compilation takes about a minute)
compile while the first tests run; the tests that use them run last. conftest.py runs this when pytest-xdist runs the tests on several workers;
`python tests/warm_kernels.py GROUP` warms one group in this process."""

import subprocess
import sys
import time
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "planetlab" / "20110303"


def consolidation():
    from vmsched import Fleet
    from vmsched.simulation import consolidate
    from vmsched.workload.readers import read_planetlab
    from vmsched.workload.synthetic import synthetic_workload

    day = read_planetlab(FIXTURE)
    consolidate(day, "lr-mmt-1.2", preset="cloudsim-planetlab")
    consolidate(day, "lr-mmt-1.2", preset="cloudsim-planetlab", rules="vmsched")
    fleet = Fleet.uniform(8, vcpus=64, memory_mib=262144, disk_gib=0, overcommit="none")
    consolidate(synthetic_workload(50, 1.0, seed=0), "thr-mmt-0.8", fleet=fleet,
                migration="precopy")


def simulation():
    import numpy as np

    from vmsched import Fleet, HostModels
    from vmsched.models.power import linear
    from vmsched.scenarios.worker import warm
    from vmsched.workload.readers import read_planetlab
    from vmsched.workload.synthetic import synthetic_workload

    warm(parallel=True)
    # What many tests call on their own: the host models' tick, sampling, power models.
    fleet = Fleet.uniform(2, vcpus=8, memory_mib=16384, disk_gib=0)
    for host in range(2):
        fleet.allocate(host, (2, 2048, 0))
    models = HostModels()
    for _ in range(2):
        models.step(fleet, np.ones(fleet.slot_high_water), np.ones(fleet.slot_high_water))
    rows = np.arange(5)
    synthetic_workload(5, 0.1, seed=0).cpu.sample(rows, 600.0)
    read_planetlab(FIXTURE).cpu.sample(rows, 600.0)
    linear(100.0, 200.0).power_w(np.array([0.5]))


GROUPS = {"consolidation": consolidation, "simulation": simulation}
#: Groups that compile while the tests run: the tests that use them run last (conftest.py).
BACKGROUND = ("consolidation",)


def warm_all():
    """Warm every group, each in its own process, all at once; returns the seconds until the
    groups not in BACKGROUND were done, and the processes of those still running."""
    start = time.perf_counter()
    processes = {group: subprocess.Popen([sys.executable, __file__, group]) for group in GROUPS}
    for group, process in processes.items():
        if group not in BACKGROUND:
            process.wait()   # a group that fails is left to the tests, which then report it
    return time.perf_counter() - start, [processes[group] for group in BACKGROUND]


if __name__ == "__main__":
    GROUPS[sys.argv[1]]()
