"""Per-VM scheduling settings: CPU and memory shares, reservations and limits.

Stored by VM slot together with the slot's generation, so that a setting never outlives its
VM (a reused slot starts from the defaults). Units: cores for CPU reservation and limit, MiB
for memory; shares are relative weights (> 0).
"""

import numpy as np

from vmsched import _validate
from vmsched.errors import InvalidRequest, UnknownResource, UnknownVM, shown

FIELDS = ("cpu_shares", "cpu_reservation", "cpu_limit",
          "memory_shares", "memory_reservation", "memory_limit")
CPU_SHARES_PER_VCPU = 1000.0
MEMORY_SHARES_PER_MIB = 10.0


class VMSettings:
    """The settings table of one fleet (NaN = default)."""

    def __init__(self):
        self.values = np.full((0, len(FIELDS)), np.nan)
        self.generation = np.zeros(0, np.int32)
        self.version = 0  # bumped on every change (host models cache their layout on it)

    def _grow(self, n_slots):
        if n_slots > len(self.generation):
            size = max(n_slots, 2 * len(self.generation), 64)
            values = np.full((size, len(FIELDS)), np.nan)
            values[:len(self.values)] = self.values
            generation = np.full(size, -1, np.int32)
            generation[:len(self.generation)] = self.generation
            self.values, self.generation = values, generation

    def set(self, fleet, vm, **fields):
        """Validate and store fields for live VM `vm` (others keep their values)."""
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise InvalidRequest(f"unknown settings {sorted(unknown)}; known: {', '.join(FIELDS)}")
        live = fleet.live_vms()
        if not isinstance(vm, (int, np.integer)) or isinstance(vm, bool) or vm not in live:
            raise UnknownVM(f"vm {shown(vm)} is not allocated")
        vm = int(vm)
        current = self.effective(fleet, np.array([vm]))
        row = {name: float(current[name][0]) for name in FIELDS}
        for name, value in fields.items():
            if value is None:
                continue
            value = _validate.nonnegative_real(name, value)
            if name.endswith("shares") and value <= 0:
                raise InvalidRequest(f"{name} = {value} must be > 0")
            row[name] = value
        vcpus, memory = _sizes(fleet, np.array([vm]))
        for kind, size, unit in (("cpu", vcpus[0], "vCPUs"), ("memory", memory[0], "MiB")):
            if row[f"{kind}_limit"] > size:
                raise InvalidRequest(f"{kind}_limit = {row[f'{kind}_limit']} is above the VM's "
                                     f"{size:g} {unit}")
            if row[f"{kind}_reservation"] > row[f"{kind}_limit"]:
                raise InvalidRequest(f"{kind}_reservation = {row[f'{kind}_reservation']} is "
                                     f"above {kind}_limit = {row[f'{kind}_limit']}")
        generation = int(fleet.vm_generation[vm])
        self._grow(vm + 1)
        if self.generation[vm] != generation:
            self.values[vm] = np.nan
            self.generation[vm] = generation
        for column, name in enumerate(FIELDS):
            if fields.get(name) is not None:
                self.values[vm, column] = row[name]
        self.version += 1

    def has_custom(self, fleet, slots):
        """Whether any of these VMs has a setting of its own."""
        if len(self.generation) == 0 or len(slots) == 0:
            return False
        known = slots[slots < len(self.generation)]
        current = self.generation[known] == np.asarray(fleet.vm_generation)[known]
        return bool((~np.isnan(self.values[known][current])).any())

    def effective(self, fleet, slots):
        """{field: float64 array} of the settings in force for VM slots (defaults filled)."""
        vcpus, memory = _sizes(fleet, slots)
        defaults = {"cpu_shares": CPU_SHARES_PER_VCPU * vcpus, "cpu_reservation": 0 * vcpus,
                    "cpu_limit": vcpus, "memory_shares": MEMORY_SHARES_PER_MIB * memory,
                    "memory_reservation": 0 * memory, "memory_limit": memory}
        out = {}
        inside = slots < len(self.generation)
        valid = np.zeros(len(slots), bool)
        valid[inside] = (self.generation[slots[inside]]
                         == np.asarray(fleet.vm_generation)[slots[inside]])
        for column, name in enumerate(FIELDS):
            value = np.full(len(slots), np.nan)
            value[inside] = self.values[slots[inside], column]
            value[~valid] = np.nan
            out[name] = np.where(np.isnan(value), defaults[name], value)
        return out


def _sizes(fleet, slots):
    """(vCPUs, MiB) of VM slots as float64."""
    try:
        cpu, mem = fleet.resource_index("VCPU"), fleet.resource_index("MEMORY_MB")
    except UnknownResource as error:
        raise UnknownResource(f"scheduling settings need VCPU and MEMORY_MB classes: {error}") \
            from None
    request = np.asarray(fleet.vm_request)[slots]
    return request[:, cpu].astype(np.float64), request[:, mem].astype(np.float64)
