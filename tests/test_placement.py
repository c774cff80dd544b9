"""Placement: every registry entry against the reference, fast policy = equivalent pipeline,
place_many = loop of place, determinism, rejections and bad input."""

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from placement_strategies import fleets, host_attributes, requests, scales_of

from vmsched import FILTERS, POLICIES, WEIGHERS, Fleet, Placer, Policy, errors
from vmsched.placement.filters import FunctionFilter, MaxVMsPerHost, ResourceFit
from vmsched.placement.policy import FAST_POLICIES
from vmsched.reference import ReferenceFleet
from vmsched.reference.placement import ReferencePlacer
from vmsched.testing import azure_like_requests, mixed_fleet, snapshot
from vmsched.placement.weighers import FunctionWeigher


def copies(fleet):
    return pickle.loads(pickle.dumps(fleet)), pickle.loads(pickle.dumps(fleet))


@st.composite
def scenarios(draw, policy):
    """A fleet, host attributes, and a sequence of place / release steps."""
    fleet = draw(fleets())
    labels, domains = draw(host_attributes(fleet.n_hosts))
    steps = draw(st.lists(st.one_of(
        st.tuples(st.just("place"), requests(fleet.n_resources, scales_of(fleet)),
                  st.sampled_from([None, "g0", "g1"])),
        st.tuples(st.just("release"), st.integers(0, 10 ** 6))), min_size=1, max_size=60))
    return fleet, labels, domains, steps


def run_both(policy, fleet, labels, domains, steps, seed=3):
    """Replay steps on the engine and the reference; assert identical decisions."""
    placer = Placer(fleet, policy, host_labels=labels, host_domains=domains, seed=seed)
    reference = ReferencePlacer(ReferenceFleet.from_fleet(fleet), policy, host_labels=labels,
                                host_domains=domains, seed=seed)
    for model in (placer, reference):
        model.create_group("g0", "anti-affinity")
        model.create_group("g1", "spread")
    live = []
    for step in steps:
        if step[0] == "place":
            outcomes = []
            for model in (placer, reference):
                try:
                    outcomes.append(("placed",) + tuple(model.place(step[1], group=step[2])))
                except errors.NoValidHost as error:
                    outcomes.append(("rejected",) + tuple(error.eliminated.values()))
            assert outcomes[0] == outcomes[1], (step, outcomes)
            if outcomes[0][0] == "placed":
                live.append(outcomes[0][2])
        elif live:
            vm = live.pop(step[1] % len(live))
            placer.release(vm)
            reference.release(vm)
    return placer


@pytest.mark.parametrize("name", sorted(FILTERS))
@given(data=st.data())
def test_each_filter_matches_reference(name, data):
    extra = FILTERS[name](max_vms=2) if name == "max_vms_per_host" else FILTERS[name]()
    filters = (ResourceFit(),) if name == "resource_fit" else (ResourceFit(), extra)
    policy = Policy(filters=filters)
    run_both(policy, *data.draw(scenarios(policy)))


@pytest.mark.parametrize("name", sorted(WEIGHERS))
@given(data=st.data(), multiplier=st.sampled_from([-1.0, 1.0, 2.5]))
def test_each_weigher_matches_reference(name, data, multiplier):
    policy = Policy(filters=(ResourceFit(),), weighers=(WEIGHERS[name](multiplier=multiplier),))
    run_both(policy, *data.draw(scenarios(policy)))


@pytest.mark.parametrize("name", FAST_POLICIES)
@given(data=st.data())
def test_each_fast_policy_matches_reference(name, data):
    placer = run_both(POLICIES[name], *data.draw(scenarios(POLICIES[name])))
    placer.index.check()


@pytest.mark.parametrize("name", FAST_POLICIES)
@given(data=st.data())
def test_fast_policy_equals_its_pipeline(name, data):
    fleet, labels, domains, steps = data.draw(scenarios(POLICIES[name]))
    fast_fleet, pipe_fleet = copies(fleet)
    fast = Placer(fast_fleet, POLICIES[name])
    pipe = Placer(pipe_fleet, POLICIES[name].pipeline())
    assert fast.index is not None and pipe.index is None
    live = []
    for step in steps:
        if step[0] == "place":
            outcomes = []
            for placer in (fast, pipe):
                try:
                    outcomes.append(tuple(placer.place(step[1])))
                except errors.NoValidHost:
                    outcomes.append(None)
            assert outcomes[0] == outcomes[1]
            if outcomes[0]:
                live.append(outcomes[0][1])
        elif live:
            vm = live.pop(step[1] % len(live))
            fast.release(vm)
            pipe.release(vm)
    np.testing.assert_array_equal(fast_fleet.used, pipe_fleet.used)


@pytest.mark.parametrize("policy", list(FAST_POLICIES) + ["nova", "kubernetes"])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300))
def test_place_many_equals_loop_of_place(policy, seed, n):
    rng = np.random.default_rng(seed)
    batch_fleet, loop_fleet = copies(mixed_fleet(rng, 40))
    reqs = azure_like_requests(rng, n) // np.array([1, 4, 8])
    reqs[:, 0] = np.maximum(reqs[:, 0], 1)
    tenants = rng.choice(["a", "b", 7], size=n).tolist()
    batch = Placer(batch_fleet, policy, seed=seed).place_many(reqs, tenants=tenants)
    loop = Placer(loop_fleet, policy, seed=seed)
    for i, request in enumerate(reqs):
        try:
            host, vm = loop.place(request, tenant=tenants[i])
        except errors.NoValidHost as error:
            host = vm = -1
            assert batch.eliminated[i].tolist() == list(error.eliminated.values())
        assert (batch.hosts[i], batch.vms[i]) == (host, vm)
    assert snapshot(batch_fleet) == snapshot(loop_fleet)


@given(seed=st.integers(0, 2**32 - 1))
def test_random_subset_is_deterministic_for_a_seed(seed):
    rng = np.random.default_rng(seed)
    fleet = mixed_fleet(rng, 30)
    reqs = azure_like_requests(rng, 200) // np.array([1, 4, 8])
    reqs[:, 0] = np.maximum(reqs[:, 0], 1)
    policy = Policy(filters=("resource_fit",), weighers=(("free_ram", 1.0),), host_subset_size=4)
    first, second = copies(fleet)
    a = Placer(first, policy, seed=seed).place_many(reqs)
    b = Placer(second, policy, seed=seed).place_many(reqs)
    assert a.hosts.tolist() == b.hosts.tolist()
    # A batch draws exactly what a loop of single decisions draws.
    third = copies(fleet)[0]
    loop = Placer(third, policy, seed=seed)
    hosts = []
    for request in reqs:
        try:
            hosts.append(loop.place(request).host)
        except errors.NoValidHost:
            hosts.append(-1)
    assert hosts == a.hosts.tolist()


def small_fleet():
    return Fleet.uniform(4, vcpus=8, memory_mib=16384, disk_gib=100, overcommit="none")


def test_rejection_reports_eliminations_and_changes_nothing():
    fleet = small_fleet()
    placer = Placer(fleet, Policy(filters=(ResourceFit(), MaxVMsPerHost(1))))
    placer.place((8, 1024, 0))                 # host 0: every vCPU taken
    for _ in range(3):
        placer.place((1, 1024, 0))             # hosts 1-3: one VM each
    before = snapshot(fleet)
    with pytest.raises(errors.NoValidHost) as raised:
        placer.place((1, 1024, 0))
    assert raised.value.eliminated == {"resource_fit": 1, "max_vms_per_host": 3}
    assert "resource_fit eliminated 1, max_vms_per_host eliminated 3" in str(raised.value)
    assert snapshot(fleet) == before
    fast = Placer(fleet, "best_fit")
    with pytest.raises(errors.NoValidHost, match="resource_fit eliminated 4"):
        fast.place((9, 1, 0))
    assert snapshot(fleet) == before


def test_gang_is_all_or_nothing():
    fleet = small_fleet()
    placer = Placer(fleet, "first_fit")
    placer.create_group("web", "anti-affinity")
    placer.place((1, 512, 0), tenant="early")
    before = snapshot(fleet)
    with pytest.raises(errors.NoValidHost):
        placer.place_gang([(8, 1024, 0)] * 5, tenant="new")       # only 4 hosts
    assert snapshot(fleet) == before and "new" not in fleet.tenant_ids
    gang = placer.place_gang([(8, 1024, 0)] * 3, tenant="new")
    assert [p.host for p in gang] == [1, 2, 3]


def test_server_groups_and_labels():
    fleet = small_fleet()
    placer = Placer(fleet, "nova", host_labels=[{"ssd"}, set(), {"ssd", "gpu"}, {"gpu"}],
                    host_domains=["a", "a", "b", None])
    placer.create_group("db", "anti-affinity")
    placer.create_group("cache", "affinity")
    hosts = [placer.place((1, 1024, 0), group="db").host for _ in range(4)]
    assert sorted(hosts) == [0, 1, 2, 3]
    with pytest.raises(errors.NoValidHost) as raised:
        placer.place((1, 1024, 0), group="db")
    assert raised.value.eliminated["server_group_anti_affinity"] == 4
    first = placer.place((1, 1024, 0), group="cache").host
    assert all(placer.place((1, 1024, 0), group="cache").host == first for _ in range(3))
    assert placer.place((1, 1024, 0), labels=["ssd", "gpu"]).host == 2
    with pytest.raises(errors.NoValidHost):
        placer.place((1, 1024, 0), labels=["nvme"])
    assert placer.group_members("db") == {0: 1, 1: 1, 2: 1, 3: 1}


def test_domain_spread_respects_max_skew():
    fleet = Fleet.uniform(6, vcpus=8, memory_mib=16384, disk_gib=100, overcommit="none")
    placer = Placer(fleet, ["resource_fit", "domain_spread"],
                    host_domains=["r1", "r1", "r1", "r2", "r2", "r3"])
    placer.create_group("s", "spread", max_skew=1)
    hosts = [placer.place((1, 512, 0), group="s").host for _ in range(6)]
    domains = {0: "r1", 1: "r1", 2: "r1", 3: "r2", 4: "r2", 5: "r3"}
    counts = {d: sum(1 for h in hosts if domains[h] == d) for d in ("r1", "r2", "r3")}
    assert counts == {"r1": 2, "r2": 2, "r3": 2}


def test_python_plugins():
    fleet = small_fleet()
    even = FunctionFilter(lambda placer, request, hosts: hosts % 2 == 0, name="even")
    prefer_high = FunctionWeigher(lambda placer, request, hosts: hosts.astype(float),
                                  name="high", multiplier=1.0)
    placer = Placer(fleet, Policy(filters=(ResourceFit(), even), weighers=(prefer_high,)))
    assert placer.place((1, 512, 0)).host == 2
    with pytest.raises(errors.NoValidHost) as raised:
        placer.place((9, 512, 0))
    assert raised.value.eliminated == {"resource_fit": 4, "even": 0}
    batch = placer.place_many([(1, 512, 0), (1, 512, 0)])
    assert batch.hosts.tolist() == [2, 2]
    bad = Placer(small_fleet(), Policy(filters=(FunctionFilter(lambda p, r, h: h),)))
    with pytest.raises(errors.InvalidRequest, match="returned"):
        bad.place((1, 512, 0))


@pytest.mark.parametrize("policy, error", [
    ("fastest_fit", errors.InvalidRequest), (42, errors.InvalidRequest),
    (["resource_fit", "nope"], errors.InvalidRequest),
    ([("free_ram", float("nan"))], errors.InvalidRequest),
])
def test_bad_policy(policy, error):
    with pytest.raises(error):
        Placer(small_fleet(), policy)


def test_bad_placement_input_changes_nothing():
    fleet = small_fleet()
    placer = Placer(fleet, "best_fit")
    placer.place((1, 512, 0))
    before = snapshot(fleet)
    for requests_ in ([[1, 2]], [[-1, 2, 0]], [[1.5, 2, 0]], [[np.nan, 1, 1]], [], [[0, 0, 0]],
                      np.zeros((2, 3, 1), int)):
        with pytest.raises(errors.InvalidRequest):
            placer.place_many(requests_)
    with pytest.raises(errors.UnknownGroup):
        placer.place((1, 512, 0), group="missing")
    with pytest.raises(errors.UnknownGroup):
        placer.place_many([(1, 512, 0), (1, 512, 0)], groups=[None, "missing"])
    with pytest.raises(errors.InvalidRequest):
        placer.place_many([(1, 512, 0)], tenants=[1, 2])
    with pytest.raises(errors.InvalidRequest):
        placer.place((1, -512, 0))
    with pytest.raises(errors.UnknownVM):
        placer.release(99)
    with pytest.raises(errors.InvalidRequest):
        placer.create_group("x", "sometimes")
    with pytest.raises(errors.InvalidRequest):
        Placer(fleet, "first_fit", host_labels=[{"a"}])
    assert snapshot(fleet) == before


def test_placer_pickles_and_continues_identically():
    rng = np.random.default_rng(1)
    fleet = mixed_fleet(rng, 50)
    placer = Placer(fleet, "best_fit")
    reqs = azure_like_requests(rng, 400) // np.array([1, 4, 8])
    reqs[:, 0] = np.maximum(reqs[:, 0], 1)
    placer.place_many(reqs[:200])
    clone = pickle.loads(pickle.dumps(placer))
    a = placer.place_many(reqs[200:])
    b = clone.place_many(reqs[200:])
    assert a.hosts.tolist() == b.hosts.tolist()
