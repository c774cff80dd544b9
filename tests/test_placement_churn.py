"""Placement under churn: long random arrive / depart sequences that fragment the fleet, with
ratio changes and hosts that stop and start admitting, decided by each fast policy and by the
reference; the index's invariants are checked at the end.

Two kinds of fleet: a few host shapes (the indexed per-shape treaps), and around 64 distinct
shapes, where ratio changes push a fleet past the treaps' limit mid-run (the score bounds
take over)."""

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from vmsched import Fleet, Placer, errors
from vmsched.placement.policy import FAST_POLICIES, POLICIES
from vmsched.reference import ReferenceFleet
from vmsched.reference.placement import ReferencePlacer

RESOURCES = ("VCPU", "MEMORY_MB", "DISK_GB")


@st.composite
def churned_fleets(draw):
    """A fleet of a few shapes (2-40 hosts); of 66-70 distinct shapes (score bounds from the
    start); or of 61 shapes over 66 hosts, where ratio changes on the 6 alike hosts cross the
    limit of 64 mid-run (and fill the treaps' shape table, which then rebuilds)."""
    n_resources = draw(st.sampled_from([2, 3]))
    kind = draw(st.sampled_from(["few shapes", "many shapes", "crossing the limit"]))
    event(f"fleet: {kind}")
    if kind == "few shapes":
        n_hosts = draw(st.integers(2, 40))
        shapes = [[draw(st.integers(8, 32)), draw(st.integers(32, 128)), draw(st.integers(0, 200))]
                  for _ in range(draw(st.integers(1, 3)))]
        total = np.array([shapes[draw(st.integers(0, len(shapes) - 1))]
                          for _ in range(n_hosts)], np.int64)
    else:
        n_hosts = draw(st.integers(66, 70)) if kind == "many shapes" else 66
        distinct = n_hosts if kind == "many shapes" else 60
        total = np.array([[16, 64 + min(h, distinct), 100] for h in range(n_hosts)], np.int64)
    ratios = np.ones((n_hosts, 3))
    ratios[:, 0] = draw(st.sampled_from([1.0, 2.0, 4.0]))
    return Fleet(total[:, :n_resources], resources=RESOURCES[:n_resources],
                 allocation_ratio=ratios[:, :n_resources])


RATIOS = (0.5, 1.0, 1.5, 3.0, 5.0, 6.0)


@st.composite
def churn(draw, n_hosts, n_resources):
    """100-300 steps, two thirds arrivals and departures of uniformly random running VMs, the
    rest ratio changes and hosts that stop or start admitting (favouring the last 6 hosts:
    the alike ones of a crossing fleet). Drawn as 4 bytes per step, which Hypothesis draws
    and shrinks quickly."""
    raw = draw(st.binary(min_size=400, max_size=1200))
    steps = []
    for k in range(0, len(raw) - 3, 4):
        kind, a, b, c = raw[k:k + 4]
        host = (n_hosts - 1 - a % min(6, n_hosts)) if b & 1 else a % n_hosts
        kind = ("arrive", "depart", "arrive", "depart", "ratio", "admit")[kind % 6]
        if kind == "arrive":
            steps.append((kind, [1 + a % 12, b % 13, c % 13][:n_resources]))
        elif kind == "depart":
            steps.append((kind, a * 256 + b))
        elif kind == "ratio":
            steps.append((kind, host, RATIOS[c % len(RATIOS)]))
        else:
            steps.append((kind, host, bool(c & 1)))
    return steps


@pytest.mark.parametrize("policy", FAST_POLICIES)
@given(data=st.data())
def test_fast_policy_under_churn_equals_the_reference(policy, data):
    fleet = data.draw(churned_fleets())
    steps = data.draw(churn(fleet.n_hosts, fleet.n_resources))
    placer = Placer(fleet, policy)
    reference = ReferencePlacer(ReferenceFleet.from_fleet(fleet), POLICIES[policy])
    live, placed, departed, modes = [], 0, 0, set()
    for k, step in enumerate(steps):
        if step[0] == "arrive":
            outcomes = []
            for model in (placer, reference):
                try:
                    outcomes.append(("placed",) + tuple(model.place(step[1])))
                except errors.NoValidHost as error:
                    outcomes.append(("rejected",) + tuple(error.eliminated.values()))
            assert outcomes[0] == outcomes[1], (k, step, outcomes)
            if outcomes[0][0] == "placed":
                live.append(outcomes[0][2])
                placed += 1
        elif step[0] == "depart" and live:
            vm = live.pop(step[1] % len(live))
            placer.release(vm)
            reference.release(vm)
            departed += 1
        elif step[0] == "ratio":
            fleet.set_inventory("VCPU", hosts=[step[1]], allocation_ratio=step[2])
            reference.fleet.set_inventory(step[1], "VCPU", allocation_ratio=step[2])
        elif step[0] == "admit":
            fleet.set_admitting(np.array([step[1]], np.int32), step[2])
            (reference.fleet.not_admitting.discard if step[2] else
             reference.fleet.not_admitting.add)(step[1])
        modes.add(placer.index.bounds)
    placer.index.check()
    for mode in modes if policy != "first_fit" else ():
        event(f"index: {'score bounds' if mode else 'shape treaps'} used")
    if len(modes) == 2 and policy != "first_fit":
        event("index: switched between the two")
    event(f"departures {'>= 30' if departed >= 30 else '< 30'}")
    assert placed > 0 or not live


def _treap_priority(host):
    """The index's treap priority of a host (splitmix64 of its index, as in _shape_trees)."""
    mask = (1 << 64) - 1
    z = (host * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


@pytest.mark.parametrize("policy", ["best_fit", "worst_fit", "dot_product"])
def test_a_treap_as_deep_as_the_fleet_decides_like_the_reference(policy):
    """Free memory ordered like the hosts' treap priorities makes one treap a path through all
    300 hosts (the worst case of its walks, whose stacks hold one index per host); churn on it
    still decides as the reference does, and the index stays exact."""
    n_hosts = 300
    fleet = Fleet(np.tile([64, 4096], (n_hosts, 1)), resources=("VCPU", "MEMORY_MB"))
    by_priority = sorted(range(n_hosts), key=_treap_priority)
    for rank, host in enumerate(by_priority):      # the higher the priority, the less free
        fleet.allocate(host, [1, 8 + 8 * rank])
    reference = ReferenceFleet.from_fleet(fleet)
    for rank, host in enumerate(by_priority):
        reference.allocate(host, [1, 8 + 8 * rank])
    placer = Placer(fleet, policy)
    model = ReferencePlacer(reference, POLICIES[policy])
    placer.index.check()
    rng = np.random.default_rng(0)
    live = []
    for k in range(400):
        if live and rng.random() < 0.4:
            vm = live.pop(int(rng.integers(len(live))))
            placer.release(vm)
            model.release(vm)
            continue
        request = [int(rng.integers(1, 4)), int(rng.integers(1, 64)) * 8]
        decisions = []
        for chooser in (placer, model):
            try:
                decisions.append(tuple(chooser.place(request)))
            except errors.NoValidHost:
                decisions.append(None)
        assert decisions[0] == decisions[1], (k, request, decisions)
        if decisions[0] is not None:
            live.append(decisions[0][1])
    placer.index.check()


def test_dot_product_equal_free_vectors_on_other_shapes_are_no_tie():
    """Two hosts with the same free vector (8 vCPUs, 1000 MiB) but different capacities score
    differently: for 1 vCPU and 400 MiB, host 0 (8 vCPUs, 2000 MiB) scores 0.225 and host 1
    (16 vCPUs, 1000 MiB) 0.431, so host 1 wins although host 0 has the lower index and its
    shape is searched first (the index once took equal free vectors for ties across shapes)."""
    fleet = Fleet(np.array([[8, 2000], [16, 1000]], np.int64), resources=("VCPU", "MEMORY_MB"),
                  allocation_ratio={"VCPU": 1.0, "MEMORY_MB": 1.0})
    reference = ReferenceFleet.from_fleet(fleet)
    for model in (fleet, reference):
        model.allocate(0, [0, 1000])
        model.allocate(1, [8, 0])
    placer = Placer(fleet, "dot_product")
    model = ReferencePlacer(reference, POLICIES["dot_product"])
    assert tuple(model.place([1, 400]))[0] == 1
    assert tuple(placer.place([1, 400]))[0] == 1
    placer.index.check()


def test_dot_product_index_stays_exact_for_a_host_far_over_capacity():
    """An inventory shrunk far below what a host holds (free -2**39 MiB of a 1 MiB total)
    leaves the index exact (its summed free fraction is clamped, not overflowed) and the
    next decision the reference's."""
    total = np.array([[64, 1 << 40], [64, 1 << 40]], np.int64)
    ratios = {"VCPU": 1.0, "MEMORY_MB": 1.0}
    fleet = Fleet(total, resources=("VCPU", "MEMORY_MB"), allocation_ratio=ratios)
    reference = ReferenceFleet.from_fleet(fleet)
    placer = Placer(fleet, "dot_product")
    model = ReferencePlacer(reference, POLICIES["dot_product"])
    assert tuple(placer.place([1, 1 << 39])) == tuple(model.place([1, 1 << 39]))
    fleet.set_inventory("MEMORY_MB", hosts=[0, 1], total=1)
    for host in (0, 1):
        reference.set_inventory(host, "MEMORY_MB", total=1)
    placer.index.check()
    assert tuple(placer.place([1, 0])) == tuple(model.place([1, 0]))
    placer.index.check()
