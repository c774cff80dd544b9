"""pytest-benchmark suite for the simulation core (bench/simulation_run.py has the 1M-VM run);
CI runs each once with --benchmark-disable as a smoke test."""

import numpy as np
import pytest

from vmsched import Fleet, HostModels
from vmsched.engine.simulation import EventKind, EventQueue, Priority
from vmsched.simulation import Simulation
from vmsched.simulation.controllers import Failures, Maintenance
from vmsched.workload.synthetic import synthetic_workload

HOST = dict(vcpus=64, memory_mib=262144, disk_gib=0, overcommit="nova")


@pytest.fixture(scope="module")
def workload():
    return synthetic_workload(20_000, 2.0, seed=0)


def run(workload, controllers=(), n_hosts=100):
    fleet = Fleet.uniform(n_hosts, **HOST)
    return Simulation(fleet, "best_fit", HostModels(threads=1), workload, tick_s=300,
                      duration_s=2 * 86400, controllers=controllers).run()


def test_simulation(benchmark, workload):
    run(workload)  # compile
    result = benchmark.pedantic(run, args=(workload,), rounds=3)
    assert result.summary()["VMs placed"] > 0.99 * len(workload)


def test_simulation_with_drains_and_failures(benchmark, workload):
    controllers = [Maintenance([(43200.0, list(range(10)), 3600.0)], migration_s=120),
                   Failures(mtbf_s=86400.0, mttr_s=3600.0, restart=True, seed=1)]
    result = benchmark.pedantic(run, args=(workload, controllers), rounds=3)
    assert result.summary()["migrations"] > 0


def test_event_queue_push_pop(benchmark):
    times = np.random.default_rng(0).uniform(0, 86400, 100_000)

    def push_pop():
        queue = EventQueue()
        for t in times:
            queue.push(t, Priority.MIGRATION_PRIORITY, EventKind.MIGRATION_DONE, 1)
        while len(queue):
            queue.pop()

    benchmark.pedantic(push_pop, rounds=3)
