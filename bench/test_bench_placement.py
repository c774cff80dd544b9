"""pytest-benchmark suite for placement (issue 3). Sizes are those of bench/run.py; CI runs
each once with --benchmark-disable as a smoke test."""

import numpy as np
import pytest

from baselines import numpy_place
from vmsched import Placer, Policy
from vmsched.testing import azure_like_requests, uniform_fleet

N_HOSTS = 100_000
N_VMS = 200_000
REQUESTS = azure_like_requests(np.random.default_rng(42), N_VMS)


@pytest.mark.parametrize("policy", ["first_fit", "best_fit", "worst_fit", "dot_product"])
def test_fast_policy_arrivals(benchmark, policy):
    n = N_VMS if policy in ("first_fit", "best_fit") else N_VMS // 10

    def setup():
        return (Placer(uniform_fleet(N_HOSTS), policy), REQUESTS[:n]), {}

    batch = benchmark.pedantic(lambda placer, requests: placer.place_many(requests),
                               setup=setup, rounds=3)
    assert batch.rejected.mean() < 0.01


@pytest.mark.parametrize("policy", ["first_fit", "best_fit"])
def test_numpy_baseline_arrivals(benchmark, policy):
    def setup():
        fleet = uniform_fleet(N_HOSTS)
        return (fleet.free.copy(), fleet.used.copy(), fleet.min_unit.astype(np.int64),
                fleet.max_unit.copy(), fleet.step_size.astype(np.int64), REQUESTS[:200],
                policy), {}

    benchmark.pedantic(numpy_place, setup=setup, rounds=3)


def test_pipeline_two_filters_two_weighers_10k_hosts(benchmark):
    policy = Policy(filters=("resource_fit", "max_vms_per_host"),
                    weighers=(("free_ram", 1.0), ("free_cpu", 1.0)))

    def setup():
        return (Placer(uniform_fleet(10_000), policy), REQUESTS[:5_000]), {}

    benchmark.pedantic(lambda placer, requests: placer.place_many(requests), setup=setup,
                       rounds=3)
