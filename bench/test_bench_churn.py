"""pytest-benchmark suite for placement under churn (bench/churn.py has the 100k-host day);
CI runs each once with --benchmark-disable as a smoke test."""

import pytest

from churn import POLICIES, churn_workload, run_policy

N_HOSTS = 5_000
N_CHURN = 10_000


@pytest.fixture(scope="module")
def workloads():
    return {shapes: churn_workload(N_HOSTS, N_CHURN, 0.6, distinct_shapes=shapes)
            for shapes in (False, True)}


@pytest.mark.parametrize("shapes", [False, True], ids=["flavours", "distinct shapes"])
@pytest.mark.parametrize("policy", POLICIES)
def test_fill_then_churn(benchmark, workloads, policy, shapes):
    workload, n_fill = workloads[shapes]
    fill, churn, rejected, per_host = benchmark.pedantic(
        run_policy, args=(policy, N_HOSTS, workload, n_fill), rounds=1)
    benchmark.extra_info.update(fill_decisions_per_s=fill, churn_events_per_s=churn,
                                index_bytes_per_host=per_host)
    assert rejected < 0.05 * len(workload.table) and per_host <= 64
