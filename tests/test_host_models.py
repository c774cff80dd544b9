"""Host models: engine = reference on random hosts and VMs, and every invariant of the CPU
and memory models.

Float tolerance: grants agree within 1e-7 cores x max(1, C); memory within 1e-6 MiB x
max(1, M). Water levels are solved by different methods (Newton in the engine, bisection in the
reference), so bit equality is not expected; decisions such as the memory state are exact.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmsched import Fleet, HostModels, MEMORY_PARAMETERS, errors
from vmsched.reference import host_models as reference

PARAMS = {name: default for name, (default, _) in MEMORY_PARAMETERS.items()}


@st.composite
def scenarios(draw):
    """A small overcommitted fleet with VMs, some with custom settings, and 3 ticks of
    demands and active memory."""
    n_hosts = draw(st.integers(1, 5))
    total = np.array([[draw(st.integers(1, 16)), draw(st.integers(2048, 65536)), 100]
                      for _ in range(n_hosts)], dtype=np.int64)
    reserved = np.zeros_like(total)
    reserved[:, 1] = draw(st.sampled_from([0, 512]))
    fleet = Fleet(total, reserved=reserved, allocation_ratio={"VCPU": 16.0, "MEMORY_MB": 4.0},
                  max_unit={"VCPU": 64})
    for _ in range(draw(st.integers(0, 25))):
        host = draw(st.integers(0, n_hosts - 1))
        request = (draw(st.integers(1, 8)), draw(st.integers(64, 16384)), 0)
        if fleet.fit_error(host, request) is None:
            vm = fleet.allocate(host, request)
            if draw(st.integers(0, 3)) == 0:
                vcpus, memory = request[0], request[1]
                cpu_limit = draw(st.floats(0.1, vcpus))
                mem_limit = draw(st.floats(1, memory))
                fleet.set_vm_scheduling(
                    vm, cpu_shares=draw(st.floats(1, 1e5)),
                    cpu_limit=cpu_limit, cpu_reservation=draw(st.floats(0, cpu_limit)),
                    memory_shares=draw(st.floats(1, 1e6)), memory_limit=mem_limit,
                    memory_reservation=draw(st.floats(0, mem_limit)))
    ticks = []
    live = fleet.live_vms()
    request = fleet.vm_request
    for _ in range(3):
        demand = np.zeros(fleet.slot_high_water)
        active = np.zeros(fleet.slot_high_water)
        for vm in live:
            demand[vm] = draw(st.floats(0, 1)) * request[vm, 0]
            active[vm] = draw(st.floats(0, 1)) * request[vm, 1]
        ticks.append((demand, active))
    params = dict(PARAMS, sharing=draw(st.sampled_from([0.0, 0.05, 0.3])),
                  idle_tax=draw(st.sampled_from([0.0, 0.75])))
    return fleet, ticks, params


def reference_tick(fleet, cpu, memory, params, demand, active, touched):
    """Run the reference on every host; returns per-VM dicts and per-host lists."""
    settings = fleet.vm_scheduling()
    out = {"granted": {}, "resident": {}, "touched": {}, "state": [], "free": [], "blocked": []}
    for h in range(fleet.n_hosts):
        vms = [vm for vm in settings.index if fleet.vm_host[vm] == h]
        s = settings.loc[vms]
        capacity = float(fleet.total[h, 0] - fleet.reserved[h, 0])
        grants = reference.CPU[cpu](capacity, [demand[v] for v in vms], list(s.cpu_shares),
                                    list(s.cpu_reservation), list(s.cpu_limit))
        memory_of = [float(fleet.vm_request[v, 1]) for v in vms]
        new_touched, resident, state, free, blocked = reference.MEMORY[memory](
            float(fleet.total[h, 1] - fleet.reserved[h, 1]), float(fleet.total[h, 1]), params,
            memory_of, [active[v] for v in vms], list(s.memory_reservation),
            list(s.memory_limit), list(s.memory_shares), [touched.get(v, 0.0) for v in vms])
        for i, vm in enumerate(vms):
            out["granted"][vm] = grants[i]
            out["resident"][vm] = resident[i]
            out["touched"][vm] = new_touched[i]
        out["state"].append(state)
        out["free"].append(free)
        out["blocked"].append(blocked)
    return out


@pytest.mark.long
@pytest.mark.parametrize("cpu", ["fair_share", "proportional"])
@pytest.mark.parametrize("memory", ["esxi", "none"])
@given(scenario=scenarios())
def test_engine_matches_reference(cpu, memory, scenario):
    fleet, ticks, params = scenario
    models = HostModels(cpu=cpu, memory=memory, **params)
    touched = {}
    for demand, active in ticks:
        result = models.step(fleet, demand, active, tick_s=300)
        expected = reference_tick(fleet, cpu, memory, params, demand, active, touched)
        touched = expected["touched"]
        capacity = max(1.0, float(fleet.capacity[:, 0].max()))
        guest = max(1.0, float(fleet.total[:, 1].max()))
        for i, vm in enumerate(result.vms):
            assert abs(result.granted[i] - expected["granted"][vm]) <= 1e-7 * capacity
            assert abs(result.resident[i] - expected["resident"][vm]) <= 1e-6 * guest
            assert abs(result.touched[i] - expected["touched"][vm]) <= 1e-9 * guest
        assert result.host_state.tolist() == expected["state"]
        assert result.host_blocked.tolist() == expected["blocked"]
        np.testing.assert_allclose(result.host_free, expected["free"], atol=1e-5 * guest)
        check_invariants(fleet, models, result)


def check_invariants(fleet, models, result):
    """The CPU and memory models' invariants on one tick's result."""
    eps = 1e-9
    layout = result.layout
    capped = result.capped_demand
    assert (result.granted >= -eps).all() and (result.granted <= capped + eps).all()
    for h in range(fleet.n_hosts):
        part = slice(layout.host_start[h], layout.host_start[h + 1])
        capacity = layout.cpu_capacity[h]
        granted = result.granted[part].sum()
        assert granted <= capacity * (1 + 1e-9) + eps
        assert granted == pytest.approx(min(capacity, capped[part].sum()), rel=1e-9, abs=1e-9)
        if models.memory.name == "esxi":  # `none` models no overcommit effects at all
            resident = result.resident[part]
            assert resident.sum() <= layout.guest_memory[h] * (1 + 1e-12) + 1e-6
    for name in ("ready_core_s", "throttled_core_s", "used_core_s", "resident", "shared",
                 "ballooned", "compressed", "swapped", "stall", "touched"):
        assert (getattr(result, name) >= -1e-6).all(), name
    total = result.resident + result.ballooned + result.compressed + result.swapped
    np.testing.assert_allclose(total, result.touched, rtol=1e-12, atol=1e-6)
    settings = fleet.vm_settings.effective(fleet, layout.vms)
    want = np.minimum(result.touched, settings["memory_limit"])
    reserved = np.minimum(settings["memory_reservation"], want)
    for h in range(fleet.n_hosts):
        part = slice(layout.host_start[h], layout.host_start[h + 1])
        if reserved[part].sum() < layout.guest_memory[h] and models.memory.name == "esxi":
            assert (result.resident[part] >= reserved[part] - 1e-6).all()


@given(scenario=scenarios())
def test_water_filling_is_weighted_max_min(scenario):
    """No VM sits below its weighted share while another is above it, unless the first is
    capped by its demand or limit, or the second held at its reservation."""
    fleet, ticks, _ = scenario
    result = HostModels(cpu="fair_share").step(fleet, *ticks[0])
    settings = fleet.vm_settings.effective(fleet, result.vms)
    shares = settings["cpu_shares"]
    floor = np.minimum(settings["cpu_reservation"], result.capped_demand)
    for h in range(fleet.n_hosts):
        vms = range(result.layout.host_start[h], result.layout.host_start[h + 1])
        for i in vms:
            for j in vms:
                below = result.granted[i] / shares[i] < result.granted[j] / shares[j] - 1e-9
                if below:
                    capped = result.granted[i] >= result.capped_demand[i] - 1e-9
                    at_floor = result.granted[j] <= floor[j] + 1e-9
                    assert capped or at_floor, (i, j)


@given(scenario=scenarios(), extra=st.integers(1, 8))
def test_more_capacity_never_lowers_a_grant(scenario, extra):
    fleet, ticks, _ = scenario
    before = HostModels().step(fleet, *ticks[0])
    bigger = Fleet(fleet.total + np.array([extra, 0, 0]), reserved=fleet.reserved,
                   allocation_ratio=fleet.allocation_ratio, max_unit=fleet.max_unit)
    handles = {}
    for vm in fleet.live_vms():
        handles[vm] = bigger.allocate(int(fleet.vm_host[vm]), fleet.vm_request[vm])
    assert all(a == b for a, b in handles.items())
    for vm, row in fleet.vm_scheduling().iterrows():
        bigger.set_vm_scheduling(vm, **row.to_dict())
    after = HostModels().step(bigger, *ticks[0])
    assert (after.granted >= before.granted - 1e-9).all()


@given(scenario=scenarios())
def test_proportional_is_cloudsim_formula(scenario):
    fleet, ticks, _ = scenario
    demand, active = ticks[0]
    result = HostModels(cpu="proportional").step(fleet, demand, active)
    for h in range(fleet.n_hosts):
        part = slice(result.layout.host_start[h], result.layout.host_start[h + 1])
        d = result.capped_demand[part]
        capacity = result.layout.cpu_capacity[h]
        expected = d if d.sum() <= capacity else d * (capacity / d.sum())
        np.testing.assert_allclose(result.granted[part], expected, rtol=1e-12)


def test_no_contention_gets_demand_and_reclaims_nothing():
    fleet = Fleet.uniform(2, vcpus=32, memory_mib=262144, disk_gib=100, overcommit="none")
    vms = [fleet.allocate(h % 2, (4, 8192, 0)) for h in range(6)]
    demand = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 0.0])
    active = np.array([100.0, 8192, 0, 4000, 10, 8000])
    result = HostModels().step(fleet, demand, active)
    np.testing.assert_allclose(result.by_slot(result.granted)[vms], demand)
    assert result.ready_core_s.max() == 0 and result.ballooned.max() == 0
    assert result.swapped.max() == 0 and result.stall.max() == 0
    assert set(result.state_names) == {"high"}
    np.testing.assert_allclose(result.by_slot(result.resident)[vms], active)


def test_contended_host_shares_by_weight_and_reservation():
    fleet = Fleet([[4, 65536, 0]], allocation_ratio={"VCPU": 4.0})
    a = fleet.allocate(0, (4, 1024, 0))
    b = fleet.allocate(0, (4, 1024, 0))
    c = fleet.allocate(0, (4, 1024, 0))
    fleet.set_vm_scheduling(b, cpu_shares=8000)                 # twice a's weight
    fleet.set_vm_scheduling(c, cpu_reservation=2.0, cpu_limit=3.0)
    demand = np.array([4.0, 4.0, 4.0])
    result = HostModels().step(fleet, demand, np.zeros(3), tick_s=10)
    granted = result.by_slot(result.granted)
    # C = 4: c holds its 2-core reservation; a and b share 2 cores 1:2.
    np.testing.assert_allclose(granted[[a, b, c]], [2 / 3, 4 / 3, 2.0])
    np.testing.assert_allclose(result.by_slot(result.throttled_core_s)[c], 10.0)
    np.testing.assert_allclose(result.by_slot(result.ready_core_s)[a], (4 - 2 / 3) * 10)


def test_memory_pressure_balloons_idle_vms_first_and_swaps_when_hard():
    fleet = Fleet([[8, 16384, 0]], allocation_ratio={"MEMORY_MB": 2.0})
    idle = fleet.allocate(0, (1, 8192, 0))
    busy = fleet.allocate(0, (1, 8192, 0))
    for models, mechanism in ((HostModels(sharing=0.0), "ballooned"),
                              (HostModels(sharing=0.0, max_balloon=0.02), "swapped")):
        # Both touch all their memory once (16384 MiB on 16384), then idle goes quiet.
        models.step(fleet, np.zeros(2), np.array([8192.0, 8192.0]))
        result = models.step(fleet, np.zeros(2), np.array([0.0, 8192.0]))
        assert result.state_names[0] == "low"
        resident = result.by_slot(result.resident)
        assert resident[idle] < resident[busy] == 8192.0   # the idle VM gives memory first
        assert result.by_slot(result.stall)[busy] == 0.0
        assert result.host_free[0] == pytest.approx(899.0)  # back at minFree (clear)
        assert result.by_slot(getattr(result, mechanism))[idle] > 0
    assert result.by_slot(result.compressed)[idle] > 0      # hard / low: compression too


def test_touched_memory_persists_and_ends_with_the_vm():
    fleet = Fleet.uniform(1, vcpus=8, memory_mib=65536, disk_gib=0, overcommit="none")
    vm = fleet.allocate(0, (1, 4096, 0))
    models = HostModels()
    models.step(fleet, np.zeros(1), np.array([3000.0]))
    result = models.step(fleet, np.zeros(1), np.array([10.0]))
    assert result.touched[0] == 3000.0
    fleet.release(vm)
    again = fleet.allocate(0, (1, 4096, 0))
    assert again == vm
    result = models.step(fleet, np.zeros(1), np.array([10.0]))
    assert result.touched[0] == 10.0


def test_threads_do_not_change_results():
    rng = np.random.default_rng(3)
    fleet = Fleet.uniform(300, vcpus=16, memory_mib=32768, disk_gib=0, overcommit="nova_pre_stein")
    for h in range(300):
        for _ in range(rng.integers(1, 12)):
            request = (int(rng.integers(1, 8)), int(rng.integers(512, 8192)), 0)
            if fleet.fit_error(h, request) is None:
                fleet.allocate(h, request)
    demand = rng.random(fleet.slot_high_water) * np.asarray(fleet.vm_request)[:, 0]
    active = rng.random(fleet.slot_high_water) * np.asarray(fleet.vm_request)[:, 1]
    one = HostModels(threads=1).step(fleet, demand, active)
    two = HostModels(threads=2).step(fleet, demand, active)
    for name in ("granted", "resident", "touched", "host_state", "host_free"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))


def test_frames():
    fleet = Fleet.uniform(2, vcpus=8, memory_mib=16384, disk_gib=0)
    fleet.allocate(1, (2, 2048, 0))
    result = HostModels().step(fleet, np.array([1.0]), np.array([512.0]))
    vm_frame, host_frame = result.vm_frame(), result.host_frame()
    assert vm_frame.loc[0, "host"] == 1 and vm_frame.loc[0, "granted_cores"] == 1.0
    assert list(host_frame.memory_state) == ["high", "high"]
    assert host_frame.loc[1, "utilization"] == pytest.approx(1 / 8)


@pytest.mark.parametrize("kwargs, error", [
    ({"cpu": "lottery"}, errors.InvalidRequest), ({"memory": "xen"}, errors.InvalidRequest),
    ({"idle_tax": 1.0}, errors.InvalidRequest), ({"sharing": 0.6}, errors.InvalidRequest),
    ({"compression_ratio": 1.0}, errors.InvalidRequest), ({"soft_at": 2.0}, errors.InvalidRequest),
    ({"max_balloon": float("nan")}, errors.InvalidRequest), ({"bogus": 1}, errors.InvalidRequest),
    ({"threads": 0}, errors.InvalidRequest),
])
def test_bad_model_configuration(kwargs, error):
    with pytest.raises(error):
        HostModels(**kwargs)


def test_bad_step_input_changes_nothing():
    fleet = Fleet.uniform(1, vcpus=8, memory_mib=16384, disk_gib=0)
    fleet.allocate(0, (2, 2048, 0))
    models = HostModels()
    models.step(fleet, np.array([1.0]), np.array([1000.0]))
    for demand, active in [([3.0], [0.0]), ([-1.0], [0.0]), ([np.nan], [0.0]),
                           ([1.0], [4096.0]), ([], []), ([[1.0]], [[1.0]]), (["x"], [1.0])]:
        with pytest.raises(errors.InvalidRequest):
            models.step(fleet, np.array(demand), np.array(active))
    with pytest.raises(errors.InvalidRequest):
        models.step(fleet, np.array([1.0]), np.array([1.0]), tick_s=0)
    with pytest.raises(errors.InvalidRequest):
        models.step(fleet, np.array([1.0]), np.array([1.0]), order="random")
    result = models.step(fleet, np.array([1.0]), np.array([10.0]))
    assert result.touched[0] == 1000.0            # state from before the bad calls


@pytest.mark.parametrize("kwargs", [
    {"cpu_shares": 0}, {"cpu_limit": 3}, {"cpu_reservation": 1.5, "cpu_limit": 1.0},
    {"memory_limit": 4096}, {"memory_reservation": -1}, {"memory_shares": float("inf")},
    {"cpu_shares": "many"}, {"bogus": 1},
])
def test_bad_vm_settings_change_nothing(kwargs):
    fleet = Fleet.uniform(1, vcpus=8, memory_mib=16384, disk_gib=0)
    vm = fleet.allocate(0, (2, 2048, 0))
    before = fleet.vm_scheduling()
    with pytest.raises(errors.InvalidRequest):
        fleet.set_vm_scheduling(vm, **kwargs)
    assert fleet.vm_scheduling().equals(before)
    with pytest.raises(errors.UnknownVM):
        fleet.set_vm_scheduling(5, cpu_shares=10)
