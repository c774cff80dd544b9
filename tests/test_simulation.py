"""Simulation semantics, fleet sizing, the synthetic generator, results."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmsched import Fleet, HostModels, Placer, errors
from vmsched.simulation import Simulation, run_placement_only
from vmsched.simulation.sizing import find_min_hosts
from vmsched.workload.synthetic import azure2017_parameters, synthetic_workload
from vmsched.workload.utilization import ConstantUtilization, SyntheticUtilization, TraceUtilization
from vmsched.workload import Workload


def workload(rows, cpu=0.5):
    table = pd.DataFrame(rows, columns=["vm_id", "start_s", "end_s", "VCPU", "MEMORY_MB"])
    return Workload(table, cpu=cpu)


def one_host(vcpus=4, memory=8192, ratio=1.0):
    return Fleet([[vcpus, memory]], resources=("VCPU", "MEMORY_MB"),
                 allocation_ratio={"VCPU": ratio})


def test_a_vm_is_measured_in_ticks_with_start_le_t_lt_end():
    w = workload([("a", 0, 600, 2, 1024), ("b", 600, 1200, 2, 1024), ("c", 100, 200, 1, 512),
                  ("d", 250, np.nan, 1, 512)])
    fleet = one_host()
    sim = Simulation(fleet, "first_fit", HostModels(), w, tick_s=300, duration_s=1200)
    vms = sim.run().vms.set_index("vm_id")
    assert vms.loc["a", "ticks"] == 2 and vms.loc["b", "ticks"] == 2
    assert vms.loc["c", "ticks"] == 0                 # lived inside one tick: never measured
    assert vms.loc["d", "ticks"] == 3                 # t = 300, 600, 900; never leaves
    # Constant 50% of 2 vCPUs with no contention: 1 core x 300 s per tick.
    assert vms.loc["a", "used_core_s"] == pytest.approx(600.0)
    assert vms.loc["a", "ready_core_s"] == 0.0
    # b leaves at 1200 s, the end of the run: its departure is not reached.
    assert vms["status"].to_dict() == {"a": "done", "c": "done", "d": "running", "b": "running"}


def test_departures_come_before_arrivals_at_the_same_time():
    w = workload([("a", 0, 600, 4, 1024), ("b", 600, 900, 4, 1024)])
    vms = Simulation(one_host(), "first_fit", None, w, tick_s=300).run().vms.set_index("vm_id")
    assert vms.loc["b", "status"] != "rejected" and vms.loc["b", "host"] == 0


def test_events_inside_a_tick_keep_their_time_order():
    # c holds the host from 100 to 200; d arrives at 250 (fits) and e at 260 while d is there.
    w = workload([("c", 100, 200, 4, 1024), ("d", 250, 1000, 4, 1024),
                  ("e", 260, 1000, 4, 1024)])
    sim = Simulation(one_host(), "first_fit", None, w, tick_s=300)
    vms = sim.run().vms.set_index("vm_id")
    assert vms.loc["d", "status"] == "done"  # left at 1000 s, before the last tick (1200 s)
    assert vms.loc["e", "status"] == "rejected" and vms.loc["e", "rejected_by"] == "resource_fit"
    assert sim.run().summary()["rejected by resource_fit"] == 1


def test_contention_is_accounted_exactly():
    # Two 4-vCPU VMs at 100% on 4 pCPUs (ratio 2): each gets 2 cores, 2 ready.
    w = workload([("a", 0, 600, 4, 1024), ("b", 0, 600, 4, 1024)], cpu=1.0)
    result = Simulation(one_host(ratio=2.0), "first_fit", HostModels(), w, tick_s=300).run()
    vms = result.vms.set_index("vm_id")
    assert vms.loc["a", "used_core_s"] == pytest.approx(2 * 300 * 2)
    assert vms.loc["a", "ready_core_s"] == pytest.approx(2 * 300 * 2)
    assert vms.loc["a", "contention_s"] == 600
    summary = result.summary()
    assert summary["CPU ready p50 (fraction of demand)"] == pytest.approx(0.5)
    assert summary["VMs with CPU ready > 5%"] == 2
    assert result.ticks["ready_core_s"].tolist() == pytest.approx([1200.0, 1200.0, 0.0])


def run_synthetic(seed=3, native=True, policy="best_fit", n=3000, days=2.0, hosts=None):
    w = synthetic_workload(n, days, seed=seed)
    fleet = Fleet.uniform(hosts or 30, vcpus=32, memory_mib=131072, disk_gib=0,
                          overcommit="nova_pre_stein")
    sim = Simulation(fleet, Placer(fleet, policy, seed=seed), HostModels(), w, tick_s=300,
                     duration_s=days * 86400)
    sim.native_lifecycle = native and sim.native_lifecycle
    return sim, sim.run()


def test_native_event_loop_equals_the_python_one():
    for policy in ("best_fit", "kubernetes"):
        _, native = run_synthetic(native=True, policy=policy)
        _, python = run_synthetic(native=False, policy=policy)
        pd.testing.assert_frame_equal(native.vms, python.vms)
        pd.testing.assert_frame_equal(native.ticks, python.ticks)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("*.parquet"))}


def test_same_seed_same_result_files(tmp_path):
    _, first = run_synthetic(seed=11)
    _, second = run_synthetic(seed=11)
    first.to_parquet(tmp_path / "a")
    second.to_parquet(tmp_path / "b")
    a, b = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert a == b and len(a) == 6
    _, other = run_synthetic(seed=12)
    assert not other.vms["used_core_s"].equals(first.vms["used_core_s"])


def test_run_can_stop_and_go_on():
    sim, whole = run_synthetic(seed=5)
    w = sim.workload
    fleet = Fleet.uniform(30, vcpus=32, memory_mib=131072, disk_gib=0,
                          overcommit="nova_pre_stein")
    parts = Simulation(fleet, Placer(fleet, "best_fit", seed=5), HostModels(), w, tick_s=300,
                       duration_s=2 * 86400)
    parts.run(until_s=86400 * 0.7)
    result = parts.run()
    pd.testing.assert_frame_equal(result.vms, whole.vms)


def test_results_tables_summary_and_plots(tmp_path):
    _, result = run_synthetic(seed=2, hosts=12)
    summary = result.summary()
    for key in ("hosts in use, peak", "VMs rejected", "CPU ready p95 (fraction of demand)",
                "memory swapped GiB-hours", "realised overcommit VCPU, mean",
                "stranded MEMORY_MB, mean fraction of free", "tenants"):
        assert key in summary.index
    assert summary["VMs"] == 3000
    assert len(result.tenants) > 1 and (result.tenants["allocated_vcpu_hours"] >= 0).all()
    assert (result.hosts["busy_ticks"] <= result.ticks_run).all()
    # The summary's figures are the tables' sums, not figures of their own.
    vms, ticks = result.vms, result.ticks
    status = vms["status"].astype(str)
    assert summary["VMs placed"] == int((~status.isin(["rejected", "pending"])).sum())
    assert summary["VMs rejected"] == int((status == "rejected").sum())
    assert sum(summary[f"VMs {name} at the end"] for name in
               ("pending", "running", "done", "rejected", "migrating", "lost")) == 3000
    assert summary["VM-ticks measured"] == int(vms["ticks"].sum()) == int(ticks["vms"].sum())
    assert summary["hosts in use, peak"] == int(ticks["hosts_in_use"].max())
    assert summary["CPU used core-hours"] == pytest.approx(vms["used_core_s"].sum() / 3600)
    assert summary["CPU used core-hours"] == pytest.approx(
        result.tenants["used_core_hours"].sum(), rel=1e-9)
    assert summary["memory swapped GiB-hours"] == pytest.approx(
        vms["swapped_mib_s"].sum() / 1024 / 3600)
    for state in ("soft", "hard", "low"):
        assert summary[f"host-ticks in memory state {state}"] == pytest.approx(
            result.hosts[f"ticks_{state}"].sum())
    # The charts: four PNGs of the documented sizes, with something drawn on them.
    import matplotlib.image

    paths = result.plot(tmp_path)
    assert [p.name for p in paths] == ["hosts_in_use.png", "cpu_utilization.png",
                                       "cpu_ready.png", "memory_state.png", "power.png"]
    for path in paths:
        image = matplotlib.image.imread(path)
        assert image.shape[:2] == ((500, 900) if path.name == "memory_state.png" else (400, 900))
        assert image[..., :3].std() > 0.05                  # not a blank canvas


def test_find_min_hosts_is_the_smallest():
    w = synthetic_workload(2000, 1.0, seed=4)
    shape = dict(vcpus=32, memory_mib=65536, disk_gib=0, overcommit="nova")
    sizing = find_min_hosts(w, policy="first_fit", **shape)
    n = sizing.n_hosts
    assert sizing.lower_bound <= n
    assert run_placement_only(Fleet.uniform(n, **shape), "first_fit", w) == 0
    if n > 1:
        assert run_placement_only(Fleet.uniform(n - 1, **shape), "first_fit", w) > 0
    with pytest.raises(errors.InvalidRequest, match="fit on no empty host"):
        find_min_hosts(w, vcpus=2, memory_mib=1024, disk_gib=0)


@settings(max_examples=20)
@given(n=st.integers(1, 3000), days=st.floats(0.1, 10), seed=st.integers(0, 2**32))
def test_synthetic_generator_is_exact_and_seeded(n, days, seed):
    first = synthetic_workload(n, days, seed=seed)
    second = synthetic_workload(n, days, seed=seed)
    assert len(first) == n
    pd.testing.assert_frame_equal(first.table, second.table)
    assert (first.table["start_s"] < days * 86400).all()
    flavors = {(f["vcpus"], int(f["memory_gib"] * 1024)) for f in azure2017_parameters()["flavors"]}
    assert set(zip(first.table["VCPU"], first.table["MEMORY_MB"])) <= flavors


def test_synthetic_utilization_does_not_depend_on_which_vms_are_sampled():
    source = SyntheticUtilization(np.linspace(0.05, 0.9, 50), np.zeros(288), 0.3, seed=9)
    everyone = source.sample(np.arange(50), 12345.0)
    some = source.sample(np.array([40, 3, 17]), 12345.0)
    assert some.tolist() == everyone[[40, 3, 17]].tolist()
    assert ((everyone >= 0) & (everyone <= 1)).all()
    later = source.sample(np.arange(50), 12645.0)
    assert not np.array_equal(everyone, later)


def test_trace_utilization_repeats_past_its_end():
    source = TraceUtilization.from_series([[0.1, 0.2, 0.3]], start_s=[600.0])
    assert source.sample(np.array([0]), 600.0)[0] == 0.1
    assert source.sample(np.array([0]), 1200.0)[0] == 0.3
    assert source.sample(np.array([0]), 1500.0)[0] == 0.1


@pytest.mark.parametrize("table, text", [
    (pd.DataFrame(), "lacks columns"),
    (pd.DataFrame({"vm_id": [1], "start_s": [-1.0], "end_s": [2.0], "VCPU": [1]}), "start_s"),
    (pd.DataFrame({"vm_id": [1], "start_s": [5.0], "end_s": [2.0], "VCPU": [1]}), "before"),
    (pd.DataFrame({"vm_id": [1, 1], "start_s": [0.0, 0], "end_s": [2.0, 2], "VCPU": [1, 1]}),
     "unique"),
    (pd.DataFrame({"vm_id": [1], "start_s": [0.0], "end_s": [2.0], "VCPU": [1.5]}),
     "whole numbers"),
    (pd.DataFrame({"vm_id": [1], "start_s": [0.0], "end_s": [2.0]}), "no resource"),
])
def test_bad_workloads(table, text):
    with pytest.raises(errors.InvalidRequest, match=text):
        Workload(table)


def test_bad_simulation_arguments():
    w = workload([("a", 0, 600, 2, 1024)])
    with pytest.raises(errors.InvalidRequest):
        Simulation(one_host(), "first_fit", HostModels(), w, tick_s=0)
    with pytest.raises(errors.InvalidRequest):
        Simulation(one_host(), "first_fit", "esxi", w)
    other = one_host()
    with pytest.raises(errors.InvalidRequest, match="another fleet"):
        Simulation(one_host(), Placer(other), None, w)
    gpu = workload([("a", 0, 600, 2, 1024)])
    gpu.table["GPU"] = 1
    gpu.resources = ("VCPU", "MEMORY_MB", "GPU")
    with pytest.raises(errors.InvalidRequest, match="GPU"):
        Simulation(one_host(), "first_fit", None, gpu)
    with pytest.raises(errors.InvalidRequest):
        ConstantUtilization([0.5, 1.5])


class PythonSource(ConstantUtilization):
    """A source the tick kernel does not know: the simulation samples it in Python."""

    name = "python"

    def subset(self, rows):
        return PythonSource(self.values[rows])


@pytest.mark.parametrize("cpu_model, memory_model", [("fair_share", "esxi"),
                                                     ("proportional", "none")])
def test_any_utilization_source_goes_through_the_one_tick_path(cpu_model, memory_model):
    """A source sampled in Python gives the same results as the same values sampled by the
    kernel (one tick path for every source)."""
    w = synthetic_workload(3000, 1.0, seed=8)
    levels = np.random.default_rng(1).uniform(0.2, 1.0, len(w))
    outcomes = []
    for source in (ConstantUtilization(levels), PythonSource(levels)):
        w.cpu = source
        fleet = Fleet.uniform(6, vcpus=16, memory_mib=65536, disk_gib=0,
                              overcommit="nova_pre_stein")
        sim = Simulation(fleet, "best_fit", HostModels(cpu=cpu_model, memory=memory_model), w,
                         tick_s=300)
        outcomes.append(sim.run())
    kernel, python = outcomes
    pd.testing.assert_frame_equal(kernel.vms, python.vms)
    pd.testing.assert_frame_equal(kernel.ticks, python.ticks)
    assert kernel.vms["ready_core_s"].sum() > 0            # the run had contention


def test_a_tick_equals_host_models_step():
    """One tick of a simulation grants what HostModels.step grants on the same VMs."""
    w = synthetic_workload(400, 0.5, seed=3)
    w.table["start_s"] = 0.0
    w.table["end_s"] = np.nan
    w = Workload(w.table, cpu=ConstantUtilization(np.linspace(0.1, 1.0, len(w))))
    shape = dict(vcpus=16, memory_mib=65536, disk_gib=0, overcommit="nova_pre_stein")
    fleet = Fleet.uniform(8, **shape)
    result = Simulation(fleet, "best_fit", HostModels(), w, tick_s=300, duration_s=300).run()
    placed = result.vms[result.vms["status"] == "running"]
    alone = Fleet.uniform(8, **shape)
    slots = [alone.allocate(int(h), w.requests(alone.resources)[i])
             for i, h in zip(placed.index, placed["host"])]
    demand = np.zeros(alone.slot_high_water)
    demand[slots] = w.cpu.values[placed.index] * placed["VCPU"].to_numpy()
    active = np.zeros(alone.slot_high_water)
    active[slots] = 0.4 * placed["MEMORY_MB"].to_numpy()
    step = HostModels().step(alone, demand, active, 300)
    granted = step.by_slot(step.granted)[slots]
    np.testing.assert_allclose(placed["used_core_s"].to_numpy() / 300, granted, rtol=1e-12)
    assert (placed["ready_core_s"] > 0).any()


def test_a_pickled_simulation_resumes_exactly():
    import pickle

    sim, whole = run_synthetic(seed=6)
    fleet = Fleet.uniform(30, vcpus=32, memory_mib=131072, disk_gib=0,
                          overcommit="nova_pre_stein")
    first = Simulation(fleet, Placer(fleet, "best_fit", seed=6), HostModels(), sim.workload,
                       tick_s=300, duration_s=2 * 86400)
    first.run(until_s=86400 * 1.3)
    resumed = pickle.loads(pickle.dumps(first)).run()
    pd.testing.assert_frame_equal(resumed.vms, whole.vms)
    pd.testing.assert_frame_equal(resumed.ticks, whole.ticks)


@st.composite
def churning_workloads(draw):
    """Random arrivals and departures of 1-16 vCPU VMs (whole hours, some never leaving),
    and a host shape with a random CPU ratio."""
    n = draw(st.integers(1, 120))
    starts = draw(st.lists(st.integers(0, 48), min_size=n, max_size=n))
    lives = draw(st.lists(st.one_of(st.integers(0, 30), st.none()), min_size=n, max_size=n))
    vcpus = draw(st.lists(st.sampled_from([1, 2, 4, 8, 16]), min_size=n, max_size=n))
    gib = draw(st.lists(st.sampled_from([1, 2, 4, 8, 16, 32]), min_size=n, max_size=n))
    rows = [(f"v{i}", 3600.0 * s, 3600.0 * (s + life) if life is not None else np.nan, c,
             1024 * g) for i, (s, life, c, g) in enumerate(zip(starts, lives, vcpus, gib))]
    shape = dict(vcpus=draw(st.sampled_from([16, 32, 64])), memory_mib=65536, disk_gib=0,
                 overcommit="nova", cpu_allocation_ratio=draw(st.sampled_from([1.0, 2.0, 4.0])))
    return workload(rows), shape


@pytest.mark.long
@settings(deadline=None)
@given(case=churning_workloads(), policy=st.sampled_from(["first_fit", "best_fit"]))
def test_sizing_from_one_replay_equals_the_search(case, policy):
    w, shape = case
    one = find_min_hosts(w, policy=policy, **shape)
    search = find_min_hosts(w, policy=policy, method="search", **shape)
    assert one.method == "one replay" and len(one.trials) == 1
    assert one.n_hosts == search.n_hosts and one.lower_bound == search.lower_bound
