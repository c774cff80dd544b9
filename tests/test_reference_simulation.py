"""The reference simulation alone, on small cases computed by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from vmsched import Fleet, HostModels
from vmsched.errors import InsufficientCapacity, InvalidRequest
from vmsched.reference.simulation import ReferenceSimulation
from vmsched.workload.utilization import ConstantUtilization
from vmsched.workload.workload import Workload

NAN = float("nan")


class Maintenance:
    """Stand-in for vmsched.simulation.controllers.Maintenance."""

    name = "maintenance"

    def __init__(self, windows, migration_s=60.0):
        self.windows, self.migration_s = windows, migration_s


class Failures:
    """Stand-in for vmsched.simulation.controllers.Failures (explicit events only)."""

    name = "failures"

    def __init__(self, events, mttr_s=3600.0, restart=False, restart_delay_s=0.0):
        self.events, self.mttr_s = events, mttr_s
        self.restart, self.restart_delay_s = restart, restart_delay_s

    def schedule(self, n_hosts, duration_s):
        return [(t, h, self.mttr_s) for t, h in self.events]


def small_fleet(n=2, vcpus=8, memory_mib=32768, **kwargs):
    return Fleet.uniform(n, vcpus=vcpus, memory_mib=memory_mib, disk_gib=0, overcommit="none",
                         **kwargs)


def workload(rows, cpu=0.5, memory=0.4):
    """rows: (start_s, end_s, vcpus, MiB); vm_id = row index."""
    table = pd.DataFrame([(i,) + tuple(r) for i, r in enumerate(rows)],
                         columns=["vm_id", "start_s", "end_s", "VCPU", "MEMORY_MB"])
    if not isinstance(cpu, float):
        cpu = ConstantUtilization(np.array(cpu, np.float64))
    return Workload(table, cpu=cpu, memory=memory)


def simulate(rows, *, n_hosts=2, cpu=0.5, policy="first_fit", models="default",
             duration_s=3000.0, controllers=(), fleet=None, **kwargs):
    fleet = fleet or small_fleet(n_hosts)
    models = HostModels(cpu="proportional", memory="none") if models == "default" else models
    sim = ReferenceSimulation(fleet, policy, models, workload(rows, cpu), tick_s=300.0,
                              duration_s=duration_s, controllers=controllers, **kwargs)
    return sim, sim.run()


def test_zero_lifetime_vm_is_placed_and_freed():
    _, r = simulate([(600, 600, 2, 1024)])
    vm = r.vms.iloc[0]
    assert vm.status == "done" and vm.host == 0 and vm.ticks == 0 and vm.used_core_s == 0
    assert len(r.ticks) == 10
    assert r.ticks.arrivals.tolist() == [0, 0, 1] + [0] * 7
    assert r.ticks.departures.sum() == 0 and r.ticks.vms.sum() == 0


def test_events_on_tick_boundaries():
    _, r = simulate([(0, NAN, 2, 1024), (300, 900, 2, 1024), (301, 899, 2, 1024),
                     (2900, 3000, 2, 1024), (3000, 3100, 2, 1024)])
    vms = r.vms
    # (row 3 arrives after the last tick's start and its departure at duration_s never
    # happens; row 4 never arrives)
    assert vms.status.tolist() == ["running", "done", "done", "running", "pending"]
    assert vms.ticks.tolist() == [10, 2, 1, 0, 0]
    # 0.5 x 2 vCPUs = 1 core, no contention: used = measured seconds.
    assert vms.used_core_s.tolist() == [3000.0, 600.0, 300.0, 0.0, 0.0]
    assert vms.ready_core_s.sum() == 0 and vms.contention_s.sum() == 0
    assert r.ticks.time_s.tolist() == [300.0 * k for k in range(10)]
    assert r.ticks.vms.tolist() == [1, 2, 3, 1, 1, 1, 1, 1, 1, 1]
    assert r.ticks.arrivals.tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert r.ticks.departures.tolist() == [0, 0, 0, 2, 0, 0, 0, 0, 0, 0]
    assert r.ticks.hosts_in_use.tolist() == [1.0] * 10
    assert r.ticks.cpu_granted_cores.tolist() == [1.0, 2.0, 3.0] + [1.0] * 7
    assert r.ticks.vms.sum() == vms.ticks.sum()


def test_departures_before_arrivals_at_equal_times():
    _, r = simulate([(0, 600, 8, 1024), (600, 1200, 8, 1024)])
    assert r.vms.host.tolist() == [0, 0]
    _, r = simulate([(0, 600, 8, 1024), (600, 1200, 8, 1024)], n_hosts=1)
    assert r.vms.status.tolist() == ["done", "done"]
    assert r.ticks.arrivals[2] == 1 and r.ticks.departures[2] == 1


def test_rejection_names_the_filter():
    _, r = simulate([(0, NAN, 8, 1024), (0, NAN, 8, 1024), (0, NAN, 1, 1024)])
    assert r.vms.status.tolist() == ["running", "running", "rejected"]
    assert r.vms.rejected_by.tolist() == [None, None, "resource_fit"]
    assert r.vms.host.tolist() == [0, 1, -1]


def test_migration_splits_the_tick():
    """Host 0 (8 cores) holds A (demand 8) and B (demand 4) under proportional: 16/3 and 8/3
    cores until B's migration to host 1 completes at 150 s, then 8 and 4."""
    fleet = small_fleet(2, cpu_allocation_ratio=2.0)
    sim = ReferenceSimulation(fleet, "first_fit", HostModels(cpu="proportional", memory="none"),
                              workload([(0, NAN, 8, 1024), (0, NAN, 8, 1024)], [1.0, 0.5]),
                              duration_s=600.0)
    sim.run(100.0)
    assert sim.results().vms.host.tolist() == [0, 0]
    sim.start_migration(1, 1, 50.0)
    assert sim.results().vms.status.tolist() == ["running", "migrating"]
    with pytest.raises(InvalidRequest):
        sim.start_migration(1, 0, 10.0)
    r = sim.run()
    vms = r.vms
    assert vms.status.tolist() == ["running", "running"] and vms.host.tolist() == [0, 1]
    assert vms.migrations.tolist() == [0, 1]
    assert vms.used_core_s[0] == pytest.approx(16 / 3 * 150 + 8 * 150 + 8 * 300, rel=1e-12)
    assert vms.used_core_s[1] == pytest.approx(8 / 3 * 150 + 4 * 150 + 4 * 300, rel=1e-12)
    assert vms.ready_core_s.tolist() == pytest.approx([(8 - 16 / 3) * 150, (4 - 8 / 3) * 150])
    assert vms.contention_s.tolist() == [150.0, 150.0]
    assert vms.ticks.tolist() == [2, 2]
    ticks = r.ticks
    assert ticks.hosts_in_use.tolist() == [1.5, 2.0]
    assert ticks.cpu_demand_cores.tolist() == pytest.approx([12.0, 12.0])
    assert ticks.cpu_granted_cores.tolist() == pytest.approx([10.0, 12.0])
    assert ticks.ready_core_s.tolist() == pytest.approx([600.0, 0.0])
    assert ticks.migrations.tolist() == [0, 1]


def test_failures_of_migration_source_and_target():
    """A fails while migrating from host 0 (lost); B's target host 2 fails (abandoned)."""
    fleet = small_fleet(4)
    failures = Failures([(200.0, 0), (200.0, 2)], mttr_s=100.0)
    sim = ReferenceSimulation(fleet, "first_fit", HostModels(cpu="proportional", memory="none"),
                              workload([(0, NAN, 4, 1024), (0, NAN, 8, 1024)], 1.0),
                              duration_s=600.0, controllers=[failures])
    sim.run(100.0)
    assert sim.results().vms.host.tolist() == [0, 1]
    sim.start_migration(0, 3, 500.0)
    sim.start_migration(1, 2, 500.0)
    r = sim.run()
    assert r.vms.status.tolist() == ["lost", "running"]
    assert r.vms.host.tolist() == [0, 1] and r.vms.migrations.tolist() == [0, 0]
    assert r.vms.used_core_s.tolist() == [4 * 200.0, 8 * 600.0]
    assert r.failures == {"lost": 1, "restarted": 0, "downtime_s": 400.0}


def test_start_migration_checks_the_target():
    fleet = small_fleet(2)
    sim = ReferenceSimulation(fleet, "first_fit", None,
                              workload([(0, NAN, 8, 1024), (0, NAN, 8, 1024)]), duration_s=600.0)
    sim.run(100.0)
    with pytest.raises(InsufficientCapacity):
        sim.start_migration(0, 1, 10.0)
    with pytest.raises(InvalidRequest):
        sim.start_migration(0, 0, 10.0)


def test_maintenance_drains_hosts_and_they_admit_again():
    rows = [(0, NAN, 4, 1024), (0, NAN, 4, 1024),  # on host 0, moved to host 1 at 600
            (630, NAN, 4, 1024),                    # host 0 draining, 1 full, 2 down: rejected
            (1000, NAN, 4, 1024),                   # hosts 0 and 2 down: rejected
            (1850, NAN, 4, 1024),                   # host 2 up at 1800, host 0 still down
            (1900, NAN, 4, 1024)]                   # host 0 up at 1860
    _, r = simulate(rows, n_hosts=3, controllers=[Maintenance([(600.0, [0, 2], 1200.0)])])
    vms = r.vms
    assert vms.status.tolist() == ["running", "running", "rejected", "rejected", "running",
                                   "running"]
    assert vms.host.tolist() == [1, 1, -1, -1, 2, 0]
    assert vms.rejected_by[2] == "resource_fit" and vms.rejected_by[3] == "resource_fit"
    assert vms.migrations.tolist() == [1, 1, 0, 0, 0, 0]
    assert r.drains == [
        {"host": 0, "start_s": 600.0, "down_s": 660.0, "up_s": 1860.0, "migrations": 2,
         "unplaceable": []},
        {"host": 2, "start_s": 600.0, "down_s": 600.0, "up_s": 1800.0, "migrations": 0,
         "unplaceable": []}]
    assert r.ticks.migrations[3] == 2  # completed at 660, reported at 900
    # measured on host 0 to 660, then on host 1: CPU demand 2 cores each, no contention
    assert vms.used_core_s[:2].tolist() == pytest.approx([6000.0, 6000.0])
    assert r.ticks.hosts_in_use[2] == pytest.approx((60 * 1 + 240 * 1) / 300)


def test_unplaceable_vm_keeps_its_host_draining_until_it_leaves():
    rows = [(0, 1000, 8, 1024), (0, NAN, 8, 1024), (500, NAN, 1, 1024), (1700, NAN, 1, 1024)]
    _, r = simulate(rows, controllers=[Maintenance([(300.0, [0], 600.0)])])
    assert r.drains == [{"host": 0, "start_s": 300.0, "down_s": 1000.0, "up_s": 1600.0,
                         "migrations": 0, "unplaceable": [0]}]
    assert r.vms.status.tolist() == ["done", "running", "rejected", "running"]
    assert r.vms.host.tolist() == [0, 1, -1, 0]


@pytest.mark.parametrize("restart", [False, True])
def test_failure_with_and_without_restart(restart):
    rows = [(0, 2000, 4, 1024),     # on host 0: lost at 1000
            (0, 1000, 1, 1024),     # on host 0, departs at 1000 before the failure
            (1200, NAN, 1, 1024),   # host 0 failed: host 1
            (1500, NAN, 1, 1024)]   # host 0 repaired at 1500 (before arrivals)
    failures = Failures([(1000.0, 0)], mttr_s=500.0, restart=restart, restart_delay_s=100.0)
    _, r = simulate(rows, controllers=[failures])
    vms = r.vms
    demand = 2.0  # 0.5 x 4 vCPUs
    assert vms.status[1] == "done" and vms.host[1:].tolist() == [0, 1, 0]
    if restart:
        assert vms.status[0] == "done" and vms.host[0] == 1
        assert vms.restarts[0] == 1 and vms.downtime_s[0] == 100.0
        # measured 0..1000, then from the tick at 1200 to the end of the tick at 1800
        assert vms.ticks[0] == 7 and vms.used_core_s[0] == pytest.approx(demand * 1900)
        assert r.failures == {"lost": 0, "restarted": 1, "downtime_s": 100.0}
    else:
        assert vms.status[0] == "lost" and vms.host[0] == 0
        assert vms.restarts[0] == 0 and vms.downtime_s[0] == 1000.0
        assert vms.ticks[0] == 4 and vms.used_core_s[0] == pytest.approx(demand * 1000)
        assert r.failures == {"lost": 1, "restarted": 0, "downtime_s": 1000.0}
    assert vms.downtime_s[1:].sum() == 0


def test_restart_fails_without_room_and_after_the_end():
    failures = Failures([(1000.0, 0)], mttr_s=5000.0, restart=True, restart_delay_s=100.0)
    _, r = simulate([(0, NAN, 8, 1024), (0, NAN, 8, 1024)], controllers=[failures])
    assert r.vms.status.tolist() == ["lost", "running"]  # no room for row 0 on host 1
    assert r.failures["restarted"] == 0
    rows = [(0, NAN, 8, 1024), (0, 1050, 8, 1024)]  # row 1 has ended by its restart
    failures = Failures([(1000.0, 0), (1000.0, 1)], mttr_s=5000.0, restart=True,
                        restart_delay_s=100.0)
    _, r = simulate(rows, controllers=[failures])
    assert r.vms.status.tolist() == ["lost", "lost"]
    assert r.vms.downtime_s.tolist() == [2000.0, 50.0]
    assert r.failures == {"lost": 2, "restarted": 0, "downtime_s": 2050.0}


def scenario():
    rng = np.random.default_rng(5)
    n = 24
    start = np.sort(rng.integers(0, 4000, n)).astype(float)
    start[:3] = [0.0, 300.0, 600.0]
    life = rng.choice([0.0, 150.0, 900.0, 2500.0, np.inf], n)
    end = np.where(np.isinf(life), NAN, start + life)
    vcpus = rng.choice([1, 2, 4, 8], n)
    memory = rng.choice([4096, 8192], n)
    rows = list(zip(start, end, vcpus, memory))
    fleet = Fleet.uniform(4, vcpus=8, memory_mib=16384, disk_gib=0, overcommit="none",
                          cpu_allocation_ratio=4.0, ram_allocation_ratio=2.0)
    controllers = [Maintenance([(1000.0, [1], 900.0), (2500.0, [2, 3], 300.0)], 120.0),
                   Failures([(1234.5, 0), (3100.0, 3)], mttr_s=700.0, restart=True,
                            restart_delay_s=50.0)]
    return dict(fleet=fleet, policy="best_fit",
                host_models=HostModels(cpu="fair_share", memory="esxi"),
                workload=workload(rows, list(rng.uniform(0.2, 1.0, n)),
                                  memory=ConstantUtilization(rng.uniform(0.6, 1.0, n))),
                tick_s=300.0, duration_s=5000.0, controllers=controllers)


def test_run_until_then_run_equals_one_run():
    whole = ReferenceSimulation(**scenario()).run()
    sim = ReferenceSimulation(**scenario())
    for until in (450.0, 1000.0, 1000.0, 1234.5, 2222.2, 4999.0):
        sim.run(until)
    parts = sim.run()
    pd.testing.assert_frame_equal(whole.vms, parts.vms, check_exact=True)
    pd.testing.assert_frame_equal(whole.ticks, parts.ticks, check_exact=True)
    assert whole.drains == parts.drains and whole.failures == parts.failures
    assert sim.run().vms.equals(parts.vms)  # the end is the end
    # invariants of the outcome
    vms, ticks = whole.vms, whole.ticks
    assert len(ticks) == math.ceil(5000 / 300)
    assert ticks.vms.sum() == vms.ticks.sum()
    states = ticks[["hosts_high", "hosts_clear", "hosts_soft", "hosts_hard", "hosts_low"]]
    assert np.allclose(states.sum(axis=1), ticks.hosts_in_use)
    assert np.isclose(ticks.ready_core_s.sum(), vms.ready_core_s.sum())
    assert (vms.ready_core_s > 0).any() and (vms.ballooned_mib_s > 0).any()
    assert set(vms.status) <= {"pending", "running", "migrating", "done", "rejected", "lost"}
    assert vms.migrations.sum() > 0 and whole.failures["restarted"] > 0


def test_drain_through_a_pipeline_policy_keeps_anti_affinity():
    table = pd.DataFrame({"vm_id": ["a", "b", "c"], "start_s": [0.0, 0.0, 700.0],
                          "end_s": [NAN, NAN, NAN], "VCPU": [2, 2, 2],
                          "MEMORY_MB": [1024, 1024, 1024], "group": ["g", "g", None]})
    wl = Workload(table, cpu=0.5, groups={"g": "anti-affinity"})
    sim = ReferenceSimulation(small_fleet(3), "nova", None, wl, duration_s=1200.0,
                              controllers=[Maintenance([(600.0, [0], 10_000.0)])])
    r = sim.run()
    # a on host 0, b spread to host 1; the drain moves a to host 2 (not 0, not b's host 1);
    # c arrives while host 0 is down: hosts 1 and 2 tie on free RAM and CPU, the lowest wins
    assert r.vms.host.tolist() == [2, 1, 1] and r.vms.migrations.tolist() == [1, 0, 0]
    assert r.drains[0]["down_s"] == 660.0 and r.drains[0]["up_s"] is None
