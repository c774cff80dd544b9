# cython: language_level=3
"""Fleet state with OpenStack Placement's overcommit accounting, exact and in native code.

Per host h and resource class r (both dense indices) the fleet keeps one inventory record::

    capacity[h, r] = int((total - reserved) * allocation_ratio)

A request (one whole amount per class; 0 means "does not ask for this class") fits on h iff,
for every class it asks for::

    used + amount <= capacity,  min_unit <= amount <= max_unit,  amount % step_size == 0

Allocation is all-or-nothing across classes. Changing an inventory never evicts: `used` may then
exceed `capacity`, and the fit rule admits nothing that asks for more of that class. A resize
checks capacity only for the classes that grow, so shrinking is always possible.

VMs live in slots of a VM table; `allocate` returns the slot (the VM handle) and `release`
frees it for reuse, last freed first (like file descriptors). Tenants are any int or str; they
get dense codes in first-use order.

The public wrapper is `vmsched.Fleet` (a subclass adding constructors and tables). Methods
here validate scalars natively, so that the low-latency calls stay below a microsecond, and
raise `vmsched.errors` exceptions with the state unchanged.
"""

import numbers
from collections.abc import Mapping

import numpy as np

cimport cython
from libc.stdint cimport INT64_MAX

from vmsched.engine._types cimport amount_t, index_t, ratio_t, unit_t
from vmsched.engine import dtypes
from vmsched.errors import (
    InsufficientCapacity,
    InvalidRequest,
    InvariantViolation,
    UnknownHost,
    UnknownResource,
    UnknownVM,
    shown,
)

cdef extern from *:
    """
    #ifndef VMSCHED_DEBUG
    #define VMSCHED_DEBUG 0
    #endif
    """
    int VMSCHED_DEBUG

#: True when this extension was built with VMSCHED_DEBUG=1 (bounds checks on).
DEBUG_BUILD = bool(VMSCHED_DEBUG)

cdef amount_t MAX_AMOUNT = dtypes.MAX_AMOUNT
# The free capacity a host that does not admit presents to every fit check (minus its used):
# far below any request, so that nothing fits, and far above int64's floor.
cdef amount_t NO_ROOM = -(<amount_t>1 << 62)
cdef Py_ssize_t MAX_INDEX = dtypes.MAX_INDEX
cdef Py_ssize_t INITIAL_VM_SLOTS = 1024

FIT_RULES = {
    OVER_CAPACITY: "capacity",
    BELOW_MIN_UNIT: "min_unit",
    ABOVE_MAX_UNIT: "max_unit",
    OFF_STEP: "step_size",
}


cdef inline amount_t capacity_of(amount_t total, amount_t reserved, ratio_t ratio) noexcept nogil:
    """Placement's capacity: int((total - reserved) * allocation_ratio), truncated to zero."""
    return <amount_t>(<double>(total - reserved) * ratio)


cdef inline amount_t read_amount(object value, str what) except -1:
    """A whole amount 0 <= value <= MAX_AMOUNT from a Python or NumPy integer."""
    cdef amount_t amount
    if type(value) is not int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise InvalidRequest(f"{what} = {shown(value)} is not a whole number")
        value = int(value)
    try:
        amount = value
    except OverflowError:
        raise InvalidRequest(f"{what} = {shown(value)} is out of range [0, 2**53]") from None
    if amount < 0:
        raise InvalidRequest(f"{what} = {shown(value)} is negative")
    if amount > MAX_AMOUNT:
        raise InvalidRequest(f"{what} = {shown(value)} is out of range [0, 2**53]")
    return amount


cdef inline Py_ssize_t read_index(object value, str what) except? -1:
    """An integer index (any sign; the caller checks the range) from a Python or NumPy int."""
    if type(value) is not int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise InvalidRequest(f"{what} = {shown(value)} is not an integer index")
        value = int(value)
    if value < -MAX_INDEX - 1 or value > MAX_INDEX:
        return -MAX_INDEX - 1  # out of every valid range; the caller reports it
    return value


def _readonly(array):
    """A read-only NumPy view of engine state (writing through it raises ValueError)."""
    view = np.asarray(array)
    view.flags.writeable = False
    return view


cdef class FleetState:
    """Hosts x resource classes inventories, the VM table and per-tenant totals.

    Parameters (already validated and converted by `vmsched.Fleet`):
    resources: tuple of class names; total, reserved, max_unit: int64 [n_hosts, n_resources];
    allocation_ratio: float64, min_unit and step_size: int32, of the same shape.
    """

    def __cinit__(self, *args, **kwargs):
        self.n_hosts = 0
        self.n_resources = 0
        self.resources = ()
        self._tenant_codes = {}
        self._tenant_ids = []
        self._group_hosts = {}

    def __init__(self, resources, total, reserved, allocation_ratio, min_unit, max_unit,
                 step_size):
        total = np.asarray(total)
        if total.ndim != 2 or total.shape[0] < 1 or total.shape[1] < 1:
            raise InvalidRequest(f"total has shape {total.shape}; expected (n_hosts >= 1, "
                                 f"n_resources >= 1)")
        self.resources = tuple(resources)
        if len(self.resources) != total.shape[1]:
            raise InvalidRequest(f"{len(self.resources)} resource names for "
                                 f"{total.shape[1]} columns of total")
        if total.shape[0] > MAX_INDEX:
            raise InvalidRequest(f"n_hosts = {total.shape[0]} is above {MAX_INDEX}")
        if total.shape[1] > dtypes.MAX_RESOURCES:
            raise InvalidRequest(f"{total.shape[1]} resource classes; at most "
                                 f"{dtypes.MAX_RESOURCES} are supported")
        self.n_hosts, self.n_resources = total.shape[0], total.shape[1]
        shape = (self.n_hosts, self.n_resources)
        self._total = self._copy_field("total", total, dtypes.AMOUNT, shape)
        self._reserved = self._copy_field("reserved", reserved, dtypes.AMOUNT, shape)
        self._allocation_ratio = self._copy_field("allocation_ratio", allocation_ratio,
                                                  dtypes.RATIO, shape)
        self._min_unit = self._copy_field("min_unit", min_unit, dtypes.UNIT, shape)
        self._max_unit = self._copy_field("max_unit", max_unit, dtypes.AMOUNT, shape)
        self._step_size = self._copy_field("step_size", step_size, dtypes.UNIT, shape)
        self._used = np.zeros(shape, dtypes.AMOUNT)
        self._free = np.zeros(shape, dtypes.AMOUNT)
        self._host_vm_count = np.zeros(self.n_hosts, dtypes.INDEX)
        self._admits = np.ones(self.n_hosts, np.uint8)
        self._recompute_free(0, self.n_hosts)
        self._min_unit_max = np.zeros(self.n_resources, dtypes.AMOUNT)
        self._max_unit_min = np.zeros(self.n_resources, dtypes.AMOUNT)
        self._step_all_one = np.zeros(self.n_resources, np.uint8)
        self._recompute_unit_bounds()
        self._request = np.zeros(self.n_resources, dtypes.AMOUNT)
        ring = 1024
        while ring < self.n_hosts:
            ring *= 2
        self._changed_hosts = np.zeros(ring, dtypes.INDEX)
        self._change_mask = ring - 1
        self.n_changes = 0
        self._init_vm_table(INITIAL_VM_SLOTS)
        self._tenant_used = np.zeros((4, self.n_resources), dtypes.AMOUNT)

    @staticmethod
    def _copy_field(str name, value, dtype, shape):
        array = np.asarray(value)
        if array.dtype != dtype or array.shape != shape:
            raise InvalidRequest(f"{name} must be {dtype} of shape {shape}, "
                                 f"got {array.dtype} of shape {array.shape}")
        return np.array(array, dtype=dtype, order="C", copy=True)

    def _init_vm_table(self, Py_ssize_t n_slots):
        self._vm_host = np.full(n_slots, -1, dtypes.INDEX)
        self._vm_tenant = np.zeros(n_slots, dtypes.INDEX)
        self._vm_request = np.zeros((n_slots, self.n_resources), dtypes.AMOUNT)
        self._vm_generation = np.zeros(n_slots, dtypes.INDEX)
        self._vm_group = np.full(n_slots, -1, dtypes.INDEX)
        self._free_slots = np.zeros(n_slots, dtypes.INDEX)
        self._n_free_slots = 0
        self.slot_high_water = 0
        self.n_vms = 0

    cdef void _recompute_free(self, Py_ssize_t first, Py_ssize_t stop) noexcept nogil:
        """free = int((total - reserved) * allocation_ratio) - used for hosts [first, stop)
        (NO_ROOM - used on hosts that do not admit)."""
        cdef Py_ssize_t h, r
        for h in range(first, stop):
            for r in range(self.n_resources):
                if self._admits[h]:
                    self._free[h, r] = capacity_of(self._total[h, r], self._reserved[h, r],
                                                   self._allocation_ratio[h, r]) - self._used[h, r]
                else:
                    self._free[h, r] = NO_ROOM - self._used[h, r]

    cdef void _recompute_unit_bounds(self) noexcept nogil:
        cdef Py_ssize_t h, r
        for r in range(self.n_resources):
            self._min_unit_max[r] = self._min_unit[0, r]
            self._max_unit_min[r] = self._max_unit[0, r]
            self._step_all_one[r] = True
            for h in range(self.n_hosts):
                self._min_unit_max[r] = max(self._min_unit_max[r], self._min_unit[h, r])
                self._max_unit_min[r] = min(self._max_unit_min[r], self._max_unit[h, r])
                self._step_all_one[r] &= self._step_size[h, r] == 1

    # ---------------------------------------------------------------- reading arguments

    cdef int read_request(self, object request, str name) except -1:
        """Fill the scratch request from one whole amount per resource class, in the fleet's
        class order, or from a mapping {resource class: amount} (classes not named: 0)."""
        cdef Py_ssize_t r, n = self.n_resources
        cdef amount_t total_amount = 0
        if type(request) is not tuple and type(request) is not list:
            if isinstance(request, Mapping):
                unknown = [key for key in request if key not in self.resources]
                if unknown:
                    raise UnknownResource(f"{name} names {shown(unknown)}, which this fleet "
                                          f"does not track; its classes: {self.resources}")
                request = [request.get(resource, 0) for resource in self.resources]
            elif isinstance(request, np.ndarray):
                if request.dtype.kind not in "iu":
                    raise InvalidRequest(f"{name} has dtype {request.dtype}; amounts are "
                                         f"whole numbers")
                request = request.tolist()
            elif isinstance(request, (str, bytes)) or not hasattr(request, "__len__"):
                raise InvalidRequest(f"{name} = {shown(request)} is not a sequence of amounts")
            else:
                request = list(request)
        if len(request) != n:
            raise InvalidRequest(f"{name} has {len(request)} amounts; this fleet has {n} "
                                 f"resource classes {self.resources}")
        for r in range(n):
            self._request[r] = read_amount(request[r], f"{name}[{self.resources[r]}]")
            total_amount += self._request[r]
        if total_amount == 0:
            raise InvalidRequest(f"{name} = {shown(request)} asks for no resource")
        return 0

    cdef index_t read_host(self, object host) except -1:
        cdef Py_ssize_t h = read_index(host, "host")
        if h < 0 or h >= self.n_hosts:
            raise UnknownHost(f"host {shown(host)} is not in this fleet of {self.n_hosts} hosts")
        return <index_t>h

    cdef index_t read_vm(self, object vm) except -1:
        cdef Py_ssize_t v = read_index(vm, "vm")
        if v < 0 or v >= self.slot_high_water or self._vm_host[v] < 0:
            raise UnknownVM(f"vm {shown(vm)} is not allocated")
        return <index_t>v

    cdef index_t tenant_code(self, object tenant) except -1:
        """The dense code of a tenant id (int or str), assigned on first use."""
        cdef object code = self._tenant_codes.get(tenant) if type(tenant) in (int, str) else None
        if code is not None:
            return code
        if type(tenant) is not str:
            if isinstance(tenant, (bool, np.bool_)) or not isinstance(tenant, numbers.Integral):
                raise InvalidRequest(f"tenant = {shown(tenant)} is neither an int nor a str")
            tenant = int(tenant)
            code = self._tenant_codes.get(tenant)
            if code is not None:
                return code
        code = len(self._tenant_ids)
        if code >= self._tenant_used.shape[0]:
            grown = np.zeros((2 * self._tenant_used.shape[0], self.n_resources), dtypes.AMOUNT)
            grown[:self._tenant_used.shape[0]] = self._tenant_used
            self._tenant_used = grown
        self._tenant_codes[tenant] = code
        self._tenant_ids.append(tenant)
        return code

    # ---------------------------------------------------------------- native core

    cdef FitFailure fit_failure(self, index_t host, const amount_t* request,
                                Py_ssize_t* resource) noexcept nogil:
        """Which rule, for which class (written to resource), refuses the request on host."""
        cdef Py_ssize_t r
        cdef amount_t amount
        for r in range(self.n_resources):
            amount = request[r]
            if amount == 0:
                continue
            resource[0] = r
            if amount > self._free[host, r]:
                return OVER_CAPACITY
            if amount < self._min_unit[host, r]:
                return BELOW_MIN_UNIT
            if amount > self._max_unit[host, r]:
                return ABOVE_MAX_UNIT
            if amount % self._step_size[host, r] != 0:
                return OFF_STEP
        return FITS

    cdef bint host_fits(self, index_t host, const amount_t* request) noexcept nogil:
        cdef Py_ssize_t offset = host * self.n_resources
        return row_fits(request, &self._free[0, 0] + offset, &self._min_unit[0, 0] + offset,
                        &self._max_unit[0, 0] + offset, &self._step_size[0, 0] + offset,
                        self.n_resources)

    cdef index_t commit(self, index_t host, const amount_t* request, index_t tenant) except -1:
        """Record a VM on host (the caller checked that it fits); return its slot."""
        cdef Py_ssize_t r
        cdef index_t vm
        if self._n_free_slots > 0:
            self._n_free_slots -= 1
            vm = self._free_slots[self._n_free_slots]
        else:
            if self.slot_high_water == self._vm_host.shape[0]:
                self._grow_vm_table()
            vm = <index_t>self.slot_high_water
            self.slot_high_water += 1
        self._vm_host[vm] = host
        self._vm_tenant[vm] = tenant
        self._vm_generation[vm] = (self._vm_generation[vm] + 1) & 0x7fffffff
        for r in range(self.n_resources):
            self._vm_request[vm, r] = request[r]
            self._used[host, r] += request[r]
            self._free[host, r] -= request[r]
            self._tenant_used[tenant, r] += request[r]
        self._host_vm_count[host] += 1
        self.note_allocation(host)
        self.n_vms += 1
        return vm

    cdef int set_group(self, index_t vm, index_t group) except -1:
        """Make live VM `vm` a member of server group `group` (>= 0) on its host."""
        cdef index_t host = self._vm_host[vm]
        members = self._group_hosts.setdefault(group, {})
        members[host] = members.get(host, 0) + 1
        self._vm_group[vm] = group
        return 0

    cdef int release_vm(self, index_t vm) except -1:
        """Free live VM `vm`: its group membership, then its resources and slot."""
        cdef index_t group = self._vm_group[vm], host = self._vm_host[vm]
        if group >= 0:
            members = self._group_hosts[group]
            if members[host] == 1:
                del members[host]
                if not members:
                    del self._group_hosts[group]
            else:
                members[host] -= 1
            self._vm_group[vm] = -1
        self.uncommit(vm)
        return 0

    cdef void uncommit(self, index_t vm) noexcept nogil:
        """Free a live VM's slot (pushed on the free-slot stack) and give its resources back."""
        self._give_back(vm)
        self._free_slots[self._n_free_slots] = vm
        self._n_free_slots += 1

    cdef void _give_back(self, index_t vm) noexcept nogil:
        cdef Py_ssize_t r
        cdef index_t host = self._vm_host[vm], tenant = self._vm_tenant[vm]
        for r in range(self.n_resources):
            self._used[host, r] -= self._vm_request[vm, r]
            self._free[host, r] += self._vm_request[vm, r]
            self._tenant_used[tenant, r] -= self._vm_request[vm, r]
            self._vm_request[vm, r] = 0
        self._host_vm_count[host] -= 1
        self.note_change(host)
        self._vm_host[vm] = -1
        self.n_vms -= 1

    cdef void note_change(self, index_t host) noexcept nogil:
        """Log any change of host's free capacity or inventory."""
        self._changed_hosts[self.n_changes & self._change_mask] = -1 - host
        self.n_changes += 1

    cdef void note_allocation(self, index_t host) noexcept nogil:
        """Log an allocation on host (its free capacity went down, its capacity is the same)."""
        self._changed_hosts[self.n_changes & self._change_mask] = host
        self.n_changes += 1

    def reserve(self, Py_ssize_t n_allocations):
        """Make room for n_allocations more VMs at once (a batch avoids growing step by step)."""
        cdef Py_ssize_t needed = self.slot_high_water + max(0, n_allocations - self._n_free_slots)
        if needed > self._vm_host.shape[0]:
            self._grow_vm_table(needed)

    def _grow_vm_table(self, Py_ssize_t at_least=0):
        cdef Py_ssize_t old = self._vm_host.shape[0]
        cdef Py_ssize_t new = min(max(2 * old, at_least), MAX_INDEX)
        if new <= old or new < at_least:
            raise MemoryError(f"the VM table is full ({old} slots)")
        vm_host = np.full(new, -1, dtypes.INDEX)
        vm_host[:old] = self._vm_host
        vm_tenant = np.zeros(new, dtypes.INDEX)
        vm_tenant[:old] = self._vm_tenant
        vm_request = np.zeros((new, self.n_resources), dtypes.AMOUNT)
        vm_request[:old] = self._vm_request
        free_slots = np.zeros(new, dtypes.INDEX)
        free_slots[:old] = self._free_slots
        vm_generation = np.zeros(new, dtypes.INDEX)
        vm_generation[:old] = self._vm_generation
        self._vm_generation = vm_generation
        vm_group = np.full(new, -1, dtypes.INDEX)
        vm_group[:old] = self._vm_group
        self._vm_group = vm_group
        self._vm_host, self._vm_tenant = vm_host, vm_tenant
        self._vm_request, self._free_slots = vm_request, free_slots

    # ---------------------------------------------------------------- operations

    def allocate(self, host, request, tenant=0, Py_ssize_t group=-1):
        """Allocate a VM on `host`, all-or-nothing across resource classes; return its handle.

        request: one whole amount per resource class (vCPUs, MiB, GiB, ...; 0 = not asked);
        group: a server group code (>= 0) the VM joins, or -1.
        Raises InsufficientCapacity (naming the class and rule) if it does not fit, or if the
        host does not admit; the state is then unchanged.
        """
        cdef index_t h = self.read_host(host)
        self.read_request(request, "request")
        if group < -1 or group > MAX_INDEX:
            raise InvalidRequest(f"group = {group} must be a code >= 0, or -1")
        cdef Py_ssize_t r = 0
        cdef FitFailure failure = self.fit_failure(h, &self._request[0], &r)
        if failure != FITS:
            raise self._fit_error(h, r, failure, self._request[r])
        # A new tenant is registered only once the VM is known to fit.
        cdef index_t vm = self.commit(h, &self._request[0], self.tenant_code(tenant))
        if group >= 0:
            self.set_group(vm, <index_t>group)
        return vm

    def release(self, vm):
        """Release a VM: its resources return to its host and tenant, its group membership
        ends, its handle is freed."""
        self.release_vm(self.read_vm(vm))

    def release_many(self, vms):
        """Release several VMs (integer handles, each allocated once): all or none."""
        cdef const long long[::1] handles = np.ascontiguousarray(vms, dtype=np.int64)
        cdef Py_ssize_t i, n = handles.shape[0]
        cdef long long v
        for i in range(n):
            v = handles[i]
            if v < 0 or v >= self.slot_high_water or self._vm_host[v] < 0:
                raise UnknownVM(f"vm {v} is not allocated")
        if len(np.unique(np.asarray(handles))) != n:
            raise InvalidRequest("vms lists a VM twice")
        for i in range(n):
            self.release_vm(<index_t>handles[i])

    def resize(self, vm, request):
        """Change a live VM's allocation in place, all-or-nothing.

        Every class asked for must satisfy min_unit, max_unit and step_size; capacity is
        checked only for classes that grow (used - old + new <= capacity), so a shrink is
        always admitted, even on a host that is over capacity.
        """
        cdef index_t v = self.read_vm(vm)
        self.read_request(request, "request")
        cdef index_t h = self._vm_host[v], t = self._vm_tenant[v]
        cdef Py_ssize_t r
        cdef amount_t new, old
        cdef FitFailure failure = FITS
        for r in range(self.n_resources):
            new = self._request[r]
            old = self._vm_request[v, r]
            if new == 0:
                continue
            if new > old and new - old > self._free[h, r]:
                failure = OVER_CAPACITY
            elif new < self._min_unit[h, r]:
                failure = BELOW_MIN_UNIT
            elif new > self._max_unit[h, r]:
                failure = ABOVE_MAX_UNIT
            elif new % self._step_size[h, r] != 0:
                failure = OFF_STEP
            if failure != FITS:
                raise self._fit_error(h, r, failure, new)
        for r in range(self.n_resources):
            new = self._request[r]
            old = self._vm_request[v, r]
            self._used[h, r] += new - old
            self._free[h, r] -= new - old
            self._tenant_used[t, r] += new - old
            self._vm_request[v, r] = new
        self.note_change(h)

    def allocation_mark(self):
        """A mark for undo_allocations: (free-slot stack depth, slot high water, tenants)."""
        return (self._n_free_slots, self.slot_high_water, len(self._tenant_ids))

    def undo_allocations(self, vms, mark):
        """Undo, exactly, the allocations `vms` made since `mark` (and nothing else since):
        resources, slots, the free-slot stack and the tenant table return to the mark.

        This is how a gang placement that fails part-way leaves no trace.
        """
        cdef Py_ssize_t n_free, high_water, n_tenants
        n_free, high_water, n_tenants = mark
        undo = [self.read_vm(vm) for vm in vms]
        # Since the mark, allocations popped free_slots[now:mark] and took [mark, now) above
        # the high water: exactly these slots must be the ones undone.
        if (n_free < self._n_free_slots or high_water > self.slot_high_water
                or n_tenants > len(self._tenant_ids)
                or sorted(undo) != sorted(
                    list(np.asarray(self._free_slots[self._n_free_slots:n_free]))
                    + list(range(high_water, self.slot_high_water)))):
            raise InvalidRequest("undo_allocations: vms and mark do not match")
        for vm in undo:
            if self._vm_group[vm] >= 0:
                self.release_vm(vm)
                self._n_free_slots -= 1  # release_vm pushed it; the mark restores the stack
            else:
                self._give_back(vm)
            self._vm_generation[vm] = (self._vm_generation[vm] - 1) & 0x7fffffff
        self._n_free_slots = n_free
        self.slot_high_water = high_water
        for tenant in self._tenant_ids[n_tenants:]:
            del self._tenant_codes[tenant]
        del self._tenant_ids[n_tenants:]

    def fit_error(self, host, request):
        """None if `request` fits on `host` now, else the InsufficientCapacity it would raise."""
        cdef index_t h = self.read_host(host)
        self.read_request(request, "request")
        cdef Py_ssize_t r = 0
        cdef FitFailure failure = self.fit_failure(h, &self._request[0], &r)
        return None if failure == FITS else self._fit_error(h, r, failure, self._request[r])

    def _fit_error(self, index_t h, Py_ssize_t r, FitFailure failure, amount_t amount):
        rule = FIT_RULES[failure]
        name = self.resources[r]
        if failure == OVER_CAPACITY and not self._admits[h]:
            return InsufficientCapacity(f"host {h} does not admit VMs now (draining or down)",
                                        host=h, resource=name, rule="admits", amount=amount)
        if failure == OVER_CAPACITY:
            limit = self._free[h, r]
            text = (f"host {h}: {name} request {amount} exceeds the free capacity {limit} "
                    f"(used {self._used[h, r]} of capacity {limit + self._used[h, r]})")
        else:
            limit = {BELOW_MIN_UNIT: self._min_unit[h, r],
                     ABOVE_MAX_UNIT: self._max_unit[h, r],
                     OFF_STEP: self._step_size[h, r]}[failure]
            relation = {BELOW_MIN_UNIT: "is below", ABOVE_MAX_UNIT: "is above",
                        OFF_STEP: "is not a multiple of"}[failure]
            text = f"host {h}: {name} request {amount} {relation} {rule} {limit}"
        return InsufficientCapacity(text, host=h, resource=name, rule=rule, amount=amount,
                                    limit=limit)

    def fits(self, request, out=None):
        """Boolean mask [n_hosts]: where `request` fits now (Placement's rule, every class).

        out: an optional bool array of shape (n_hosts,) to write into (and return).
        """
        self.read_request(request, "request")
        if out is None:
            out = np.empty(self.n_hosts, dtype=np.bool_)
        elif (not isinstance(out, np.ndarray) or out.dtype != np.bool_
              or out.shape != (self.n_hosts,) or not out.flags.c_contiguous
              or not out.flags.writeable):
            raise InvalidRequest(f"out must be a writeable contiguous bool array of shape "
                                 f"({self.n_hosts},)")
        cdef unsigned char[::1] mask = out.view(np.uint8)
        self._fit_mask(&self._request[0], &mask[0])
        return out

    cdef void _fit_mask(self, const amount_t* request, unsigned char* mask) noexcept nogil:
        cdef Py_ssize_t h, r, n_res = self.n_resources, n_asked = 0
        cdef const amount_t* free = &self._free[0, 0]
        cdef const unit_t* min_unit = &self._min_unit[0, 0]
        cdef const amount_t* max_unit = &self._max_unit[0, 0]
        cdef const unit_t* step_size = &self._step_size[0, 0]
        cdef bint units_pass_everywhere = True
        cdef Py_ssize_t asked[64]
        cdef amount_t amount
        cdef unsigned char ok
        for r in range(n_res):
            amount = request[r]
            if amount == 0:
                continue
            if (amount < self._min_unit_max[r] or amount > self._max_unit_min[r]
                    or not self._step_all_one[r]):
                units_pass_everywhere = False
            if n_asked < 64:
                asked[n_asked] = r
            n_asked += 1
        cdef const amount_t* row
        if units_pass_everywhere and n_asked <= 4:
            # Only capacity can refuse: compare up to four asked classes with free, branch-free
            # (padding repeats the first class, which changes nothing).
            for r in range(n_asked, 4):
                asked[r] = asked[0]
            for h in range(self.n_hosts):
                row = free + h * n_res
                mask[h] = ((request[asked[0]] <= row[asked[0]])
                           & (request[asked[1]] <= row[asked[1]])
                           & (request[asked[2]] <= row[asked[2]])
                           & (request[asked[3]] <= row[asked[3]]))
            return
        if units_pass_everywhere and n_asked <= 64:
            for h in range(self.n_hosts):
                ok = 1
                for r in range(n_asked):
                    ok &= request[asked[r]] <= free[h * n_res + asked[r]]
                mask[h] = ok
            return
        for h in range(self.n_hosts):
            mask[h] = row_fits(request, free + h * n_res, min_unit + h * n_res,
                               max_unit + h * n_res, step_size + h * n_res, n_res)

    def replace_inventory(self, hosts, Py_ssize_t resource, total, reserved, allocation_ratio,
                          min_unit, max_unit, step_size):
        """Overwrite the inventory of `resource` on `hosts` (1-D arrays, one entry per host).

        Values must already be valid (vmsched.Fleet.set_inventory checks them). Nothing is
        evicted: `used` is kept, and may now exceed `capacity`.
        """
        if resource < 0 or resource >= self.n_resources:
            raise InvalidRequest(f"resource index {resource} is out of range")
        cdef const index_t[::1] host_idx = np.ascontiguousarray(hosts, dtypes.INDEX)
        cdef Py_ssize_t n = host_idx.shape[0], i, h
        fields = [np.ascontiguousarray(total, dtypes.AMOUNT),
                  np.ascontiguousarray(reserved, dtypes.AMOUNT),
                  np.ascontiguousarray(allocation_ratio, dtypes.RATIO),
                  np.ascontiguousarray(min_unit, dtypes.UNIT),
                  np.ascontiguousarray(max_unit, dtypes.AMOUNT),
                  np.ascontiguousarray(step_size, dtypes.UNIT)]
        for field in fields:
            if field.shape != (n,):
                raise InvalidRequest(f"inventory fields must have shape ({n},), got "
                                     f"{field.shape}")
        for i in range(n):
            if host_idx[i] < 0 or host_idx[i] >= self.n_hosts:
                raise UnknownHost(f"host {host_idx[i]} is not in this fleet of "
                                  f"{self.n_hosts} hosts")
        cdef const amount_t[::1] total_v = fields[0], reserved_v = fields[1], max_v = fields[4]
        cdef const ratio_t[::1] ratio_v = fields[2]
        cdef const unit_t[::1] min_v = fields[3], step_v = fields[5]
        for i in range(n):
            h = host_idx[i]
            self._total[h, resource] = total_v[i]
            self._reserved[h, resource] = reserved_v[i]
            self._allocation_ratio[h, resource] = ratio_v[i]
            self._min_unit[h, resource] = min_v[i]
            self._max_unit[h, resource] = max_v[i]
            self._step_size[h, resource] = step_v[i]
            self._recompute_free(h, h + 1)     # (NO_ROOM on a host that does not admit)
            self.note_change(<index_t>h)
        self._recompute_unit_bounds()
        self.inventory_version += 1

    # ---------------------------------------------------------------- views

    @property
    def total(self):
        """Physical amount per host and class (pCPUs, MiB, GiB), int64 [n_hosts, n_res]."""
        return _readonly(self._total)

    @property
    def reserved(self):
        """Amount kept back for the host itself, int64 [n_hosts, n_res]."""
        return _readonly(self._reserved)

    @property
    def allocation_ratio(self):
        """Overcommit factor per host and class, float64 [n_hosts, n_res]."""
        return _readonly(self._allocation_ratio)

    @property
    def min_unit(self):
        return _readonly(self._min_unit)

    @property
    def max_unit(self):
        return _readonly(self._max_unit)

    @property
    def step_size(self):
        return _readonly(self._step_size)

    @property
    def capacity(self):
        """int((total - reserved) * allocation_ratio), int64 [n_hosts, n_res] (a new array)."""
        cdef Py_ssize_t h, r
        out = np.empty((self.n_hosts, self.n_resources), dtypes.AMOUNT)
        cdef amount_t[:, ::1] capacity = out
        for h in range(self.n_hosts):
            for r in range(self.n_resources):
                capacity[h, r] = capacity_of(self._total[h, r], self._reserved[h, r],
                                             self._allocation_ratio[h, r])
        return out

    @property
    def free(self):
        """capacity - used, int64 [n_hosts, n_res] (a new array); negative while over
        capacity. (A host that does not admit still reports its real free capacity.)"""
        return _readonly(self.capacity - np.asarray(self._used))

    @property
    def admitting(self):
        """Whether each host admits VMs (False while draining or down), bool [n_hosts]."""
        return _readonly(self._admits).view(np.bool_)

    def set_admitting(self, hosts, bint admits):
        """Let hosts (int32 indices) admit VMs or not. A host that does not admit keeps its
        VMs and their accounting, but no fit check passes there (placement skips it, and
        allocate refuses it) until it admits again."""
        cdef const index_t[::1] host_idx = np.ascontiguousarray(hosts, dtypes.INDEX)
        cdef Py_ssize_t i, h
        for i in range(host_idx.shape[0]):
            h = host_idx[i]
            if h < 0 or h >= self.n_hosts:
                raise UnknownHost(f"host {h} is not in this fleet ({self.n_hosts} hosts)")
        for i in range(host_idx.shape[0]):
            h = host_idx[i]
            if self._admits[h] != admits:
                self._admits[h] = admits
                self._recompute_free(h, h + 1)
                self.note_change(<index_t>h)
        # Indexes keep per-node capacity ranges, which a host's NO_ROOM changes: rebuild them.
        self.inventory_version += 1

    @property
    def vm_group(self):
        """Server group code of each VM slot, -1 for none, int32 [slot_high_water]."""
        return _readonly(self._vm_group[:self.slot_high_water])

    def group_members(self, Py_ssize_t group):
        """{host: members} of server group code `group` (a copy; empty for an unknown code)."""
        return dict(self._group_hosts.get(group, {}))

    @property
    def used(self):
        """Sum of the allocations on each host, int64 [n_hosts, n_res]."""
        return _readonly(self._used)

    @property
    def host_vm_count(self):
        """Number of VMs on each host, int32 [n_hosts]."""
        return _readonly(self._host_vm_count)

    @property
    def vm_host(self):
        """Host of each VM slot, -1 for a free slot, int32 [slot_high_water]."""
        return _readonly(self._vm_host[:self.slot_high_water])

    @property
    def vm_request(self):
        """Allocation of each VM slot (zeros when free), int64 [slot_high_water, n_res]."""
        return _readonly(self._vm_request[:self.slot_high_water])

    @property
    def slot_capacity(self):
        """VM slots allocated so far (the table grows by doubling, or by reserve())."""
        return self._vm_host.shape[0]

    @property
    def vm_generation(self):
        """How many VMs each slot has held (mod 2**31), int32 [slot_high_water]: a VM is
        (slot, generation), so data keyed by slot can tell a reused slot's new VM apart."""
        return _readonly(self._vm_generation[:self.slot_high_water])

    @property
    def vm_tenant_code(self):
        """Dense tenant code of each VM slot, int32 [slot_high_water]."""
        return _readonly(self._vm_tenant[:self.slot_high_water])

    @property
    def tenant_ids(self):
        """Tenant ids in code order (a copy)."""
        return list(self._tenant_ids)

    @property
    def tenant_used(self):
        """Allocated totals per tenant code and class, int64 [n_tenants, n_res]."""
        return _readonly(self._tenant_used[:len(self._tenant_ids)])

    def live_vms(self):
        """Handles of the allocated VMs, ascending, int32."""
        return np.flatnonzero(np.asarray(self.vm_host) >= 0).astype(dtypes.INDEX)

    def free_slot_stack(self):
        """Released slots in reuse order (the last one is handed out next), int32 copy."""
        return np.array(self._free_slots[:self._n_free_slots], dtype=dtypes.INDEX)

    def nbytes(self):
        """Bytes of engine state: {'hosts', 'vm_slots', 'tenants', 'per_host',
        'per_host_per_resource', 'per_vm_slot', 'n_vm_slots'}."""
        host_arrays = [self._total, self._reserved, self._allocation_ratio, self._min_unit,
                       self._max_unit, self._step_size, self._free, self._used,
                       self._host_vm_count, self._admits, self._changed_hosts, self._min_unit_max,
                       self._max_unit_min, self._step_all_one]
        vm_arrays = [self._vm_host, self._vm_tenant, self._vm_request, self._free_slots,
                     self._vm_generation, self._vm_group]
        hosts = sum(np.asarray(a).nbytes for a in host_arrays)
        vm_slots = sum(np.asarray(a).nbytes for a in vm_arrays)
        n_slots = self._vm_host.shape[0]
        return {
            "hosts": hosts,
            "vm_slots": vm_slots,
            "tenants": np.asarray(self._tenant_used).nbytes,
            "per_host": hosts / self.n_hosts,
            "per_host_per_resource": hosts / (self.n_hosts * self.n_resources),
            "per_vm_slot": vm_slots / n_slots,
            "n_vm_slots": n_slots,
        }

    # ---------------------------------------------------------------- invariants

    def check_invariants(self):
        """Recompute every derived quantity from first principles; raise InvariantViolation."""
        total, reserved = np.asarray(self._total), np.asarray(self._reserved)
        ratio = np.asarray(self._allocation_ratio)
        expected_capacity = ((total - reserved).astype(np.float64) * ratio).astype(np.int64)
        problems = []
        admits = np.asarray(self._admits).astype(bool)
        expected_free = np.where(admits[:, None], expected_capacity, NO_ROOM) - np.asarray(self._used)
        if not np.array_equal(expected_free, np.asarray(self._free)):
            problems.append("free != int((total - reserved) * allocation_ratio) - used "
                            "(NO_ROOM - used where the host does not admit)")
        if not np.array_equal(expected_capacity, self.capacity):
            problems.append("capacity != int((total - reserved) * allocation_ratio)")
        if (not np.array_equal(np.asarray(self._min_unit).max(axis=0),
                               np.asarray(self._min_unit_max))
                or not np.array_equal(np.asarray(self._max_unit).min(axis=0),
                                      np.asarray(self._max_unit_min))
                or not np.array_equal((np.asarray(self._step_size) == 1).all(axis=0),
                                      np.asarray(self._step_all_one).astype(bool))):
            problems.append("per-class unit bounds are stale")
        if (total < 0).any() or (reserved < 0).any() or (reserved > total).any():
            problems.append("inventory outside 0 <= reserved <= total")
        high = self.slot_high_water
        vm_host = np.asarray(self._vm_host[:high])
        vm_request = np.asarray(self._vm_request[:high])
        vm_tenant = np.asarray(self._vm_tenant[:high])
        live = vm_host >= 0
        if (vm_request < 0).any() or (np.asarray(self._used) < 0).any():
            problems.append("negative allocation")
        if (vm_request[~live] != 0).any():
            problems.append("a free slot holds an allocation")
        used = np.zeros_like(np.asarray(self._used))
        np.add.at(used, vm_host[live], vm_request[live])
        if not np.array_equal(used, np.asarray(self._used)):
            problems.append("used != sum of the requests of the host's VMs")
        counts = np.bincount(vm_host[live], minlength=self.n_hosts)
        if not np.array_equal(counts, np.asarray(self._host_vm_count)):
            problems.append("host_vm_count != number of VMs on the host")
        n_tenants = len(self._tenant_ids)
        tenant_used = np.zeros((n_tenants, self.n_resources), np.int64)
        np.add.at(tenant_used, vm_tenant[live], vm_request[live])
        if not np.array_equal(tenant_used, np.asarray(self._tenant_used[:n_tenants])):
            problems.append("tenant_used != sum of the requests of the tenant's VMs")
        if (np.asarray(self._tenant_used[n_tenants:]) != 0).any():
            problems.append("an unassigned tenant code holds usage")
        free = np.asarray(self._free_slots[:self._n_free_slots])
        if (len(np.unique(free)) != len(free) or set(free.tolist())
                != set(np.flatnonzero(~live).tolist())):
            problems.append("free-slot stack != set of free slots")
        if self.n_vms != int(live.sum()):
            problems.append("n_vms != number of live slots")
        vm_group = np.asarray(self._vm_group[:high])
        if (vm_group[~live] != -1).any():
            problems.append("a free slot is in a server group")
        members = {}
        for vm in np.flatnonzero(live & (vm_group >= 0)).tolist():
            hosts = members.setdefault(int(vm_group[vm]), {})
            hosts[int(vm_host[vm])] = hosts.get(int(vm_host[vm]), 0) + 1
        if members != self._group_hosts:
            problems.append("group membership != the groups of the live VMs")
        if problems:
            raise InvariantViolation("; ".join(problems))

    # ---------------------------------------------------------------- pickling

    def __reduce__(self):
        state = {
            "resources": self.resources,
            "total": self.total.copy(), "reserved": self.reserved.copy(),
            "allocation_ratio": self.allocation_ratio.copy(),
            "min_unit": self.min_unit.copy(), "max_unit": self.max_unit.copy(),
            "step_size": self.step_size.copy(), "used": self.used.copy(),
            "host_vm_count": self.host_vm_count.copy(),
            "vm_host": np.array(self._vm_host[:self.slot_high_water]),
            "vm_tenant": np.array(self._vm_tenant[:self.slot_high_water]),
            "vm_request": np.array(self._vm_request[:self.slot_high_water]),
            "vm_generation": np.array(self._vm_generation[:self.slot_high_water]),
            "vm_group": np.array(self._vm_group[:self.slot_high_water]),
            "admits": np.array(self._admits),
            "free_slots": np.array(self._free_slots[:self._n_free_slots]),
            "tenant_ids": list(self._tenant_ids),
            "tenant_used": np.array(self._tenant_used[:len(self._tenant_ids)]),
        }
        return (_restore, (type(self), state), getattr(self, "__dict__", None))

    def _restore_state(self, dict state):
        FleetState.__init__(self, state["resources"], state["total"], state["reserved"],
                            state["allocation_ratio"], state["min_unit"], state["max_unit"],
                            state["step_size"])
        self._used = state["used"]
        self._admits = state["admits"].copy()
        self._recompute_free(0, self.n_hosts)
        self._host_vm_count = state["host_vm_count"]
        high = len(state["vm_host"])
        self._init_vm_table(max(high, INITIAL_VM_SLOTS))
        np.asarray(self._vm_host)[:high] = state["vm_host"]
        np.asarray(self._vm_tenant)[:high] = state["vm_tenant"]
        np.asarray(self._vm_request)[:high] = state["vm_request"]
        np.asarray(self._vm_generation)[:high] = state["vm_generation"]
        np.asarray(self._vm_group)[:high] = state["vm_group"]
        self._group_hosts = {}
        for vm in np.flatnonzero((state["vm_host"] >= 0) & (state["vm_group"] >= 0)).tolist():
            hosts = self._group_hosts.setdefault(int(state["vm_group"][vm]), {})
            host = int(state["vm_host"][vm])
            hosts[host] = hosts.get(host, 0) + 1
        self._n_free_slots = len(state["free_slots"])
        np.asarray(self._free_slots)[:self._n_free_slots] = state["free_slots"]
        self.slot_high_water = high
        self.n_vms = int((state["vm_host"] >= 0).sum())
        self._tenant_ids = list(state["tenant_ids"])
        self._tenant_codes = {tenant: code for code, tenant in enumerate(self._tenant_ids)}
        self._tenant_used = np.zeros((max(4, len(self._tenant_ids)), self.n_resources),
                                     dtypes.AMOUNT)
        np.asarray(self._tenant_used)[:len(self._tenant_ids)] = state["tenant_used"]


def _restore(cls, state):
    """Rebuild a pickled FleetState (or subclass) exactly."""
    fleet = cls.__new__(cls)
    FleetState._restore_state(fleet, state)
    return fleet
