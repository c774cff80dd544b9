"""The simulation core: one event queue, the engine's VM table, migration, controllers, and
the defects the old core had (each test here fails on it)."""

import pickle

import numba
import numpy as np
import pandas as pd
import pytest

from vmsched import Fleet, HostModels, Placer, errors
from vmsched.engine.simulation import EventKind, EventQueue, Priority, kernels_sim
from vmsched.models.vm_settings import VMSettings
from vmsched.simulation import Simulation
from vmsched.simulation.controllers import (
    CONTROLLERS,
    Controller,
    Failures,
    Maintenance,
    Migrate,
)
from vmsched.workload import Workload
from vmsched.workload.synthetic import synthetic_workload


def workload(rows, cpu=0.5, **columns):
    table = pd.DataFrame(rows, columns=["vm_id", "start_s", "end_s", "VCPU", "MEMORY_MB"])
    for name, values in columns.items():
        table[name] = values
    return Workload(table, cpu=cpu)


def small_fleet(n=2, vcpus=8, memory=32768):
    """n hosts, no overcommit, nothing reserved."""
    return Fleet.uniform(n, vcpus=vcpus, memory_mib=memory, disk_gib=0, overcommit="none")


# ---------------------------------------------------------------- the event queue

def test_queue_orders_by_time_priority_then_sequence():
    queue = EventQueue()
    queue.load_workload([0.0, 10.0, 10.0], [EventKind.ARRIVAL, EventKind.DEPARTURE,
                                            EventKind.ARRIVAL], [0, 0, 1])
    queue.push(10.0, Priority.TICK_PRIORITY, EventKind.TICK, 1)
    queue.push(10.0, Priority.HOST_PRIORITY, EventKind.HOST_CHANGE, 3)
    queue.push(10.0, Priority.ARRIVAL_PRIORITY, EventKind.RESTART, 7)   # after the workload's
    queue.push(5.0, Priority.TICK_PRIORITY, EventKind.TICK, 0)
    order = []
    while len(queue):
        time_s, priority, _, kind, a, _, _ = queue.pop()
        order.append((time_s, kind, a))
    assert order == [(0.0, EventKind.ARRIVAL, 0), (5.0, EventKind.TICK, 0),
                     (10.0, EventKind.DEPARTURE, 0), (10.0, EventKind.HOST_CHANGE, 3),
                     (10.0, EventKind.ARRIVAL, 1), (10.0, EventKind.RESTART, 7),
                     (10.0, EventKind.TICK, 1)]


def test_queue_pickles_mid_way_and_refuses_bad_input():
    queue = EventQueue()
    queue.load_workload([1.0, 2.0], [EventKind.ARRIVAL, EventKind.ARRIVAL], [0, 1])
    for t in (5.0, 3.0, 4.0):
        queue.push(t, Priority.TICK_PRIORITY, EventKind.TICK, int(t))
    queue.pop()
    copy = pickle.loads(pickle.dumps(queue))
    assert copy.events() == queue.events() and len(copy) == 4
    with pytest.raises(errors.InvalidRequest, match="sorted"):
        EventQueue().load_workload([2.0, 1.0], [1, 1], [0, 1])
    with pytest.raises(errors.InvalidRequest):
        queue.push(float("nan"), 0, 0)
    with pytest.raises(IndexError):
        EventQueue().pop()


# ---------------------------------------------------------------- defects of the old core

def test_zero_lifetime_vms_are_placed_and_freed_at_once():
    w = workload([("a", 600, 600, 1, 1024), ("b", 1000, 1000, 1, 1024)])
    fleet = small_fleet()
    sim = Simulation(fleet, "first_fit", HostModels(), w, tick_s=300, duration_s=3000)
    vms = sim.run().vms.set_index("vm_id")
    assert vms["status"].tolist() == ["done", "done"]
    assert vms["ticks"].tolist() == [0, 0]
    assert fleet.n_vms == 0
    sim.check_invariants()


def test_fleet_release_ends_group_membership():
    fleet = Fleet([[8, 32768], [8, 32768]], resources=("VCPU", "MEMORY_MB"))
    placer = Placer(fleet, ["resource_fit", "server_group_anti_affinity"])
    placer.create_group("db", "anti-affinity")
    first = placer.place([1, 1024], group="db")
    assert placer.place([1, 1024], group="db").host == 1
    with pytest.raises(errors.NoValidHost):
        placer.place([1, 1024], group="db")
    fleet.release(first.vm)                 # through the fleet, not the placer
    assert placer.group_members("db") == {1: 1}
    again = placer.place([1, 1024], group="db")
    assert again.host == 0                  # anti-affinity no longer refuses host 0
    other = fleet.allocate(1, [1, 1024])    # a reused slot starts outside every group
    assert fleet.vm_group[other] == -1
    fleet.check_invariants()


def test_a_fleet_that_holds_vms_is_refused():
    fleet = small_fleet()
    fleet.allocate(0, [1, 1024, 0])
    with pytest.raises(errors.InvalidRequest, match="already holds 1 VMs"):
        Simulation(fleet, "first_fit", HostModels(), workload([("a", 0, 600, 1, 1024)]))


def test_settings_columns_cost_nothing_per_live_vm(monkeypatch):
    """Per-VM settings come from the VM table, row by row: an arrival never consults the
    fleet's settings table (which scans live VMs)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the simulation consulted the fleet's settings table")

    monkeypatch.setattr(VMSettings, "set", refuse)
    monkeypatch.setattr(VMSettings, "effective", refuse)
    w = synthetic_workload(2000, 1.0, seed=1)
    rng = np.random.default_rng(0)
    w.table["cpu_shares"] = rng.uniform(250, 4000, len(w)) * w.table["VCPU"]
    w.table["cpu_limit"] = w.table["VCPU"] * 0.5
    fleet = Fleet.uniform(10, vcpus=32, memory_mib=131072, disk_gib=0,
                          overcommit="nova_pre_stein")
    result = Simulation(fleet, "best_fit", HostModels(), w).run()
    assert result.vms["throttled_core_s"].sum() > 0


def test_settings_columns_act_as_vm_scheduling_settings():
    # Two 4-vCPU VMs at 100% on 4 pCPUs: shares 3:1 split 3 and 1 cores; a limit throttles.
    w = workload([("a", 0, 600, 4, 1024), ("b", 0, 600, 4, 1024)], cpu=1.0,
                 cpu_shares=[3000.0, 1000.0])
    fleet = Fleet([[4, 8192]], resources=("VCPU", "MEMORY_MB"), allocation_ratio={"VCPU": 2.0})
    vms = Simulation(fleet, "first_fit", HostModels(), w, tick_s=300).run().vms.set_index("vm_id")
    assert vms.loc["a", "used_core_s"] == pytest.approx(3 * 600)
    assert vms.loc["b", "used_core_s"] == pytest.approx(1 * 600)
    w = workload([("a", 0, 600, 4, 1024)], cpu=1.0, cpu_limit=[1.5])
    fleet = Fleet([[4, 8192]], resources=("VCPU", "MEMORY_MB"))
    vms = Simulation(fleet, "first_fit", HostModels(), w, tick_s=300).run().vms
    assert vms["used_core_s"].iloc[0] == pytest.approx(1.5 * 600)
    assert vms["throttled_core_s"].iloc[0] == pytest.approx(2.5 * 600)
    with pytest.raises(errors.InvalidRequest, match="cpu_limit is above"):
        Simulation(Fleet([[4, 8192]], resources=("VCPU", "MEMORY_MB")), "first_fit", None,
                   workload([("a", 0, 600, 4, 1024)], cpu_limit=[5.0]))


def test_the_tick_kernel_runs_in_parallel_and_threads_change_nothing():
    assert kernels_sim.measure_piece.targetoptions.get("parallel")
    outcomes = []
    for threads in (1, 2):
        previous = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            w = synthetic_workload(3000, 1.0, seed=5)
            fleet = Fleet.uniform(12, vcpus=32, memory_mib=65536, disk_gib=0,
                                  overcommit="nova_pre_stein")
            outcomes.append(Simulation(fleet, "best_fit", HostModels(), w).run())
        finally:
            numba.set_num_threads(previous)
    pd.testing.assert_frame_equal(outcomes[0].vms, outcomes[1].vms)
    pd.testing.assert_frame_equal(outcomes[0].ticks, outcomes[1].ticks)


def test_every_row_has_one_outcome_including_those_after_the_end():
    w = workload([("a", 0, 300, 1, 1024), ("b", 0, 9000, 1, 1024), ("c", 5000, 6000, 1, 1024),
                  ("d", 0, 600, 64, 1024)])
    result = Simulation(small_fleet(), "first_fit", HostModels(), w, tick_s=300,
                        duration_s=1200).run()
    assert result.vms.set_index("vm_id")["status"].to_dict() == {
        "a": "done", "b": "running", "c": "pending", "d": "rejected"}
    summary = result.summary()
    assert sum(summary[f"VMs {s} at the end"] for s in
               ("pending", "running", "done", "rejected", "migrating", "lost")) == 4


# ---------------------------------------------------------------- migration

def test_a_migration_holds_both_hosts_and_splits_the_tick_exactly():
    # Host 0: a (2 vCPUs) and b (2 vCPUs) at 100% on 2 pCPUs: 1 core each. b starts moving
    # to host 1 at 0.5 s (where the first run stopped), taking 100 s: inside tick 0, from
    # 100.5 s on, both get 2 cores.
    w = workload([("a", 0, np.nan, 2, 1024), ("b", 0, np.nan, 2, 1024)], cpu=1.0)
    fleet = Fleet([[2, 8192], [2, 8192]], resources=("VCPU", "MEMORY_MB"),
                  allocation_ratio={"VCPU": 2.0})
    sim = Simulation(fleet, "first_fit", HostModels(cpu="proportional"), w, tick_s=300,
                     duration_s=600)
    sim.run(until_s=0.5)
    sim.start_migration(1, 1, 100.0)
    assert fleet.n_vms == 3 and fleet.host_vm_count.tolist() == [2, 1]
    with pytest.raises(errors.InvalidRequest, match="migrating"):
        sim.start_migration(1, 0, 1.0)
    result = sim.run()
    vms = result.vms.set_index("vm_id")
    assert vms.loc["b", "host"] == 1 and vms.loc["b", "migrations"] == 1
    assert vms.loc["b", "used_core_s"] == pytest.approx(1 * 100.5 + 2 * 199.5 + 2 * 300)
    assert vms.loc["a", "ready_core_s"] == pytest.approx(1 * 100.5)
    assert vms["ticks"].tolist() == [2, 2]
    assert fleet.host_vm_count.tolist() == [1, 1]
    sim.check_invariants()


def test_a_migration_needs_room_and_a_running_vm():
    w = workload([("a", 0, np.nan, 8, 1024), ("b", 0, np.nan, 8, 1024)])
    sim = Simulation(small_fleet(), "first_fit", None, w, tick_s=300, duration_s=600)
    sim.run(until_s=1)
    with pytest.raises(errors.InsufficientCapacity):
        sim.start_migration(0, 1, 10.0)
    with pytest.raises(errors.InvalidRequest, match="on host 0 already"):
        sim.start_migration(0, 0, 10.0)
    with pytest.raises(errors.InvalidRequest):
        sim.start_migration(5, 1, 10.0)


# ---------------------------------------------------------------- controllers

def filled_fleet(n_hosts=100, fill=0.7, seed=0):
    """A fleet of n_hosts 32-vCPU, 128-GiB hosts, filled to `fill` of its memory in the first
    hour by VMs of 4 vCPUs and 16 GiB that never leave, and a trickle of later arrivals."""
    rng = np.random.default_rng(seed)
    capacity = 131072 - 512
    n = int(fill * n_hosts * capacity / 16384)
    rows = [(i, t, np.nan, 4, 16384) for i, t in enumerate(np.sort(rng.uniform(0, 3600, n)))]
    later = np.sort(rng.uniform(40000, 50000, 20))
    rows += [(n + i, t, t + 3000, 2, 4096) for i, t in enumerate(later)]
    fleet = Fleet.uniform(n_hosts, vcpus=32, memory_mib=131072, disk_gib=0, overcommit="nova")
    return fleet, workload(rows, cpu=0.3)


def test_maintenance_drains_migrate_everything_and_hosts_come_back():
    fleet, w = filled_fleet()
    drained = list(range(10))
    sim = Simulation(fleet, "first_fit", HostModels(), w, tick_s=300, duration_s=86400,
                     controllers=[Maintenance([(43200.0, drained, 3600.0)], migration_s=120)])
    result = sim.run()
    drains = result.drains
    assert len(drains) == 10 and drains["unplaceable"].map(len).sum() == 0
    assert (drains["down_s"] == 43200.0 + 120).all() and (drains["up_s"] == 43320 + 3600).all()
    migrations = int(result.vms["migrations"].sum())        # completed
    assert 0 < migrations <= drains["migrations"].sum()      # started (some VMs left first)
    assert result.summary()["migrations"] == migrations
    # No arrival went to a draining or down host, though first fit prefers low indices.
    later = result.vms[(result.vms["start_s"] > 43200) & (result.vms["start_s"] < 46920)]
    assert not later["host"].isin(drained).any()
    assert (result.vms["status"] != "lost").all()
    assert (result.hosts["state"] == "up").all()
    sim.check_invariants()
    # After the downtime the hosts admit again: first fit sends the next VM to host 0.
    assert fleet.admitting.all()


def test_a_drain_reports_what_fits_nowhere():
    w = workload([("a", 0, np.nan, 8, 1024), ("b", 0, np.nan, 8, 1024)])
    sim = Simulation(small_fleet(), "first_fit", HostModels(), w, tick_s=300, duration_s=3000,
                     controllers=[Maintenance([(600.0, [0], 600.0)])])
    result = sim.run()
    assert result.drains["unplaceable"].iloc[0] == ["a"]
    assert result.drains["down_s"].iloc[0] is None or np.isnan(result.drains["down_s"].iloc[0])
    assert result.hosts["state"].tolist() == ["draining", "up"]


@pytest.mark.parametrize("restart", [False, True])
def test_failures_lose_or_restart_vms_and_count_their_downtime(restart):
    w = workload([("a", 0, 3000, 2, 1024), ("b", 0, np.nan, 2, 1024), ("c", 1000, 2000, 2, 1024)])
    fleet = small_fleet(2, vcpus=4)
    failures = Failures([(700.0, 0)], mttr_s=900.0, restart=restart, restart_delay_s=50.0)
    result = Simulation(fleet, "first_fit", HostModels(), w, tick_s=300, duration_s=3600,
                        controllers=[failures]).run()
    vms = result.vms.set_index("vm_id")
    if restart:
        # a and b restart at 750 s on host 1 (host 0 is down until 1600 s): 50 s down each.
        assert vms.loc["a", "status"] == "done" and vms.loc["b", "status"] == "running"
        assert vms.loc[["a", "b"], "restarts"].tolist() == [1, 1]
        assert vms.loc[["a", "b"], "downtime_s"].tolist() == pytest.approx([50.0, 50.0])
        assert vms.loc[["a", "b"], "host"].tolist() == [1, 1]
        # c arrives at 1000 s: host 0 is down, host 1 is full.
        assert vms.loc["c", "status"] == "rejected"
    else:
        assert vms.loc["a", "status"] == "lost" and vms.loc["b", "status"] == "lost"
        assert vms.loc["a", "downtime_s"] == pytest.approx(3000 - 700)
        assert vms.loc["b", "downtime_s"] == pytest.approx(3600 - 700)
        # Measured in ticks 0 and 300, then lost at 700 s (inside the tick at 600 s).
        assert vms.loc["b", "used_core_s"] == pytest.approx(1.0 * (600 + 100))
        assert vms.loc["b", "ticks"] == 3
        # c arrives at 1000 s while host 0 is down: it goes to host 1.
        assert vms.loc["c", "host"] == 1 and vms.loc["c", "status"] == "done"
    assert result.summary()["VMs lost in failures (at the end)"] == (0 if restart else 2)


def test_drawn_failures_are_seeded():
    kwargs = dict(mtbf_s=86400.0, mttr_s=3600.0, distribution="weibull", shape=1.5, seed=3)
    first, second = Failures(**kwargs), Failures(**kwargs)
    assert first.schedule(50, 7 * 86400) == second.schedule(50, 7 * 86400)
    assert len(first.schedule(50, 7 * 86400)) > 50
    domain = Failures(mtbf_s=86400.0, domains=[h // 10 for h in range(50)], seed=1)
    times = {}
    for t, h, _ in domain.schedule(50, 7 * 86400):
        times.setdefault(t, set()).add(h // 10)
    assert all(len(domains) == 1 for domains in times.values())
    with pytest.raises(errors.InvalidRequest):
        Failures()
    with pytest.raises(errors.InvalidRequest, match="distribution"):
        Failures(mtbf_s=10.0, distribution="normal")


def test_python_controllers_see_a_read_only_view_and_act():
    class MoveEverythingToTheLastHost(Controller):
        name = "mover"
        period_s = 600.0

        def act(self, view):
            assert not view.vm_status.flags.writeable
            last = view.n_hosts - 1
            return [Migrate(int(row), last, 10.0) for row in np.flatnonzero(
                (view.vm_status == 1) & (view.vm_host != last))][:1]

    w = workload([("a", 0, np.nan, 1, 1024), ("b", 0, np.nan, 1, 1024)])
    sim = Simulation(small_fleet(3), "first_fit", HostModels(), w, tick_s=300, duration_s=3000,
                     controllers=[MoveEverythingToTheLastHost()])
    result = sim.run()
    assert result.vms["host"].tolist() == [2, 2]
    assert result.vms["migrations"].tolist() == [1, 1]
    assert set(CONTROLLERS) >= {"maintenance", "failures"}
    with pytest.raises(errors.InvalidRequest, match="unknown"):
        Simulation(small_fleet(), "first_fit", None, w, controllers=["nope"])
