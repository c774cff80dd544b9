"""Reference model of Placement accounting: plain Python, one readable loop per host.

Slow and obviously correct; tests compare vmsched.Fleet with it step by step. It mirrors the
engine's observable behaviour exactly, including which rule is reported when a request does
not fit and which VM handle is handed out next (the most recently freed, else a new one).
"""

from collections import Counter
from dataclasses import dataclass, replace

from vmsched.errors import InsufficientCapacity, UnknownHost, UnknownVM

RULES = ("capacity", "min_unit", "max_unit", "step_size")


@dataclass(frozen=True)
class Inventory:
    """One Placement inventory record (amounts in the class's whole units)."""

    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    max_unit: int = None  # None: equal to total
    step_size: int = 1

    def __post_init__(self):
        if self.max_unit is None:
            object.__setattr__(self, "max_unit", self.total)

    @property
    def capacity(self):
        return int((self.total - self.reserved) * self.allocation_ratio)


@dataclass
class ReferenceVM:
    host: int
    tenant: object
    request: tuple


class ReferenceFleet:
    """hosts[h][resource] is an Inventory; used[h][resource] an int."""

    def __init__(self, resources, hosts):
        self.resources = tuple(resources)
        self.hosts = [dict(inventories) for inventories in hosts]
        self.used = [{name: 0 for name in self.resources} for _ in self.hosts]
        self.vms = {}           # handle -> ReferenceVM
        self.free_slots = []    # released handles; the last one is reused first
        self.next_slot = 0
        self.tenants = []       # tenant ids in first-use order
        self.not_admitting = set()  # hosts that do not admit (draining, down, failed)

    @classmethod
    def from_fleet(cls, fleet):
        """A reference with the inventories (not the VMs) of a vmsched.Fleet."""
        hosts = [{name: Inventory(int(fleet.total[h, r]), int(fleet.reserved[h, r]),
                                  float(fleet.allocation_ratio[h, r]), int(fleet.min_unit[h, r]),
                                  int(fleet.max_unit[h, r]), int(fleet.step_size[h, r]))
                  for r, name in enumerate(fleet.resources)} for h in range(fleet.n_hosts)]
        return cls(fleet.resources, hosts)

    # -------------------------------------------------------------- the fit rule

    def fit_failure(self, host, request):
        """None if request fits on host, else (resource, rule) of the first refusal. A host that
        does not admit refuses everything: (None, "not_admitting")."""
        if host in self.not_admitting:
            return None, "not_admitting"
        for name, amount in zip(self.resources, request):
            if amount == 0:
                continue
            inventory = self.hosts[host][name]
            if self.used[host][name] + amount > inventory.capacity:
                return name, "capacity"
            if amount < inventory.min_unit:
                return name, "min_unit"
            if amount > inventory.max_unit:
                return name, "max_unit"
            if amount % inventory.step_size != 0:
                return name, "step_size"
        return None

    def fits(self, request):
        return [self.fit_failure(host, request) is None for host in range(len(self.hosts))]

    # -------------------------------------------------------------- operations

    def allocate(self, host, request, tenant=0):
        request = [int(amount) for amount in request]   # Python integers: exact sums
        if not 0 <= host < len(self.hosts):
            raise UnknownHost(host)
        failure = self.fit_failure(host, request)
        if failure is not None:
            raise InsufficientCapacity("does not fit", host=host, resource=failure[0],
                                       rule=failure[1])
        for name, amount in zip(self.resources, request):
            self.used[host][name] += amount
        if tenant not in self.tenants:
            self.tenants.append(tenant)
        if self.free_slots:
            vm = self.free_slots.pop()
        else:
            vm = self.next_slot
            self.next_slot += 1
        self.vms[vm] = ReferenceVM(host, tenant, tuple(request))
        return vm

    def release(self, vm):
        if vm not in self.vms:
            raise UnknownVM(vm)
        record = self.vms.pop(vm)
        for name, amount in zip(self.resources, record.request):
            self.used[record.host][name] -= amount
        self.free_slots.append(vm)

    def resize(self, vm, request):
        """Unit rules for every class asked for; capacity only for classes that grow."""
        if vm not in self.vms:
            raise UnknownVM(vm)
        record = self.vms[vm]
        host = record.host
        request = [int(amount) for amount in request]
        for name, new, old in zip(self.resources, request, record.request):
            if new == 0:
                continue
            inventory = self.hosts[host][name]
            rule = None
            if new > old and self.used[host][name] - old + new > inventory.capacity:
                rule = "capacity"
            elif new < inventory.min_unit:
                rule = "min_unit"
            elif new > inventory.max_unit:
                rule = "max_unit"
            elif new % inventory.step_size != 0:
                rule = "step_size"
            if rule is not None:
                raise InsufficientCapacity("does not fit", host=host, resource=name, rule=rule)
        for name, new, old in zip(self.resources, request, record.request):
            self.used[host][name] += new - old
        record.request = tuple(request)

    def set_inventory(self, host, resource, **fields):
        """Change some fields; a max_unit equal to total follows a new total."""
        old = self.hosts[host][resource]
        if "total" in fields and "max_unit" not in fields and old.max_unit == old.total:
            fields["max_unit"] = fields["total"]
        self.hosts[host][resource] = replace(old, **fields)

    # -------------------------------------------------------------- accounting

    def capacity(self, host, name):
        return self.hosts[host][name].capacity

    def tenant_used(self, tenant):
        totals = {name: 0 for name in self.resources}
        for record in self.vms.values():
            if record.tenant == tenant:
                for name, amount in zip(self.resources, record.request):
                    totals[name] += amount
        return totals

    def host_vm_count(self, host):
        return sum(1 for record in self.vms.values() if record.host == host)

    def realised_overcommit(self, scope="in_use"):
        """{class: sum used / sum (total - reserved)} over hosts in use (or all)."""
        result = {}
        for name in self.resources:
            used = usable = 0
            for host in range(len(self.hosts)):
                if scope == "in_use" and self.host_vm_count(host) == 0:
                    continue
                used += self.used[host][name]
                usable += self.hosts[host][name].total - self.hosts[host][name].reserved
            result[name] = used / usable if usable > 0 else float("nan")
        return result

    def most_common_shape(self):
        counts = Counter(record.request for record in self.vms.values())
        best = max(counts.values())
        return min(shape for shape, count in counts.items() if count == best)

    def stranded_capacity(self, shape):
        """{class: free amount on hosts where another class refuses `shape`}."""
        stranded = {name: 0 for name in self.resources}
        for host in range(len(self.hosts)):
            refusing = set()
            for name, amount in zip(self.resources, shape):
                if amount == 0:
                    continue
                inventory = self.hosts[host][name]
                free = inventory.capacity - self.used[host][name]
                if (amount > free or amount < inventory.min_unit or amount > inventory.max_unit
                        or amount % inventory.step_size != 0):
                    refusing.add(name)
            for name in self.resources:
                if refusing - {name}:
                    stranded[name] += max(self.capacity(host, name) - self.used[host][name], 0)
        return stranded
