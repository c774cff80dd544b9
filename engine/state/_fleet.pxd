# See _fleet.pyx for details.
"""Fleet state: Placement inventories per host and resource class, the VM table, tenants."""

from vmsched.engine._types cimport amount_t, index_t, ratio_t, unit_t


# Why a request does not fit on a host, in the order the rules are checked per class.
cdef enum FitFailure:
    FITS = 0
    OVER_CAPACITY = 1    # used + amount > capacity
    BELOW_MIN_UNIT = 2   # amount < min_unit
    ABOVE_MAX_UNIT = 3   # amount > max_unit
    OFF_STEP = 4         # amount % step_size != 0


cdef inline bint row_fits(
    const amount_t* request, const amount_t* free, const unit_t* min_unit,
    const amount_t* max_unit, const unit_t* step_size, Py_ssize_t n_resources,
) noexcept nogil:
    """Placement's fit rule for one host row: every class with amount > 0 must pass
    amount <= free (= capacity - used), min_unit <= amount <= max_unit and
    amount % step_size == 0."""
    cdef Py_ssize_t r
    cdef amount_t amount
    for r in range(n_resources):
        amount = request[r]
        if amount == 0:
            continue
        if amount > free[r] or amount < min_unit[r] or amount > max_unit[r]:
            return False
        if step_size[r] != 1 and amount % step_size[r] != 0:
            return False
    return True


cdef class FleetState:
    cdef readonly Py_ssize_t n_hosts
    cdef readonly Py_ssize_t n_resources
    cdef readonly tuple resources            # resource class names, one per column

    # Inventory, [n_hosts, n_resources] each, Placement semantics.
    cdef amount_t[:, ::1] _total             # >= 0
    cdef amount_t[:, ::1] _reserved          # 0 <= reserved <= total
    cdef ratio_t[:, ::1] _allocation_ratio   # finite, > 0
    cdef unit_t[:, ::1] _min_unit            # >= 1
    cdef amount_t[:, ::1] _max_unit          # >= 0
    cdef unit_t[:, ::1] _step_size           # >= 1
    cdef amount_t[:, ::1] _used              # == sum of the requests of the host's VMs
    cdef amount_t[:, ::1] _free              # == int((total - reserved) * allocation_ratio)
                                             #    - used on a host that admits (< 0 only after
                                             #    an inventory change); == NO_ROOM - used on
                                             #    one that does not, so that nothing fits there
    cdef unsigned char[::1] _admits          # 1: the host admits VMs; 0: draining or down
    # Per class, over all hosts (recomputed on inventory changes): a request amount a with
    # _min_unit_max[r] <= a <= _max_unit_min[r] and (_step_all_one[r] or a == 0) passes the
    # unit rules on every host, so the fit mask need only compare it with free.
    cdef amount_t[::1] _min_unit_max
    cdef amount_t[::1] _max_unit_min
    cdef unsigned char[::1] _step_all_one
    cdef index_t[::1] _host_vm_count         # == number of VMs on the host

    # VM table: one slot per VM handle; slots [0, slot_high_water) have been handed out.
    cdef index_t[::1] _vm_host               # host of the VM in the slot; -1: slot is free
    cdef index_t[::1] _vm_tenant             # dense tenant code of the VM
    cdef amount_t[:, ::1] _vm_request        # the VM's allocation per resource class
    cdef index_t[::1] _vm_generation         # bumped each time the slot gets a new VM, so
                                             # per-VM data kept elsewhere can tell VMs apart
    cdef index_t[::1] _vm_group              # server group code of the VM, -1 for none
    cdef index_t[::1] _free_slots            # stack of free slots below slot_high_water (LIFO)
    cdef Py_ssize_t _n_free_slots
    cdef readonly Py_ssize_t slot_high_water
    cdef readonly Py_ssize_t n_vms           # == number of slots with vm_host >= 0

    # Tenants: any hashable id outside, a dense code inside.
    cdef dict _tenant_codes                  # id -> code
    cdef list _tenant_ids                    # code -> id
    cdef amount_t[:, ::1] _tenant_used       # == sum of the requests of the tenant's VMs

    # Server groups: code -> {host: members} over the live VMs with that _vm_group code.
    cdef dict _group_hosts

    cdef amount_t[::1] _request              # scratch: the request being read

    # Change log for derived indexes (placement): every change of a host's free or capacity
    # appends an entry to a ring of _change_mask + 1 slots (a power of two >= n_hosts): the
    # host after an allocation (its free capacity only went down), -1 - host after any other
    # change. An index that has read up to position p re-reads hosts from p to n_changes, or
    # rebuilds itself when more than the ring holds have gone by. Not part of the fleet's
    # meaning.
    cdef index_t[::1] _changed_hosts
    cdef Py_ssize_t _change_mask
    cdef readonly long long n_changes
    cdef readonly long long inventory_version  # bumped by every inventory change

    cdef int read_request(self, object request, str name) except -1
    cdef index_t read_host(self, object host) except -1
    cdef index_t read_vm(self, object vm) except -1
    cdef index_t tenant_code(self, object tenant) except -1
    cdef FitFailure fit_failure(self, index_t host, const amount_t* request,
                                Py_ssize_t* resource) noexcept nogil
    cdef bint host_fits(self, index_t host, const amount_t* request) noexcept nogil
    cdef index_t commit(self, index_t host, const amount_t* request, index_t tenant) except -1
    cdef int set_group(self, index_t vm, index_t group) except -1
    cdef int release_vm(self, index_t vm) except -1
    cdef void uncommit(self, index_t vm) noexcept nogil
    cdef void _give_back(self, index_t vm) noexcept nogil
    cdef void note_change(self, index_t host) noexcept nogil
    cdef void note_allocation(self, index_t host) noexcept nogil
    cdef void _recompute_free(self, Py_ssize_t first, Py_ssize_t stop) noexcept nogil
    cdef void _recompute_unit_bounds(self) noexcept nogil
    cdef void _fit_mask(self, const amount_t* request, unsigned char* mask) noexcept nogil


cdef inline bint asked_fits(FleetState fleet, Py_ssize_t host, const amount_t* request,
                            const Py_ssize_t* asked, Py_ssize_t n_asked,
                            bint units_everywhere) noexcept nogil:
    """Placement's fit rule for `host`, for a request whose classes with amount > 0 are the
    n_asked in `asked`. When the request passes the unit rules on every host (the usual case,
    see _min_unit_max), only free capacity needs checking."""
    cdef Py_ssize_t i, r
    cdef const amount_t* free = &fleet._free[host, 0]
    if units_everywhere:
        for i in range(n_asked):
            r = asked[i]
            if request[r] > free[r]:
                return False
        return True
    return row_fits(request, free, &fleet._min_unit[host, 0], &fleet._max_unit[host, 0],
                    &fleet._step_size[host, 0], fleet.n_resources)
