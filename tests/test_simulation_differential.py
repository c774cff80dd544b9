"""The engine's simulation equals the reference simulation (vmsched.reference.simulation) on
random small runs: per-VM outcomes, hosts and totals, the per-tick series and the drains.

Decisions and counts are compared exactly; float totals to a relative 1e-9 (the engine's CPU
water level is solved to 1e-10, the reference's by bisection). Hypothesis `event()`s name the
features each example exercised (zero lifetimes, tick-boundary events, groups, labels,
settings, drains, failures, split ticks, resume, pickling).
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from budget import examples

from vmsched import Fleet, HostModels, Placer
from vmsched.models.power import cubic, sqrt
from vmsched.reference.simulation import ReferenceSimulation
from vmsched.simulation import Simulation
from vmsched.simulation.controllers import Failures, Maintenance
from vmsched.workload import Workload
from vmsched.workload.utilization import ConstantUtilization, SyntheticUtilization

TICK_S = 300.0
TOTALS = ("used_core_s", "ready_core_s", "throttled_core_s", "ballooned_mib_s",
          "compressed_mib_s", "swapped_mib_s", "stall_mib_s", "contention_s", "downtime_s")
EXACT = ("status", "host", "rejected_by", "ticks", "migrations", "restarts")
TICK_FLOATS = ("hosts_in_use", "cpu_demand_cores", "cpu_granted_cores", "ready_core_s",
               "hosts_high", "hosts_clear", "hosts_soft", "hosts_hard", "hosts_low", "power_w")
#: Power models the scenarios draw from (one per scenario, a second on host 0).
POWER = ("server_2s", "hp_proliant_ml110_g4", "hp_proliant_ml110_g5", sqrt(50.0, 300.0),
         cubic(20.0, 200.0))
TICK_EXACT = ("time_s", "vms", "arrivals", "departures", "migrations")
#: Examples: 300 (and 100 state-machine runs) under the CI profile; the debug build's pass
#: (a small profile) looks for memory errors, not coverage, and runs its own count.
EXAMPLES, MACHINE_EXAMPLES = examples(300), examples(100)
MODELS = [("fair_share", "esxi"), ("proportional", "none"), ("fair_share", "none"),
          ("proportional", "esxi"), None]
GROUPED_POLICY = ["resource_fit", "server_group_anti_affinity", "required_labels", "free_ram"]


# ---------------------------------------------------------------- random scenarios

@st.composite
def times(draw, horizon):
    """Times that often fall on tick boundaries or repeat."""
    kind = draw(st.sampled_from(["boundary", "half", "any"]))
    if kind == "boundary":
        return float(draw(st.integers(0, int(horizon // TICK_S))) * TICK_S)
    if kind == "half":
        return float(draw(st.integers(0, int(horizon // 150))) * 150)
    return draw(st.floats(0, horizon, allow_nan=False).map(lambda x: round(x, 1)))


@st.composite
def scenarios(draw):
    n_hosts = draw(st.integers(2, 4))
    vcpus = draw(st.sampled_from([4, 8]))
    memory = draw(st.sampled_from([8192, 16384]))
    duration = float(draw(st.integers(3, 10)) * TICK_S + draw(st.sampled_from([0, 100])))
    n = draw(st.integers(1, 12))
    rows = []
    for i in range(n):
        start = draw(times(duration))
        life = draw(st.sampled_from(["zero", "short", "long", "long", "open", "open", "tick"]))
        end = {"zero": start, "open": np.nan, "tick": start + TICK_S,
               "short": start + draw(st.floats(1, 400).map(lambda x: round(x, 1))),
               "long": start + draw(st.floats(300, 3000).map(lambda x: round(x, 1)))}[life]
        if life == "zero":
            event("zero lifetime")
        if start % TICK_S == 0 or (np.isfinite(end) and end % TICK_S == 0):
            event("event on a tick boundary")
        rows.append((i, start, end, draw(st.integers(1, vcpus)),
                     draw(st.sampled_from([512, 2048, 4096, 6144]))))
    table = pd.DataFrame(rows, columns=["vm_id", "start_s", "end_s", "VCPU", "MEMORY_MB"])
    if table["start_s"].duplicated().any():
        event("equal arrival times")
    groups = {}
    host_labels = None
    if draw(st.booleans()):
        table["group"] = [draw(st.sampled_from([None, "g"])) for _ in range(n)]
        groups = {"g": ("anti-affinity", draw(st.integers(1, 2)))}
        host_labels = [draw(st.sampled_from([(), ("ssd",)])) for _ in range(n_hosts)]
        table["labels"] = [draw(st.sampled_from(["", "ssd"])) for _ in range(n)]
        event("groups and labels")
    if draw(st.booleans()):
        table["cpu_shares"] = [draw(st.sampled_from([np.nan, 250.0, 4000.0])) * v
                               for v in table["VCPU"]]
        table["cpu_limit"] = [draw(st.sampled_from([np.nan, 0.5, 1.0])) * v
                              for v in table["VCPU"]]
        table["memory_reservation"] = [draw(st.sampled_from([np.nan, 0.0, 0.5])) * m
                                       for m in table["MEMORY_MB"]]
        event("per-VM settings")
    if draw(st.booleans()):
        cpu = SyntheticUtilization(draw(st.lists(st.floats(0.05, 1.0), min_size=n,
                                                 max_size=n)), np.zeros(288), 0.3,
                                   seed=draw(st.integers(0, 100)))
    else:
        cpu = ConstantUtilization(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    active = ConstantUtilization(draw(st.lists(st.floats(0.1, 1.0), min_size=n, max_size=n)))
    workload = Workload(table, cpu=cpu, memory=active, groups=groups)
    controllers = []
    if draw(st.booleans()):
        hosts = draw(st.lists(st.integers(0, n_hosts - 1), min_size=1, max_size=2, unique=True))
        controllers.append(Maintenance([(draw(times(duration)), hosts,
                                         draw(st.sampled_from([0.0, 200.0, 900.0])))],
                                       migration_s=draw(st.sampled_from([0.0, 50.0, 320.0]))))
        event("maintenance drain")
    if draw(st.booleans()):
        failures = [(draw(times(duration)), draw(st.integers(0, n_hosts - 1)))
                    for _ in range(draw(st.integers(1, 2)))]
        controllers.append(Failures(failures, mttr_s=draw(st.sampled_from([100.0, 600.0])),
                                    restart=draw(st.booleans()),
                                    restart_delay_s=draw(st.sampled_from([0.0, 30.0]))))
        event("failures")
    models = draw(st.sampled_from(MODELS))
    policy = GROUPED_POLICY if groups else draw(st.sampled_from(["first_fit", "best_fit"]))
    ratio = draw(st.sampled_from([1.0, 2.0]))
    power = (draw(st.sampled_from(POWER)), draw(st.sampled_from(POWER)))
    return dict(n_hosts=n_hosts, vcpus=vcpus, memory=memory, duration=duration,
                workload=workload, controllers=controllers, models=models, policy=policy,
                host_labels=host_labels, ratio=ratio, power=power)


def build(s):
    def fleet():
        built = Fleet.uniform(s["n_hosts"], vcpus=s["vcpus"], memory_mib=s["memory"],
                              disk_gib=0, overcommit="none", cpu_allocation_ratio=s["ratio"],
                              power_model=s["power"][0])
        built.set_power_model(s["power"][1], hosts=[0])
        return built

    models = None if s["models"] is None else HostModels(cpu=s["models"][0],
                                                         memory=s["models"][1])
    engine_fleet = fleet()
    placer = Placer(engine_fleet, s["policy"], host_labels=s["host_labels"])
    engine = Simulation(engine_fleet, placer, models, s["workload"], tick_s=TICK_S,
                        duration_s=s["duration"], controllers=s["controllers"])
    reference = ReferenceSimulation(fleet(), s["policy"], models, s["workload"], tick_s=TICK_S,
                                    duration_s=s["duration"], controllers=s["controllers"],
                                    host_labels=s["host_labels"])
    return engine, reference


# ---------------------------------------------------------------- comparing

def plain(column):
    """A column's values as Python objects, a missing value (NaN, NA, None) as None."""
    return [None if value is None or value is pd.NA or value != value else value
            for value in column.tolist()]


def assert_same(engine_results, reference_results):
    e, r = engine_results.vms, reference_results.vms
    for column in EXACT:
        left, right = plain(e[column]), plain(r[column])
        if column == "status":
            left = [str(x) for x in left]
        assert left == right, (column, left, right)
    for column in TOTALS:
        np.testing.assert_allclose(e[column].to_numpy(float), r[column].to_numpy(float),
                                   rtol=1e-9, atol=1e-6, err_msg=column)
    et, rt = engine_results.ticks, reference_results.ticks
    assert len(et) == len(rt)
    for column in TICK_EXACT:
        assert et[column].tolist() == rt[column].astype(float).tolist(), column
    for column in TICK_FLOATS:
        np.testing.assert_allclose(et[column].to_numpy(float), rt[column].to_numpy(float),
                                   rtol=1e-9, atol=1e-6, err_msg=column)
    drains = engine_results.drains
    assert len(drains) == len(reference_results.drains)
    for engine_drain, reference_drain in zip(drains.to_dict("records"),
                                             reference_results.drains):
        for key in ("host", "start_s", "down_s", "up_s", "migrations", "unplaceable"):
            left, right = engine_drain[key], reference_drain[key]
            if isinstance(left, float) and np.isnan(left):
                left = None
            assert left == right, (key, left, right)


def note_splits(engine, results=None):
    if engine.split_pieces:
        event("split ticks")
    vms = (results if results is not None else engine.results()).vms
    if vms["migrations"].sum():
        event("migrations completed")
    if (vms["status"] == "lost").any() or vms["restarts"].sum():
        event("VMs lost or restarted")


# ---------------------------------------------------------------- the tests

@pytest.mark.long
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), stop=st.floats(0.05, 0.95), how=st.sampled_from(
    ["whole", "resume", "pickle"]))
def test_engine_simulation_equals_the_reference(scenario, stop, how):
    engine, reference = build(scenario)
    if how == "whole":
        result = engine.run()
    else:
        until = round(stop * scenario["duration"], 1)
        engine.run(until_s=until)
        reference.run(until_s=until)
        assert_same(engine.results(), reference.results())
        if how == "pickle":
            engine = pickle.loads(pickle.dumps(engine))
            event("pickled mid-run")
        else:
            event("stopped and resumed")
        result = engine.run()
    expected = reference.run()
    note_splits(engine, result)
    assert_same(result, expected)
    engine.check_invariants()


class SimulationMachine(RuleBasedStateMachine):
    """Arrivals and departures (the workload), runs to random times, migrations, drains and
    failures applied to both simulations; after every step the results agree and the
    engine's invariants hold."""

    @initialize(scenario=scenarios())
    def setup(self, scenario):
        scenario["controllers"] = []
        self.scenario = scenario
        self.engine, self.reference = build(scenario)
        self.now = 0.0

    @rule(delta=st.floats(1, 900).map(lambda x: round(x, 1)))
    def run_for(self, delta):
        self.now = min(self.now + delta, self.scenario["duration"])
        self.engine.run(until_s=self.now)
        self.reference.run(until_s=self.now)

    @rule(data=st.data())
    def migrate(self, data):
        running = np.flatnonzero(self.engine.results().vms["status"] == "running")
        if len(running) == 0:
            return
        row = int(data.draw(st.sampled_from(list(running))))
        host = data.draw(st.integers(0, self.scenario["n_hosts"] - 1))
        duration = data.draw(st.sampled_from([0.0, 40.0, 400.0]))
        outcomes = []
        for sim in (self.engine, self.reference):
            try:
                sim.start_migration(row, host, duration)
                outcomes.append(None)
            except Exception as error:  # both refuse, for the same reason in substance
                outcomes.append(type(error).__name__)
        assert (outcomes[0] is None) == (outcomes[1] is None), outcomes

    @rule(data=st.data())
    def drain(self, data):
        hosts = data.draw(st.lists(st.integers(0, self.scenario["n_hosts"] - 1), min_size=1,
                                   max_size=2, unique=True))
        downtime = data.draw(st.sampled_from([0.0, 300.0]))
        migration = data.draw(st.sampled_from([0.0, 60.0]))
        self.engine.drain(hosts, downtime, migration)
        self.reference.drain(hosts, downtime, migration)

    @rule(host=st.integers(0, 3), restart=st.booleans())
    def fail(self, host, restart):
        if host >= self.scenario["n_hosts"]:
            return
        self.engine.fail(host, 450.0, restart, 10.0)
        self.reference.fail(host, 450.0, restart, 10.0)

    @invariant()
    def agree(self):
        if not hasattr(self, "engine"):
            return
        results = self.engine.results()
        assert_same(results, self.reference.results())
        self.engine.check_invariants()
        note_splits(self.engine, results)


SimulationMachine.TestCase.settings = settings(max_examples=MACHINE_EXAMPLES,
                                               stateful_step_count=12,
                                               deadline=None,
                                               suppress_health_check=[HealthCheck.too_slow])
TestSimulationMachine = pytest.mark.long(SimulationMachine.TestCase)


# ---------------------------------------------------------------- the acceptance scenarios

def filled_fleet_scenario(seed=0):
    """100 hosts of 32 vCPUs and 128 GiB (Nova's ratios) filled to 70% of their memory in the
    first hour by 4-vCPU, 16-GiB VMs that stay, plus short-lived arrivals around noon."""
    rng = np.random.default_rng(seed)
    n = int(0.7 * 100 * (131072 - 512) / 16384)
    rows = [(i, t, np.nan, 4, 16384) for i, t in enumerate(np.sort(rng.uniform(0, 3600, n)))]
    rows += [(n + i, t, t + 3000, 2, 4096)
             for i, t in enumerate(np.sort(rng.uniform(40000, 50000, 30)))]
    table = pd.DataFrame(rows, columns=["vm_id", "start_s", "end_s", "VCPU", "MEMORY_MB"])
    levels = rng.uniform(0.1, 0.9, len(table))
    return Workload(table, cpu=SyntheticUtilization(levels, np.zeros(288), 0.3, seed=seed))


def run_both(workload, controllers, policy="best_fit", duration=86400.0):
    def fleet():
        return Fleet.uniform(100, vcpus=32, memory_mib=131072, disk_gib=0, overcommit="nova")

    engine = Simulation(fleet(), policy, HostModels(), workload, tick_s=TICK_S,
                        duration_s=duration, controllers=controllers)
    reference = ReferenceSimulation(fleet(), policy, HostModels(), workload, tick_s=TICK_S,
                                    duration_s=duration, controllers=controllers)
    return engine, engine.run(), reference.run()


def test_a_drain_of_10_hosts_at_noon_equals_the_reference():
    drained = list(range(10))
    engine, result, expected = run_both(
        filled_fleet_scenario(), [Maintenance([(43200.0, drained, 3600.0)], migration_s=120)],
        policy="first_fit")
    assert_same(result, expected)
    drains = result.drains
    assert drains["unplaceable"].map(len).sum() == 0
    assert not (result.vms["status"] == "lost").any()
    migrated = result.vms[result.vms["migrations"] > 0]
    assert len(migrated) > 0 and not migrated["host"].isin(drained).any()
    assert (drains["up_s"] == drains["down_s"] + 3600).all()
    during = result.vms[(result.vms["start_s"] >= 43200) & (result.vms["start_s"] < 46920)]
    assert len(during) and not during["host"].isin(drained).any()
    engine.check_invariants()


def test_seeded_failures_equal_the_reference():
    failures = Failures(mtbf_s=4 * 86400.0, mttr_s=1800.0, restart=True, restart_delay_s=120.0,
                        seed=7)
    engine, result, expected = run_both(filled_fleet_scenario(1), [failures])
    assert_same(result, expected)
    assert result.vms["restarts"].sum() > 0 and result.vms["downtime_s"].sum() > 0
    assert expected.failures["downtime_s"] == pytest.approx(result.vms["downtime_s"].sum())
