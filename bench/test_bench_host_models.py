"""pytest-benchmark suite for the host models (issue 4). bench/run.py has the full-size run;
CI runs each once with --benchmark-disable as a smoke test."""

import numpy as np
import pytest

from baselines import numpy_esxi, numpy_fair_share
from run import demand_scenarios, host_fleet
from vmsched import HostModels

N_HOSTS = 5_000


@pytest.fixture(scope="module")
def fleet():
    return host_fleet(N_HOSTS)


@pytest.mark.parametrize("memory", ["none", "esxi"])
@pytest.mark.parametrize("scenario", ["typical", "stress"])
def test_tick(benchmark, fleet, memory, scenario):
    models = HostModels(memory=memory, threads=1)
    layout = models.layout(fleet)
    draw = demand_scenarios(layout, np.random.default_rng(0))[scenario]
    for _ in range(5):
        models.step(fleet, *draw(), order="layout", validate=False, reuse=True)
    demand, active = draw()
    result = benchmark(models.step, fleet, demand, active, order="layout", validate=False,
                       reuse=True)
    assert (result.granted <= result.capped_demand + 1e-9).all()


def test_numpy_baseline_tick(benchmark, fleet):
    models = HostModels()
    layout = models.layout(fleet)
    demand, active = demand_scenarios(layout, np.random.default_rng(0))["stress"]()
    shares = 1000.0 * layout.vcpus

    def baseline():
        numpy_fair_share(layout.host_start, layout.cpu_capacity, demand, shares,
                         np.zeros(len(demand)), layout.vcpus)
        return numpy_esxi(layout.host_start, layout.guest_memory, layout.host_memory,
                          models.parameter_vector, layout.memory, active, np.zeros(len(demand)))

    benchmark.pedantic(baseline, rounds=2)
