"""pytest-benchmark suite for dynamic consolidation (bench/cloudsim_planetlab.py prints the
whole table): CloudSim's LR-MMT-1.2 day, on the real PlanetLab day when the data folder is
there, else on the test fixture. CI runs it once with --benchmark-disable as a smoke test."""

import os
from pathlib import Path

import pytest

from vmsched.simulation import consolidate
from vmsched.workload.readers import read_planetlab

DATA = Path(os.environ.get("VMSCHED_DATA", Path(__file__).resolve().parents[2] / "shared"
                           / "data"))
DAY = DATA / "planetlab" / "20110303"
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "planetlab" / "20110303"


@pytest.fixture(scope="module")
def day():
    return read_planetlab(DAY if DAY.is_dir() else FIXTURE)


@pytest.mark.parametrize("policy", ["lr-mmt-1.2", "thr-mmt-0.8", "dvfs"])
def test_cloudsim_planetlab_day(benchmark, day, policy):
    consolidate(day, policy, preset="cloudsim-planetlab")    # load or compile the kernels
    results = benchmark.pedantic(consolidate, args=(day, policy),
                                 kwargs={"preset": "cloudsim-planetlab"}, rounds=5)
    assert results.summary["energy kWh"] > 0
