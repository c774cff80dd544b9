"""Scenarios and the shape of sweeps, in this process (the Dask runs are in test_sweep.py):
a scenario is plain checked data, run_scenario equals building the run by hand, a sweep is
the cartesian product of its axes times its replicates, checked whole before anything runs."""

import pickle

import pandas as pd
import pytest

from vmsched import Fleet, HostModels, Placer
from vmsched.errors import ScenarioError
from vmsched.scenarios import Scenario, Sweep, WorkloadCache, run_scenario
from vmsched.scenarios.sweep import SHORT_VM_DAYS, batches
from vmsched.simulation import Simulation
from vmsched.simulation.sizing import find_min_hosts
from vmsched.workload.synthetic import synthetic_workload

SMALL = {"workload": {"vms": 300, "days": 0.5, "seed": 3}}


def test_a_scenario_is_its_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[workload]\nvms = 300\ndays = 0.5\nseed = 3\n[fleet]\ncpu_ratio = 4.0\n'
                    '[host_models]\nsharing = 0.1\n')
    scenario = Scenario.from_toml(path)
    assert scenario == Scenario({**SMALL, "fleet": {"cpu_ratio": 4.0},
                                 "host_models": {"sharing": 0.1}})
    assert pickle.loads(pickle.dumps(scenario)) == scenario
    assert scenario.digest() == Scenario(scenario.tables).digest()
    assert scenario.digest() != scenario.replace({"fleet.cpu_ratio": 2.0}).digest()
    values = scenario.settings()
    assert values["cpu_ratio"] == 4.0 and values["memory_parameters"] == {"sharing": 0.1}
    assert values["given"] == {"vms", "days", "seed", "cpu_ratio"}
    assert values["policy"] == "best_fit"           # a default


@pytest.mark.parametrize("tables, words", [
    ({"nonsense": {"x": 1}}, ["[nonsense]", "known"]),
    ({"fleet": {"cpus": 4}}, ["'cpus'", "[fleet]", "vcpus"]),
    ({"fleet": {"vcpus": 2.5}}, ["vcpus", "2.5", "whole"]),
    ({"fleet": {"cpu_ratio": float("nan")}}, ["cpu_ratio", "nan"]),
    ({"workload": {"format": "csv"}}, ["format", "'csv'", "planetlab"]),
    ({"workload": {"days": 1.0}, "run": {"days": 2.0}}, ["days", "[workload]", "[run]"]),
    ({"host_models": {"sharng": 0.1}}, ["sharng", "sharing"]),
    ({"fleet": 3}, ["[fleet]", "3"]),
])
def test_bad_scenarios_name_the_setting(tables, words):
    with pytest.raises(ScenarioError) as error:
        Scenario(tables)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_replace_and_replicate_change_a_setting_where_it_is():
    scenario = Scenario({"run": {"seed": 5, "days": 1.0}})
    assert scenario.replace({"workload.seed": 6}).tables == {"run": {"seed": 6, "days": 1.0}}
    assert scenario.replicate(3).get("run.seed") == 8
    assert Scenario().replicate(2).get("workload.seed") == 2      # default seed 0, plus r
    with pytest.raises(ScenarioError):
        scenario.replace({"fleet.cpus": 1})


def test_run_scenario_is_the_run_built_by_hand():
    outcome = run_scenario({**SMALL, "fleet": {"cpu_ratio": 4.0},
                            "placement": {"policy": "first_fit"}})
    workload = synthetic_workload(300, 0.5, seed=3)
    host = dict(vcpus=64, memory_mib=256 * 1024, disk_gib=0, overcommit="nova",
                cpu_allocation_ratio=4.0)
    sizing = find_min_hosts(workload, policy="first_fit", **host)
    fleet = Fleet.uniform(sizing.n_hosts, **host)
    by_hand = Simulation(fleet, Placer(fleet, "first_fit"), HostModels(), workload).run()
    assert outcome.sizing == sizing
    pd.testing.assert_frame_equal(outcome.results.vms, by_hand.vms, check_exact=True)
    pd.testing.assert_frame_equal(outcome.results.ticks, by_hand.ticks, check_exact=True)
    assert outcome.summary()["hosts in fleet"] == sizing.n_hosts
    tables = outcome.tables()
    assert set(tables) == {"summary", "ticks", "tenants"} and len(tables["summary"]) == 1


def test_a_workload_cache_builds_each_workload_once():
    cache = WorkloadCache(max_items=2)
    for ratio in (1.0, 2.0, 4.0):
        run_scenario({**SMALL, "fleet": {"cpu_ratio": ratio}}, workloads=cache)
    assert cache.builds == 1
    run_scenario({"workload": {"vms": 300, "days": 0.5, "seed": 4}}, workloads=cache)
    assert cache.builds == 2


def test_a_sweep_is_the_product_of_its_axes_times_its_replicates():
    sweep = Sweep(SMALL, {"fleet.cpu_ratio": [1.0, 2.0, 4.0],
                          "placement.policy": ["first_fit", "best_fit"]}, replicates=2)
    assert len(sweep.points) == 12
    first, last = sweep.points[0], sweep.points[-1]
    assert first.values == {"fleet.cpu_ratio": 1.0, "placement.policy": "first_fit"}
    assert sweep.points[1].values["placement.policy"] == "best_fit"   # the last axis fastest
    assert first.scenario.get("workload.seed") == 3 and last.scenario.get("workload.seed") == 4
    assert last.replicate == 1 and last.scenario.get("fleet.cpu_ratio") == 4.0
    assert len({p.name for p in sweep.points}) == 12
    assert sweep.against == "fleet.cpu_ratio"


def test_a_sweep_file(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('[workload]\nvms = 300\ndays = 0.5\n[sweep]\nreplicates = 3\n'
                    '[sweep.axes]\n"fleet.cpu_ratio" = [1.0, 2.0]\nplacement.policy = '
                    '["first_fit", "best_fit"]\n')
    sweep = Sweep.from_toml(path)
    assert sweep.axes == {"fleet.cpu_ratio": [1.0, 2.0],
                          "placement.policy": ["first_fit", "best_fit"]}
    assert len(sweep.points) == 12 and sweep.replicates == 3


@pytest.mark.parametrize("text, words", [
    ('[sweep]\nreplicates = 2\n[sweep.axes]\n"fleet.cpus" = [1]\n', ["cpus", "[fleet]"]),
    ('[sweep]\nreplicate = 2\n', ["'replicate'", "[sweep]"]),
    ('[sweep]\nreplicates = 0\n', ["replicates", "below 1"]),
    ('[workload]\nvms = 100\n[sweep]\n[sweep.axes]\n"workload.vms" = [1, 2]\n',
     ["workload.vms", "set in the scenario", "swept"]),
    ('[sweep]\n[sweep.axes]\n"fleet.cpu_ratio" = [1.0, -2.0]\n', ["cpu_ratio", "-2.0"]),
    ('[sweep]\n[sweep.axes]\n"fleet.cpu_ratio" = [1.0, 1.0]\n', ["repeats"]),
    ('[sweep]\n[sweep.axes]\n"fleet.cpu_ratio" = []\n', ["no values"]),
    ('[sweep]\n[sweep.axes]\n"placement.policy" = ["best_fit", "nope"]\n',
     ["placement.policy = 'nope'", "nope"]),
    ('[run]\nout = "x"\n[sweep]\n', ["run.out", "does not apply"]),
    ('[workload]\nvms = 100\n', ["[sweep]"]),
    ('[workload]\nvms = 100\n[run]\nseed = 1\n[workload.x]\n[sweep]\n', ["'x'"]),
])
def test_a_bad_sweep_file_is_refused_whole(tmp_path, text, words):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as error:
        Sweep.from_toml(path)
    message = str(error.value)
    assert message.startswith(f"sweep file {path}") and all(w in message for w in words), message


def test_short_scenarios_are_batched_and_long_ones_run_alone():
    short = Sweep({"workload": {"vms": 1000, "days": 1.0}},
                  {"fleet.cpu_ratio": [1.0, 2.0, 4.0, 8.0]}, replicates=10)
    # 40 scenarios of 1,000 VM-days: 4 tasks per worker ...
    assert [len(b) for b in batches(short.points)] == [10] * 4
    assert [len(b) for b in batches(short.points, workers=2)] == [5] * 8
    assert [p.index for b in batches(short.points) for p in b] == list(range(40))
    # ... and at most SHORT_VM_DAYS per task.
    many = Sweep({"workload": {"vms": 1000, "days": 1.0}}, {"fleet.cpu_ratio": [1.0, 2.0]},
                 replicates=100)
    assert [len(b) for b in batches(many.points)] == [SHORT_VM_DAYS // 1000] * 10
    long = Sweep({"workload": {"vms": 20_000, "days": 7.0}}, {"fleet.cpu_ratio": [1.0, 2.0]})
    assert [len(b) for b in batches(long.points)] == [1, 1]


def test_checking_a_scenario_changes_nothing_in_the_process(monkeypatch):
    from vmsched.errors import ResourceLimit
    from vmsched.scenarios import Plan

    monkeypatch.delenv("VMSCHED_MEMORY_LIMIT", raising=False)
    with pytest.raises(ResourceLimit):
        Plan({"workload": {"vms": 200_000}, "run": {"memory_limit_gib": 0.001}})
    Plan({"workload": {"vms": 200}, "run": {"memory_limit_gib": 64}})
    assert "VMSCHED_MEMORY_LIMIT" not in __import__("os").environ
    Plan({"workload": {"vms": 200}})            # not refused by an earlier scenario's limit


@pytest.mark.parametrize("base, axes, replicates, words", [
    ({}, {"fleet.cpu_ratio": [2.0, "4"]}, 1, ["'4'", "not a number"]),
    ({}, {"fleet.vcpus": ["64"]}, 1, ["'64'", "whole"]),
    ({}, {"fleet.cpu_ratio": [4, 4.0]}, 1, ["repeats"]),
    ({"workload": {"seed": 5}}, {"run.seed": [1, 2]}, 1, ["run.seed", "workload.seed"]),
    ({}, {"workload.days": [1.0], "run.days": [2.0]}, 1, ["one setting"]),
    ({}, {"workload.seed": [0, 1]}, 2, ["workload.seed", "replicates"]),
])
def test_sweeps_refuse_settings_that_would_run_twice_or_not_as_given(base, axes, replicates,
                                                                     words):
    with pytest.raises(ScenarioError) as error:
        Sweep(base, axes, replicates=replicates)
    assert all(w in str(error.value) for w in words), str(error.value)


def test_strings_are_numbers_only_on_a_command_line():
    with pytest.raises(ScenarioError, match="'300' is not a whole number"):
        Scenario({"workload": {"vms": "300"}})
    with pytest.raises(ScenarioError, match="replicates"):
        Sweep({}, {}, replicates="3")


def test_one_sweep_at_a_time_writes_a_folder(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    from vmsched.errors import SweepError

    sweep = Sweep({"workload": {"vms": 50, "days": 0.1}}, {"fleet.cpu_ratio": [1.0]})
    sweep.run_in_process(out=tmp_path / "s", progress=False)
    with open(tmp_path / "s" / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SweepError, match="another sweep is writing"):
            sweep.run_in_process(out=tmp_path / "s", progress=False)
    assert sweep.run_in_process(out=tmp_path / "s").timing["scenarios run"] == 0


def test_a_sweep_that_cannot_start_leaves_no_folder(tmp_path):
    from vmsched.errors import SweepError

    sweep = Sweep({"workload": {"vms": 50, "days": 0.1}}, {"fleet.cpu_ratio": [1.0]})
    with pytest.raises(SweepError, match="cannot reach the Dask scheduler"):
        sweep.run("tcp://127.0.0.1:9", out=tmp_path / "s", connect_timeout_s=1.0)
    assert not (tmp_path / "s").exists()
