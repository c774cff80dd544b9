"""pytest-benchmark suite for sizing and sweeps (bench/sizing_run.py and bench/sweep_run.py
have the acceptance runs: 1M-VM sizing, 32 scenarios on a LocalCluster); CI runs each once
with --benchmark-disable as a smoke test."""

import pytest

from vmsched.scenarios import Sweep
from vmsched.simulation.sizing import find_min_hosts
from vmsched.workload.synthetic import synthetic_workload

HOST = dict(vcpus=64, memory_mib=262144, disk_gib=0, overcommit="nova")


@pytest.fixture(scope="module")
def workload():
    return synthetic_workload(100_000, 7.0, seed=0)


@pytest.mark.parametrize("method", ["replay", "search"])
def test_sizing(benchmark, workload, method):
    sizing = benchmark.pedantic(find_min_hosts, args=(workload,),
                                kwargs=dict(policy="best_fit", method=method, **HOST), rounds=3)
    assert sizing.n_hosts >= sizing.lower_bound


def test_sweep_in_process(benchmark):
    sweep = Sweep({"workload": {"vms": 2000, "days": 2.0}},
                  {"fleet.cpu_ratio": [1.0, 4.0], "placement.policy": ["first_fit", "best_fit"]})
    results = benchmark.pedantic(sweep.run_in_process, kwargs=dict(progress=False), rounds=3)
    assert len(results.summary) == 4 and results.errors.empty
