"""Sweeps on a real Dask cluster: a LocalCluster of 2 workers, and a separate `dask scheduler`
and `dask worker` on 127.0.0.1 driven by `vmsched sweep --scheduler`. The tables equal the same
scenarios run in this process, bit for bit; a failing scenario is recorded while the rest
complete; a rerun into the same folder runs only what is not finished."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import vmsched
from vmsched.errors import ScenarioError, SweepError
from vmsched.scenarios import Sweep
from vmsched.scenarios.cluster import local_cluster

pytestmark = pytest.mark.dask
FIXTURES = Path(__file__).parent / "fixtures"
BASE = {"workload": {"vms": 300, "days": 0.5, "seed": 2}}
AXES = {"fleet.cpu_ratio": [1.0, 4.0], "placement.policy": ["first_fit", "best_fit"]}
SWEEP_FILE = ('[workload]\nvms = 300\ndays = 0.5\nseed = 2\n[sweep]\nreplicates = 2\n'
              '[sweep.axes]\n"fleet.cpu_ratio" = [1.0, 4.0]\n')


@pytest.fixture(scope="module")
def client():
    with local_cluster(2) as (dask_client, _):
        yield dask_client


def assert_same_tables(a, b):
    for kind in ("summary", "ticks", "tenants"):
        pd.testing.assert_frame_equal(getattr(a, kind), getattr(b, kind), check_exact=True)


def test_sweep_tables_equal_the_same_scenarios_run_in_process(client, tmp_path):
    sweep = Sweep(BASE, AXES, replicates=2)
    here = sweep.run_in_process()
    there = sweep.run(client, out=tmp_path / "one")
    again = sweep.run(client, out=tmp_path / "two")
    assert there.timing["scenarios run"] == 8 and there.errors.empty
    assert_same_tables(here, there)
    assert_same_tables(there, again)                  # two sweeps, identical tables
    summary = there.summary
    assert list(summary.columns[:4]) == ["scenario", "fleet.cpu_ratio", "placement.policy",
                                         "replicate"]
    assert list(summary["scenario"]) == list(range(8))
    assert set(there.ticks["scenario"]) == set(range(8)) and "tick" in there.ticks
    on_disk = pd.read_parquet(tmp_path / "one" / "summary.parquet")
    pd.testing.assert_frame_equal(on_disk, summary, check_exact=True)
    assert (tmp_path / "one" / "hosts_in_fleet_vs_fleet_cpu_ratio.png").stat().st_size > 0


def test_a_failing_scenario_is_recorded_and_a_rerun_runs_only_what_is_unfinished(client,
                                                                                  tmp_path):
    # 1-pCPU hosts fit no VM of more than one vCPU: those scenarios fail when they size.
    sweep = Sweep(BASE, {"fleet.vcpus": [64, 1]}, replicates=2)
    out = tmp_path / "sweep"
    first = sweep.run(client, out=out)
    assert first.timing["scenarios run"] == 4
    assert list(first.errors["fleet.vcpus"]) == [1, 1]
    assert all("fit on no empty host" in e for e in first.errors["error"])
    assert list(first.summary["fleet.vcpus"]) == [64, 64]
    rerun = sweep.run(client, out=out)
    assert rerun.timing["scenarios run"] == 2             # only the failed ones again
    assert rerun.timing["scenarios already finished"] == 2
    assert_same_tables(first, rerun)
    assert len(rerun.errors) == 2
    other = Sweep(BASE, {"fleet.vcpus": [64, 32]})
    with pytest.raises(ScenarioError, match="another sweep"):
        other.run(client, out=out)


def test_workers_with_another_version_or_without_the_trace_are_refused(client, tmp_path):
    trace = tmp_path / "workload.csv"
    trace.write_bytes((FIXTURES / "workload.csv").read_bytes())
    sweep = Sweep({"workload": {"format": "table", "path": str(trace)}},
                  {"fleet.cpu_ratio": [1.0, 2.0]})
    trace.unlink()        # readable when the sweep was checked, not where the workers run
    with pytest.raises(ScenarioError, match="cannot read .*readable where the workers run"):
        sweep.run(client)

    def set_version(version):
        vmsched.__version__ = version

    client.run(set_version, "0.0.0-other")
    try:
        with pytest.raises(SweepError, match="another vmsched version.*0.0.0-other"):
            Sweep(BASE, AXES).run(client)
    finally:
        client.run(set_version, vmsched.__version__)


def test_the_default_local_cluster(tmp_path):
    sweep = Sweep(BASE, {"fleet.cpu_ratio": [1.0, 4.0]})
    results = sweep.run(out=tmp_path / "s", workers=2)
    assert results.timing["scenarios run"] == 2 and "cluster start s" in results.timing
    assert_same_tables(results, sweep.run_in_process())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(name):
    """An installed console script beside this Python (as the README's install puts it)."""
    path = Path(sys.executable).parent / name
    return [str(path)] if path.exists() else [sys.executable, "-m", name]


@pytest.mark.long
@pytest.mark.cli
def test_vmsched_sweep_on_a_separate_scheduler_and_worker(tmp_path):
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(SWEEP_FILE)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    scheduler = subprocess.Popen(command("dask") + ["scheduler", "--host", "127.0.0.1",
                                                    "--port", str(port), "--no-dashboard"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    worker = subprocess.Popen(command("dask") + ["worker", address, "--nworkers", "1",
                                                 "--nthreads", "1", "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        remote = subprocess.run(command("vmsched") + ["sweep", str(sweep_file), "--scheduler",
                                                      address, "--out", str(tmp_path / "r")],
                                capture_output=True, text=True, timeout=300)
        assert remote.returncode == 0, remote.stderr
        assert "4 scenarios: 4 run, 0 failed" in remote.stdout
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    assert worker.poll() is not None and scheduler.poll() is not None      # both stopped
    local = subprocess.run(command("vmsched") + ["sweep", str(sweep_file), "--workers", "2",
                                                 "--out", str(tmp_path / "l"), "--no-plots"],
                           capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr
    for kind in ("summary", "ticks", "tenants"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r" / f"{kind}.parquet"),
                                      pd.read_parquet(tmp_path / "l" / f"{kind}.parquet"),
                                      check_exact=True)


@pytest.mark.cli
def test_vmsched_sweep_refuses_bad_files_in_one_line(tmp_path):
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text('[sweep]\n[sweep.axes]\n"fleet.cpu_ratio" = [1.0, "x"]\n')
    result = subprocess.run(command("vmsched") + ["sweep", str(sweep_file), "--out",
                                                  str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "cpu_ratio" in result.stderr and "'x'" in result.stderr
    assert not (tmp_path / "o").exists()
