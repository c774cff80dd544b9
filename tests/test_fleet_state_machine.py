"""Engine vs reference, step by step: allocate / release / resize / set_inventory / fits.

Every rule applies the same operation to vmsched.Fleet and to ReferenceFleet, then compares the
outcome (handle, or error class with the class and rule that refused); after every step all
state is compared and the engine's own check_invariants() runs.
"""

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from vmsched import Fleet
from vmsched.errors import InsufficientCapacity, UnknownVM
from vmsched.reference import Inventory, ReferenceFleet

RATIOS = st.one_of(st.sampled_from([0.5, 1.0, 1.5, 4.0, 16.0]),
                   st.floats(0.1, 20.0, allow_nan=False, allow_infinity=False))


@st.composite
def inventories(draw):
    total = draw(st.integers(0, 64))
    reserved = draw(st.integers(0, total))
    min_unit = draw(st.integers(1, 4))
    max_unit = draw(st.one_of(st.none(), st.integers(min_unit, max(min_unit, total + 4))))
    if total == 0:
        max_unit = draw(st.sampled_from([None, 0]))
    elif max_unit is None:  # max_unit defaults to total, which min_unit must not exceed
        min_unit = min(min_unit, total)
    return Inventory(total, reserved, draw(RATIOS), min_unit, max_unit,
                     draw(st.sampled_from([1, 1, 1, 2, 3])))


@st.composite
def requests(draw, n_resources):
    """One amount per class, at least one of them positive."""
    amounts = draw(st.lists(st.integers(0, 40), min_size=n_resources, max_size=n_resources))
    if not any(amounts):
        amounts[draw(st.integers(0, n_resources - 1))] = draw(st.integers(1, 40))
    return amounts


class FleetMachine(RuleBasedStateMachine):
    @initialize(data=st.data(), n_hosts=st.integers(1, 5), n_resources=st.integers(1, 3))
    def build(self, data, n_hosts, n_resources):
        self.resources = tuple(f"R{r}" for r in range(n_resources))
        hosts = [{name: data.draw(inventories()) for name in self.resources}
                 for _ in range(n_hosts)]
        self.reference = ReferenceFleet(self.resources, hosts)

        def field(name):
            return np.array([[getattr(h[r], name) for r in self.resources] for h in hosts])

        self.fleet = Fleet(field("total"), resources=self.resources,
                           reserved=field("reserved"),
                           allocation_ratio=field("allocation_ratio"),
                           min_unit=field("min_unit"), max_unit=field("max_unit"),
                           step_size=field("step_size"))

    def both(self, operation, *args):
        """Run operation on both; they must return the same value or raise alike."""
        outcomes = []
        for model in (self.fleet, self.reference):
            try:
                outcomes.append(("ok", getattr(model, operation)(*args)))
            except InsufficientCapacity as error:
                outcomes.append(("refused", error.resource, error.rule))
            except UnknownVM:
                outcomes.append(("unknown vm",))
        assert outcomes[0] == outcomes[1], (operation, args, outcomes)
        return outcomes[0]

    @rule(data=st.data())
    def allocate(self, data):
        host = data.draw(st.integers(0, self.fleet.n_hosts - 1))
        request = data.draw(requests(len(self.resources)))
        tenant = data.draw(st.sampled_from([0, 1, "acme", "zeta"]))
        self.both("allocate", host, request, tenant)

    @precondition(lambda self: self.reference.vms)
    @rule(data=st.data())
    def release(self, data):
        self.both("release", data.draw(st.sampled_from(sorted(self.reference.vms))))

    @rule(vm=st.integers(-2, 40))
    def release_any(self, vm):
        self.both("release", vm)

    @precondition(lambda self: self.reference.vms)
    @rule(data=st.data())
    def resize(self, data):
        vm = data.draw(st.sampled_from(sorted(self.reference.vms)))
        self.both("resize", vm, data.draw(requests(len(self.resources))))

    @rule(data=st.data())
    def set_inventory(self, data):
        host = data.draw(st.integers(0, self.fleet.n_hosts - 1))
        resource = data.draw(st.sampled_from(self.resources))
        current = self.reference.hosts[host][resource]
        new = data.draw(inventories())
        keep = data.draw(st.sets(st.sampled_from(
            ["total", "reserved", "allocation_ratio", "min_unit", "max_unit", "step_size"])))
        fields = {name: getattr(new, name) for name in
                  ("total", "reserved", "allocation_ratio", "min_unit", "max_unit", "step_size")
                  if name not in keep}
        # Keep the combination valid: the fields kept come from the current record.
        merged = {name: fields.get(name, getattr(current, name)) for name in
                  ("total", "reserved", "allocation_ratio", "min_unit", "max_unit", "step_size")}
        if "total" in fields and "max_unit" not in fields and current.max_unit == current.total:
            merged["max_unit"] = merged["total"]
        if merged["reserved"] > merged["total"] or (
                merged["total"] > 0 and merged["min_unit"] > merged["max_unit"]):
            return
        self.fleet.set_inventory(resource, hosts=[host], **fields)
        self.reference.set_inventory(host, resource, **fields)

    @rule(data=st.data())
    def fits(self, data):
        request = data.draw(requests(len(self.resources)))
        assert self.fleet.fits(request).tolist() == self.reference.fits(request)

    @invariant()
    def same_state(self):
        fleet, ref = self.fleet, self.reference
        fleet.check_invariants()
        for h in range(fleet.n_hosts):
            for r, name in enumerate(self.resources):
                inventory = ref.hosts[h][name]
                assert fleet.total[h, r] == inventory.total
                assert fleet.reserved[h, r] == inventory.reserved
                assert fleet.allocation_ratio[h, r] == inventory.allocation_ratio
                assert fleet.min_unit[h, r] == inventory.min_unit
                assert fleet.max_unit[h, r] == inventory.max_unit
                assert fleet.step_size[h, r] == inventory.step_size
                assert fleet.capacity[h, r] == inventory.capacity
                assert fleet.used[h, r] == ref.used[h][name]
            assert fleet.host_vm_count[h] == ref.host_vm_count(h)
        assert fleet.live_vms().tolist() == sorted(ref.vms)
        for vm, record in ref.vms.items():
            assert fleet.vm_host[vm] == record.host
            assert tuple(fleet.vm_request[vm]) == record.request
        assert fleet.tenant_ids == ref.tenants
        for code, tenant in enumerate(ref.tenants):
            assert fleet.tenant_used[code].tolist() == list(ref.tenant_used(tenant).values())
        assert fleet.free_slot_stack().tolist() == ref.free_slots
        assert fleet.n_vms == len(ref.vms)
        if ref.vms:
            assert fleet.stranded_capacity()["stranded"].tolist() == list(
                ref.stranded_capacity(ref.most_common_shape()).values())
        np.testing.assert_array_equal(
            fleet.realised_overcommit().to_numpy(),
            np.array(list(ref.realised_overcommit().values())))


# 300 runs under the "ci" profile (1.5 x its max_examples), fewer under "dev" and "debug".
FleetMachine.TestCase.settings = settings(max_examples=int(1.5 * settings.default.max_examples),
                                          stateful_step_count=30, deadline=None)
TestFleetMachine = pytest.mark.long(FleetMachine.TestCase)
