"""Placer vs ReferencePlacer, step by step, over random fleets and policies.

Every built-in filter, weigher and fast policy is drawn; steps place, place in batches and
gangs, release and change inventories. Decisions (or rejections with their eliminations)
must be identical, and so must all fleet and group state after every step.
"""

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from placement_strategies import (
    GROUP_POLICIES,
    LABELS,
    fleets,
    host_attributes,
    policies,
    requests,
    scales_of,
)

from vmsched import Placer
from vmsched.errors import NoValidHost
from vmsched.reference import ReferenceFleet
from vmsched.reference.placement import ReferencePlacer


class PlacementMachine(RuleBasedStateMachine):
    @initialize(data=st.data(), fleet=fleets(), policy=policies(), seed=st.integers(0, 2**32))
    def build(self, data, fleet, policy, seed):
        labels, domains = data.draw(host_attributes(fleet.n_hosts))
        self.placer = Placer(fleet, policy, host_labels=labels, host_domains=domains, seed=seed)
        self.reference = ReferencePlacer(ReferenceFleet.from_fleet(fleet), policy,
                                         host_labels=labels, host_domains=domains, seed=seed)
        self.groups = []
        for g in range(3):
            spec = dict(policy=data.draw(st.sampled_from(GROUP_POLICIES)),
                        max_per_host=data.draw(st.integers(1, 2)),
                        max_skew=data.draw(st.integers(1, 2)))
            self.placer.create_group(f"g{g}", **spec)
            self.reference.create_group(f"g{g}", spec["policy"], spec["max_per_host"],
                                        spec["max_skew"])
            self.groups.append(f"g{g}")
        self.n_resources = fleet.n_resources
        self.scales = scales_of(fleet)

    def draw_context(self, data):
        labels = data.draw(st.sets(st.sampled_from(LABELS + ("unknown",)), max_size=2))
        group = data.draw(st.sampled_from(self.groups + [None, None]))
        return tuple(sorted(labels)), group

    @rule(data=st.data())
    def place(self, data):
        request = data.draw(requests(self.n_resources, self.scales))
        labels, group = self.draw_context(data)
        tenant = data.draw(st.sampled_from([0, "t1"]))
        outcomes = []
        for placer in (self.placer, self.reference):
            try:
                outcomes.append(tuple(placer.place(request, labels=labels, group=group,
                                                   tenant=tenant)))
            except NoValidHost as error:
                outcomes.append(("rejected", tuple(error.eliminated.values())))
        assert outcomes[0] == outcomes[1], outcomes

    @rule(data=st.data(), n=st.integers(1, 6))
    def place_many(self, data, n):
        batch = [data.draw(requests(self.n_resources, self.scales)) for _ in range(n)]
        contexts = [self.draw_context(data) for _ in range(n)]
        labels = [c[0] for c in contexts]
        groups = [c[1] for c in contexts] if data.draw(st.booleans()) else None
        result = self.placer.place_many(np.array(batch), labels=labels, groups=groups)
        hosts, vms, eliminated = self.reference.place_many(batch, labels=labels, groups=groups)
        assert result.hosts.tolist() == hosts
        assert result.vms.tolist() == vms
        names = self.placer.filter_names
        for i in range(n):          # what each filter eliminated (nothing where placed)
            engine = {name: int(c) for name, c in zip(names, result.eliminated[i]) if c}
            assert engine == {name: c for name, c in eliminated[i].items() if c}, i

    @rule(data=st.data(), n=st.integers(1, 4))
    def place_gang(self, data, n):
        batch = [data.draw(requests(self.n_resources, self.scales)) for _ in range(n)]
        outcomes = []
        for placer in (self.placer, self.reference):
            try:
                outcomes.append([tuple(p) for p in placer.place_gang(np.array(batch))])
            except NoValidHost:
                outcomes.append("rejected")
        assert outcomes[0] == outcomes[1], outcomes

    @precondition(lambda self: self.reference.fleet.vms)
    @rule(data=st.data())
    def release(self, data):
        vm = data.draw(st.sampled_from(sorted(self.reference.fleet.vms)))
        self.placer.release(vm)
        self.reference.release(vm)

    @rule(data=st.data())
    def change_ratio(self, data):
        host = data.draw(st.integers(0, self.placer.fleet.n_hosts - 1))
        ratio = data.draw(st.sampled_from([0.5, 1.0, 2.0, 4.0]))
        self.placer.fleet.set_inventory("VCPU", hosts=[host], allocation_ratio=ratio)
        self.reference.fleet.set_inventory(host, "VCPU", allocation_ratio=ratio)

    @rule(data=st.data())
    def select(self, data):
        request = data.draw(requests(self.n_resources, self.scales))
        labels, group = self.draw_context(data)
        outcomes = []
        for placer in (self.placer, self.reference):
            try:
                outcomes.append(placer.select(request, labels=labels, group=group))
            except NoValidHost as error:
                outcomes.append(("rejected", tuple(error.eliminated.values())))
        assert outcomes[0] == outcomes[1], outcomes

    @invariant()
    def same_state(self):
        fleet, ref = self.placer.fleet, self.reference.fleet
        fleet.check_invariants()
        assert fleet.live_vms().tolist() == sorted(ref.vms)
        for vm, record in ref.vms.items():
            assert fleet.vm_host[vm] == record.host
        for h in range(fleet.n_hosts):
            assert fleet.used[h].tolist() == [ref.used[h][name] for name in ref.resources]
        assert fleet.free_slot_stack().tolist() == ref.free_slots
        assert fleet.tenant_ids == ref.tenants
        for group in self.groups:
            assert self.placer.group_members(group) == dict(+self.reference.members_on(group))
        if self.placer.index is not None:
            self.placer.index.check()


# 200 runs under the "ci" profile, fewer under "dev" and "debug".
PlacementMachine.TestCase.settings = settings(max_examples=settings.default.max_examples,
                                              stateful_step_count=25, deadline=None)
TestPlacementMachine = pytest.mark.long(PlacementMachine.TestCase)
