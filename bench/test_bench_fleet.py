"""pytest-benchmark suite for the fleet state (issue 2). Run: pytest bench/ (CI runs it once
with --benchmark-disable as a smoke test)."""

import numpy as np
import pytest

from baselines import NumpyFleet
from vmsched.testing import uniform_fleet

N_HOSTS = 100_000
REQUEST = (4, 8192, 40)


@pytest.fixture(scope="module")
def fleet():
    return uniform_fleet(N_HOSTS)


def test_allocate_release_pair(benchmark, fleet):
    allocate, release = fleet.allocate, fleet.release

    def pair():
        release(allocate(12345, REQUEST))

    benchmark(pair)
    fleet.check_invariants()


def test_allocate_release_pair_numpy_baseline(benchmark, fleet):
    baseline = NumpyFleet(fleet)
    benchmark(lambda: baseline.release(baseline.allocate(12345, REQUEST)))


def test_fit_mask_100k_hosts(benchmark, fleet):
    out = np.empty(N_HOSTS, dtype=bool)
    mask = benchmark(fleet.fits, REQUEST, out)
    np.testing.assert_array_equal(mask, NumpyFleet(fleet).fits(REQUEST))


def test_fit_mask_100k_hosts_numpy_baseline(benchmark, fleet):
    benchmark(NumpyFleet(fleet).fits, REQUEST)
