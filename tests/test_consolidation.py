"""Dynamic consolidation: CloudSim 3.0.3's published PlanetLab figures, the detectors and the
MC selector against textbook references, the API's checks and invariants."""

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from budget import examples

from vmsched import Fleet
from vmsched.engine.models import kernels_detectors as kd
from vmsched.engine.simulation import kernels_consolidation as kc
from vmsched.errors import InvalidRequest
from vmsched.reference import detectors as ref
from vmsched.simulation import consolidate, parse_policy
from vmsched.simulation.consolidation import CLOUDSIM_EXACT, CLOUDSIM_FIGURES
from vmsched.workload.readers import read_planetlab
from vmsched.workload.utilization import TraceUtilization
from vmsched.workload.workload import Workload

FIXTURE = Path(__file__).parent / "fixtures" / "planetlab" / "20110303"
DATA = Path(os.environ.get("VMSCHED_DATA", Path(__file__).parents[2] / "shared" / "data"))
PLANETLAB = DATA / "planetlab"
needs_planetlab = pytest.mark.skipif(
    not (PLANETLAB / "20110303").is_dir(),
    reason=f"the PlanetLab days are not in {PLANETLAB} (set VMSCHED_DATA to the data folder)")

@pytest.fixture(scope="module")
def days():
    return {day: read_planetlab(PLANETLAB / day) for day in ("20110303", "20110306")}


@needs_planetlab
@pytest.mark.parametrize("day, policy", CLOUDSIM_EXACT)
def test_cloudsim_preset_prints_cloudsim_303s_figures(days, day, policy):
    """With the cloudsim-planetlab preset, vmsched prints what CloudSim 3.0.3 printed."""
    energy, migrations, slatah, pdm, slav, shutdowns = CLOUDSIM_FIGURES[(day, policy)]
    s = consolidate(days[day], policy, preset="cloudsim-planetlab").summary
    assert f"{s['energy kWh']:.2f}" == f"{energy:.2f}"
    assert s["migrations"] == migrations
    assert f"{s['SLATAH %']:.2f}" == f"{slatah:.2f}"
    assert f"{s['PDM %']:.2f}" == f"{pdm:.2f}"
    assert f"{s['SLAV %']:.5f}" == f"{slav:.5f}"
    assert s["host shutdowns"] == shutdowns


@needs_planetlab
def test_lr_mc_is_within_two_percent_of_cloudsim(days):
    """LR-MC's regression is least squares (CloudSim's uses the flanagan library's): energy
    and migrations within 2 % of CloudSim 3.0.3's 151.07 kWh and 23380."""
    s = consolidate(days["20110303"], "lr-mc-1.2", preset="cloudsim-planetlab").summary
    energy, migrations = CLOUDSIM_FIGURES[("20110303", "lr-mc-1.2")][:2]
    assert abs(s["energy kWh"] / energy - 1) < 0.02
    assert abs(s["migrations"] / migrations - 1) < 0.02


def test_every_policy_runs_on_the_fixture_and_keeps_its_invariants():
    workload = read_planetlab(FIXTURE)
    for policy in ("npa", "dvfs", "thr-mmt", "iqr-mu", "mad-mc", "lr-rs", "lrr-mmt"):
        for rules in ("cloudsim", "vmsched"):
            r = consolidate(workload, policy, preset="cloudsim-planetlab", rules=rules)
            s = r.summary
            assert s["energy kWh"] > 0 and s["migrations"] >= 0
            assert math.isclose(r.hosts["energy_kwh"].sum(), s["energy kWh"], rel_tol=1e-9)
            assert 0 <= s["SLATAH %"] <= 100 and 0 <= s["PDM %"] <= 100
            assert (r.vms["granted_s"] <= r.vms["requested_s"] * (1 + 1e-12) + 1e-9).all()
            if rules == "vmsched":
                assert (r.vms["outcome"] == "running").all()
                assert s["VMs destroyed at zero demand"] == 0


def _vmsched_rules_memory(days_or_fixture):
    r = consolidate(days_or_fixture, "thr-mmt-0.8", preset="cloudsim-planetlab",
                    rules="vmsched")
    per_host = r.vms.groupby("host")["memory_mib"].sum()
    return r, per_host


def test_vmsched_rules_never_put_more_memory_on_a_host_than_it_has():
    r, per_host = _vmsched_rules_memory(read_planetlab(FIXTURE))
    assert (per_host <= 4096).all()


@needs_planetlab
def test_vmsched_rules_keep_memory_on_the_real_day(days):
    """vmsched's own rules: memory counts (CloudSim's running VMs request none), so no host
    ends the day holding more than its 4096 MiB, and every VM runs to the end."""
    r, per_host = _vmsched_rules_memory(days["20110306"])
    assert (per_host <= 4096).all()
    assert (r.vms["outcome"] == "running").all()


def test_same_inputs_same_results_and_the_seed_drives_rs():
    workload = read_planetlab(FIXTURE)
    a = consolidate(workload, "lr-rs-1.2", preset="cloudsim-planetlab", seed=3).summary
    b = consolidate(workload, "lr-rs-1.2", preset="cloudsim-planetlab", seed=3).summary
    assert a.drop("wall seconds").equals(b.drop("wall seconds"))


def _workload(samples, memory_mib=1024, vcpus=1, start=0.0):
    n, length = samples.shape
    table = pd.DataFrame({"vm_id": [f"v{i}" for i in range(n)], "tenant": 0,
                          "start_s": start, "end_s": length * 300.0,
                          "VCPU": vcpus, "MEMORY_MB": memory_mib})
    cpu = TraceUtilization.from_series(list(samples), np.zeros(n))
    return Workload(table, cpu=cpu)


def test_a_fleet_of_its_own_consolidates_with_memory_counted():
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 60, size=(12, 24)) / 100.0
    fleet = Fleet.uniform(8, vcpus=2, memory_mib=4096, disk_gib=0, overcommit="none")
    r = consolidate(_workload(samples, memory_mib=2048), "thr-mmt-0.8", fleet=fleet)
    assert r.summary["rules"] == "vmsched"
    assert (r.vms.groupby("host")["memory_mib"].sum() <= 4096).all()
    assert r.summary["energy kWh"] > 0


@pytest.mark.parametrize("spec, message", [
    ("bogus", "unknown"), ("lr", "unknown"), ("lr-xx", "unknown"), ("lr-mmt-a", "not a number"),
    ("thr-mmt-0", "threshold"), ("thr-mmt-1.5", "threshold"), ("mad-mmt--1", "unknown"),
    ("iqr-mmt-nan", "safety"), (3, "not a name"), ("", "not a name"),
])
def test_bad_policies_are_refused_by_name(spec, message):
    with pytest.raises(InvalidRequest, match=message):
        parse_policy(spec)


def test_defaults_and_names_of_policies():
    assert parse_policy("lr-mmt").parameter == 1.2
    assert parse_policy("THR-MU").name == "thr-mu-0.8"
    assert parse_policy("dvfs").kind == "dvfs"


@pytest.mark.parametrize("kwargs, message", [
    ({"preset": "nope"}, "unknown"),
    ({"preset": "cloudsim-planetlab", "fleet": Fleet.uniform(2)}, "not both"),
    ({}, "give a fleet"),
    ({"preset": "cloudsim-planetlab", "rules": "mine"}, "rules"),
    ({"preset": "cloudsim-planetlab", "seed": -1}, "seed"),
    ({"preset": "cloudsim-planetlab", "seed": 1.5}, "seed"),
    ({"fleet": Fleet.uniform(2), "pcpu_speed": 0.0}, "pcpu_speed"),
    ({"fleet": Fleet.uniform(2), "vcpu_speed": [1.0, 2.0]}, "vcpu_speed"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(InvalidRequest, match=message):
        consolidate(_workload(np.full((3, 4), 0.5)), "thr-mmt", **kwargs)


def test_workloads_it_cannot_run_are_refused():
    with pytest.raises(InvalidRequest, match="arriving or leaving"):
        consolidate(_workload(np.full((2, 4), 0.5), start=300.0), preset="cloudsim-planetlab")
    with pytest.raises(InvalidRequest, match="one-vCPU"):
        consolidate(_workload(np.full((2, 4), 0.5), vcpus=2), preset="cloudsim-planetlab")
    table = pd.DataFrame({"vm_id": ["a"], "tenant": 0, "start_s": 0.0, "end_s": 600.0,
                          "VCPU": 1, "MEMORY_MB": 512})
    with pytest.raises(InvalidRequest, match="traces"):
        consolidate(Workload(table), preset="cloudsim-planetlab")


def test_results_write_tables_and_a_chart(tmp_path):
    r = consolidate(read_planetlab(FIXTURE), "lr-mmt", preset="cloudsim-planetlab")
    names = sorted(p.name for p in r.write(tmp_path))
    assert names == ["consolidation.png", "consolidation_hosts.parquet",
                     "consolidation_rounds.parquet", "consolidation_summary.parquet",
                     "consolidation_vms.parquet"]
    rounds = pd.read_parquet(tmp_path / "consolidation_rounds.parquet")
    assert len(rounds) == 287 and rounds["time_s"].iloc[0] == pytest.approx(300.1)


# --- detectors and MC against the references ----------------------------------------------

histories = st.lists(st.one_of(st.just(0.0), st.floats(0.0, 1.2, allow_nan=False)),
                     min_size=0, max_size=kd.HISTORY_LENGTH)


@settings(max_examples=examples(200), deadline=None)
@given(detector=st.sampled_from(kd.DETECTOR_NAMES), history=histories,
       current=st.floats(0.0, 1.5, allow_nan=False), parameter=st.floats(0.05, 3.0),
       intervals=st.integers(0, 3))
def test_detectors_decide_as_the_textbook_formulas(detector, history, current, parameter,
                                                   intervals):
    if detector == "thr":
        parameter = min(parameter, 1.0)
    padded = np.zeros(kd.HISTORY_LENGTH)
    padded[:len(history)] = history
    length = kd.trimmed_length(padded)
    assert length == ref.length(list(padded))
    expected, margin = ref.decision(detector, parameter, current, list(padded), intervals)
    assume(abs(margin) > 1e-9)
    got = kd.is_overloaded(kd.DETECTOR_NAMES.index(detector), parameter, ref.FALLBACK,
                           current, padded, length, float(intervals),
                           np.empty(kd.HISTORY_LENGTH))
    assert bool(got) == expected


@settings(max_examples=examples(200), deadline=None)
@given(data=st.data(), k=st.integers(1, 5))
def test_mc_selects_the_most_correlated_vm_as_least_squares_does(data, k):
    lengths = data.draw(st.lists(st.integers(1, kd.HISTORY_LENGTH), min_size=k, max_size=k))
    hist = [data.draw(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=n, max_size=n))
            for n in lengths]
    expected, margin = ref.most_correlated(hist)
    vhist = np.zeros((k, kd.HISTORY_LENGTH))
    vi = np.zeros((k, kc.N_VI), np.int64)
    for i, h in enumerate(hist):
        vhist[i, :len(h)] = h
        vi[i, kc.V_HLEN] = len(h)
    cap = max(k, 2)
    got = kc.correlation_choice(vi, vhist, np.arange(k, dtype=np.int64), k,
                                 np.empty((kd.HISTORY_LENGTH, cap)), np.empty(kd.HISTORY_LENGTH),
                                 np.empty((cap, cap)), np.empty(cap))
    if expected is None:
        assert got == -1
        return
    m = min(lengths)
    for i in range(k):
        x = np.column_stack([np.ones(m)] + [np.array(hist[j][:m]) for j in range(k) if j != i])
        assume(np.linalg.cond(x.T @ x) < 1e8)
    assume(margin > 1e-6)
    assert got == expected


def _grouped(samples, groups, spec, memory_mib=613):
    workload = _workload(samples, memory_mib=memory_mib)
    table = workload.table.copy()
    table["group"] = groups
    return Workload(table, cpu=workload.cpu, groups=spec)


def _draw_day(data, max_hosts, max_level, max_samples):
    """(n_hosts, n_vms, samples): a small fleet's size and its VMs' traces, drawn."""
    n_hosts = data.draw(st.integers(2, max_hosts))
    n_vms = data.draw(st.integers(1, 3 * n_hosts))
    n_samples = data.draw(st.integers(4, max_samples))
    levels = data.draw(st.lists(st.integers(0, max_level), min_size=n_vms * n_samples,
                                max_size=n_vms * n_samples))
    return n_hosts, n_vms, np.array(levels, float).reshape(n_vms, n_samples) / 100


@settings(max_examples=examples(100), deadline=None)
@given(data=st.data())
def test_anti_affinity_holds_through_consolidation(data):
    """Every placement and migration keeps each anti-affinity group's members on distinct
    hosts (at most max_per_host): checked by the engine at every update (violations counted)
    and on the final placement."""
    n_hosts, n_vms, samples = _draw_day(data, 8, 95, 24)
    n_groups = data.draw(st.integers(1, 3))
    groups = [f"g{i % n_groups}" if i < n_hosts * n_groups else None for i in range(n_vms)]
    maximum = data.draw(st.integers(1, 2))
    spec = {f"g{g}": ("anti-affinity", maximum) for g in range(n_groups)}
    fleet = Fleet.uniform(n_hosts, vcpus=2, memory_mib=8192, disk_gib=0, overcommit="none")
    policy = data.draw(st.sampled_from(["thr-mmt-0.8", "lr-mmt-1.2", "mad-mu-2.5"]))
    r = consolidate(_grouped(samples, groups, spec), policy, fleet=fleet)
    event("migrations" if r.summary["migrations"] else "no migration")
    assert r.summary["anti-affinity violations"] == 0
    placed = r.vms.assign(group=groups)
    placed = placed[placed["outcome"] == "running"].dropna(subset=["group"])
    assert (placed.groupby(["host", "group"]).size() <= maximum).all()


def test_anti_affinity_changes_what_consolidation_does():
    samples = np.full((6, 12), 0.05)
    fleet = Fleet.uniform(6, vcpus=2, memory_mib=8192, disk_gib=0, overcommit="none")
    free = consolidate(_workload(samples, memory_mib=613), "thr-mmt-0.8", fleet=fleet)
    spread = consolidate(_grouped(samples, ["g"] * 6, {"g": "anti-affinity"}), "thr-mmt-0.8",
                         fleet=fleet)
    assert free.vms["host"].nunique() < 6 and spread.vms["host"].nunique() == 6


@pytest.mark.parametrize("spec, rules, message", [
    ({"g": "anti-affinity"}, "cloudsim", "no server groups"),
    ({"g": "affinity"}, "vmsched", "anti-affinity' groups only"),
    ({"g": ("anti-affinity", 0)}, "vmsched", "max_per_host"),
    ({}, "vmsched", "do not define"),
])
def test_groups_consolidation_cannot_keep_are_refused(spec, rules, message):
    fleet = Fleet.uniform(2, vcpus=2, memory_mib=8192, disk_gib=0, overcommit="none")
    with pytest.raises(InvalidRequest, match=message):
        consolidate(_grouped(np.full((2, 4), 0.2), ["g", "g"], spec), "thr-mmt", fleet=fleet,
                    rules=rules)


# --- migration models -----------------------------------------------------------------------

@settings(max_examples=examples(200), deadline=None)
@given(memory=st.floats(1.0, 65536.0), active=st.floats(0.0, 1.0),
       dirty=st.floats(0.0, 2.0), bandwidth=st.floats(1.0, 2000.0),
       downtime=st.floats(0.0, 2.0), rounds=st.integers(1, 40))
def test_precopy_rounds_equal_the_reference(memory, active, dirty, bandwidth, downtime, rounds):
    from vmsched.reference.migration import precopy as reference

    out = np.zeros(3)
    got = kc.precopy(memory, memory * active, dirty, bandwidth, downtime, float(rounds), out)
    expected = reference(memory, memory * active, dirty, bandwidth, downtime, rounds)
    assert (got, out[0], out[1], out[2]) == pytest.approx(expected, rel=1e-12)
    assert expected[3] <= max(rounds, 2)
    assert expected[1] >= memory                      # the whole memory once at least
    if dirty == 0 or active == 0:
        assert got == pytest.approx(memory / bandwidth) and out[1] == 0


def test_precopy_reports_what_it_moved_and_the_vms_downtime():
    workload = read_planetlab(FIXTURE)
    base = consolidate(workload, "thr-mmt-0.5", preset="cloudsim-planetlab", rules="vmsched")
    pre = consolidate(workload, "thr-mmt-0.5", preset="cloudsim-planetlab", rules="vmsched",
                      migration="precopy", dirty_rate_per_s=0.05)
    assert pre.summary["migration model"] == "precopy"
    assert base.summary["migration downtime s"] == 0
    if pre.summary["migrations"]:
        assert pre.summary["migration downtime s"] > 0
        assert pre.summary["MiB transferred"] >= pre.vms["memory_mib"].min()
    for kwargs, message in ((dict(migration="postcopy"), "unknown"),
                            (dict(dirty_rate_per_s=-1.0), "dirty_rate"),
                            (dict(max_downtime_s=float("nan")), "max_downtime"),
                            (dict(max_copy_rounds=0), "max_copy_rounds")):
        with pytest.raises(InvalidRequest, match=message):
            consolidate(workload, "thr-mmt", preset="cloudsim-planetlab", **kwargs)


@settings(max_examples=examples(60), deadline=None)
@given(data=st.data())
def test_migrations_longer_than_a_round_keep_the_invariants(data):
    """Pre-copy over a thin link: migrations span many rounds (VMs stay allocated on both
    hosts, are not selected again while they move, and complete in time order); the run
    keeps its invariants: energy within the fleet's full power, every VM on one host at the
    end, no anti-affinity violation, granted <= requested."""
    n_hosts, n_vms, samples = _draw_day(data, 6, 100, 30)
    n_samples = samples.shape[1]
    fleet = Fleet.uniform(n_hosts, vcpus=2, memory_mib=8192, disk_gib=0, overcommit="none")
    policy = data.draw(st.sampled_from(["thr-mmt-0.5", "lr-mu-1.2", "mad-mmt-1.0"]))
    rules = data.draw(st.sampled_from(["vmsched", "cloudsim"]))
    bandwidth = data.draw(st.sampled_from([0.5, 2.0, 50.0]))
    r = consolidate(_workload(samples, memory_mib=1024), policy, fleet=fleet, rules=rules,
                    migration="precopy", bandwidth_mbps=bandwidth,
                    dirty_rate_per_s=data.draw(st.sampled_from([0.0, 0.01, 0.5])))
    s = r.summary
    event("migrations" if s["migrations"] else "no migration")
    full = fleet.power_model(0).max_w * n_hosts * n_samples * 300 / 3.6e6
    assert 0 <= s["energy kWh"] <= full * (1 + 1e-9)
    assert s["anti-affinity violations"] == 0
    running = r.vms[r.vms["outcome"] == "running"]
    assert (running["host"] >= 0).all() and (running["host"] < n_hosts).all()
    assert (r.vms["granted_s"] <= r.vms["requested_s"] * (1 + 1e-12) + 1e-9).all()


# --- VMs that arrive and leave, of several vCPUs (vmsched's rules) --------------------------

def _synthetic_fleet(n_vms, days, seed=0):
    from vmsched.simulation.sizing import find_min_hosts
    from vmsched.workload.synthetic import synthetic_workload

    workload = synthetic_workload(n_vms, days, seed=seed)
    host = dict(vcpus=64, memory_mib=262144, disk_gib=0, overcommit="none")
    return workload, Fleet.uniform(find_min_hosts(workload, **host).n_hosts, **host)


def test_a_synthetic_month_consolidates_with_arrivals_departures_and_precopy():
    """VMs of 1-32 vCPUs arrive and leave; every one is placed, none is left running past
    its end, memory and pCPUs hold on every host, and consolidation saves energy."""
    workload, fleet = _synthetic_fleet(1500, 2.0)
    duration = 2 * 86400.0
    r = consolidate(workload, "lr-mmt-1.2", fleet=fleet, migration="precopy",
                    bandwidth_mbps=10_000.0, duration_s=duration)
    s = r.summary
    assert s["VMs not placed"] == 0 and s["anti-affinity violations"] == 0
    assert s["migrations"] > 0 and s["migration downtime s"] > 0
    table = workload.table
    leaves = table["end_s"].fillna(np.inf).to_numpy() < duration
    assert s["VMs finished"] == leaves.sum()
    assert (r.vms["outcome"][leaves] == "finished").all()
    assert (r.vms["outcome"][~leaves] == "running").all()
    running = r.vms[r.vms["outcome"] == "running"].assign(vcpus=table["VCPU"].to_numpy()[~leaves])
    assert (running.groupby("host")["memory_mib"].sum() <= 262144).all()
    # A VM of n vCPUs never gets more than n pCPUs' worth of CPU.
    seconds = np.minimum(table["end_s"].fillna(np.inf), duration) - table["start_s"]
    assert (r.vms["granted_s"] <= table["VCPU"] * seconds + 300 * table["VCPU"] + 1e-6).all()
    baseline = consolidate(workload, "dvfs", fleet=fleet, duration_s=duration).summary
    assert s["energy kWh"] < baseline["energy kWh"]
    assert baseline["migrations"] == 0 and baseline["VMs not placed"] == 0


def test_a_vm_that_fits_nowhere_waits_and_is_placed_when_room_frees():
    from vmsched.workload.utilization import ConstantUtilization, SyntheticUtilization

    table = pd.DataFrame({"vm_id": ["big", "blocker", "late"], "tenant": 0,
                          "start_s": [0.0, 0.0, 0.0], "end_s": [3000.0, 900.0, 3000.0],
                          "VCPU": [2, 2, 2], "MEMORY_MB": [4096, 4096, 4096]})
    cpu = SyntheticUtilization(np.full(3, 0.5), np.zeros(288), 0.0, 0)
    workload = Workload(table, cpu=cpu, memory=ConstantUtilization(0.4, 3))
    fleet = Fleet.uniform(2, vcpus=2, memory_mib=4096, disk_gib=0, overcommit="none")
    r = consolidate(workload, "thr-mmt-0.8", fleet=fleet, duration_s=3000.0)
    assert r.summary["VMs delayed"] == 1 and r.summary["mean delay s"] == 900.0
    assert r.summary["VMs not placed"] == 0
    assert list(r.vms["outcome"]) == ["running", "finished", "running"]


@settings(max_examples=examples(60), deadline=None)
@given(data=st.data())
def test_anti_affinity_holds_while_vms_arrive_and_leave(data):
    seed = data.draw(st.integers(0, 1000))
    workload, fleet = _synthetic_fleet(data.draw(st.integers(20, 200)), 1.0, seed)
    table = workload.table.copy()
    n_groups = data.draw(st.integers(1, 4))
    maximum = data.draw(st.integers(1, 2))
    table["group"] = [f"g{i % n_groups}" if i % 3 == 0 else None for i in range(len(table))]
    spec = {f"g{g}": ("anti-affinity", maximum) for g in range(n_groups)}
    grouped = Workload(table, cpu=workload.cpu, memory=workload.memory, groups=spec)
    policy = data.draw(st.sampled_from(["thr-mmt-0.5", "lr-mmt-1.2", "mad-mu-2.5"]))
    r = consolidate(grouped, policy, fleet=fleet, migration="precopy")
    event("migrations" if r.summary["migrations"] else "no migration")
    if r.summary["VMs delayed"] or r.summary["VMs not placed"]:
        event("VMs waiting for a host")
    assert r.summary["anti-affinity violations"] == 0


def test_cloudsim_rules_refuse_a_synthetic_workload():
    workload, fleet = _synthetic_fleet(50, 0.5)
    with pytest.raises(InvalidRequest, match="rules='vmsched'"):
        consolidate(workload, "lr-mmt-1.2", fleet=fleet, rules="cloudsim")
    with pytest.raises(InvalidRequest, match="duration_s"):
        consolidate(workload, "lr-mmt-1.2", fleet=fleet, duration_s=float("nan"))
