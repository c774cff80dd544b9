"""The VM table: one row per workload row, owned by the engine; the only copy of each fact.

| fact | where |
|---|---|
| status, host, fleet slot, migration target and its slot, rejection reason | per row |
| tenant, server group code, request, vCPUs, MiB, scheduling settings | per row |
| totals of VMs not measured now, ticks measured, migrations, restarts, downtime | per row |
| touched memory, totals since the VM entered the layout, settings in force | per position |

The layout holds the VMs being measured, in per-host segments (engine/simulation/kernels_sim.py):
`position[row]` is a row's position, -1 when it is not measured. The layout also keeps a copy
of each measured VM's utilisation level (the workload's source owns it), so that the tick
reads every per-VM input in position order rather than at random rows. A VM's totals are the sum of
its row totals and, while measured, its position totals (moved to the row when it leaves).
Allocations themselves (what each host holds) are the fleet's.
"""

import numpy as np

from vmsched.engine.jit import frozen
from vmsched.engine.simulation import kernels_sim
from vmsched.engine.simulation._lifecycle import Status

_NO_VALUES = frozen(np.zeros(0))
_NO_SETTINGS = np.zeros((0, 0))

STATUS_NAMES = ("pending", "running", "done", "rejected", "migrating", "lost")
assert [int(s) for s in (Status.PENDING, Status.RUNNING, Status.DONE, Status.REJECTED,
                         Status.MIGRATING, Status.LOST)] == list(range(6))
assert (kernels_sim.RUNNING, kernels_sim.MIGRATING) == (Status.RUNNING, Status.MIGRATING)
LIVE = (int(Status.RUNNING), int(Status.MIGRATING))


class VMTable:
    """Rows of a workload: requests int64 [n, n_res]; vcpus, memory_mib float64 [n];
    tenant_index int32 [n]; groups int32 [n] (fleet group codes, -1: none); settings float64
    [n, 6] (NaN: default) or None; n_hosts: hosts of the fleet; levels: the CPU and memory
    sources' per-row level (a constant source's values, a synthetic one's levels; float64
    [n], or empty when the source has none), copied into the layout so that the tick reads
    them in position order."""

    def __init__(self, requests, vcpus, memory_mib, tenant_index, groups, settings, n_hosts,
                 levels=(_NO_VALUES, _NO_VALUES), cap=16):
        n = len(requests)
        self.n_rows, self.n_hosts = n, n_hosts
        self.requests = requests
        self.vcpus = np.ascontiguousarray(vcpus, np.float64)
        self.memory = np.ascontiguousarray(memory_mib, np.float64)
        self.tenant_index = tenant_index
        self.group = groups
        self.settings = settings
        self.levels = tuple(frozen(level) for level in levels)
        self.status = np.zeros(n, np.int8)
        self.host = np.full(n, -1, np.int32)
        self.slot = np.full(n, -1, np.int32)
        self.target = np.full(n, -1, np.int32)
        self.target_slot = np.full(n, -1, np.int32)
        self.migration_id = np.zeros(n, np.int64)
        self.reason = np.full(n, -1, np.int16)
        self.totals = np.zeros((n, kernels_sim.N_VM_TOTALS))
        self.ticks = np.zeros(n, np.int32)
        self.migrations = np.zeros(n, np.int32)
        self.restarts = np.zeros(n, np.int32)
        self.downtime_s = np.zeros(n)
        self.lost_at = np.full(n, np.nan)
        self.position = np.full(n, -1, np.int64)
        # The layout (per host: count; per position: the rest).
        self.count = np.zeros(n_hosts, np.int64)
        self.layout_version = 0   # bumped when the layout's arrays are replaced
        self._allocate_layout(cap)

    # ------------------------------------------------------------ layout

    def _allocate_layout(self, cap, old=None):
        size = self.n_hosts * cap
        n_settings = kernels_sim.N_SETTINGS if self.settings is not None else 0
        arrays = {"pos_row": np.full(size, -1, np.int64), "pos_vcpus": np.zeros(size),
                  "pos_memory": np.zeros(size), "pos_touched": np.zeros(size),
                  "pos_ticks": np.zeros(size, np.int32),
                  "pos_levels": np.zeros((2, size)),
                  "pos_totals": np.zeros((kernels_sim.N_VM_TOTALS, size))}
        settings = np.zeros((n_settings, size if n_settings else 0))
        if old is not None:  # repack every segment at the new stride
            old_cap = self.cap
            for h in np.flatnonzero(self.count):
                n = self.count[h]
                new, was = slice(h * cap, h * cap + n), slice(h * old_cap, h * old_cap + n)
                for name in arrays:
                    arrays[name][..., new] = old[name][..., was]
                if n_settings:
                    settings[:, new] = old["pos_settings"][:, was]
            live = arrays["pos_row"] >= 0
            self.position[arrays["pos_row"][live]] = np.flatnonzero(live)
        self.cap = cap
        for name, array in arrays.items():
            setattr(self, name, array)
        self.pos_settings = settings

    def __setstate__(self, state):
        """Unpickled arrays come back writable: the levels, which kernels only read, are
        frozen again (jit.frozen)."""
        self.__dict__.update(state)
        self.levels = tuple(frozen(level) for level in self.levels)

    def _grow(self):
        """Double the segments' room (every host's VMs are repacked)."""
        old = {name: getattr(self, name) for name in
               ("pos_row", "pos_vcpus", "pos_memory", "pos_touched", "pos_ticks",
                "pos_levels", "pos_totals", "pos_settings")}
        self._allocate_layout(2 * self.cap, old)
        self.layout_version += 1

    def layout_arrays(self):
        """The layout as the tick kernel takes it."""
        return (self.cap, self.count, self.pos_row, self.pos_vcpus, self.pos_memory,
                self.pos_touched, self.pos_levels, self.pos_settings, self.pos_totals,
                self.pos_ticks)

    def remove_from_layout(self, rows):
        """Stop measuring rows (those not measured are skipped)."""
        rows = np.ascontiguousarray(rows, np.int64)
        kernels_sim.remove_rows(rows, self.cap, self.count, self.pos_row, self.pos_vcpus,
                                self.pos_memory, self.pos_touched, self.pos_levels,
                                self.pos_settings,
                                self.pos_totals, self.pos_ticks, self.position, self.totals,
                                self.ticks)

    def add_to_layout(self, rows, touched=None):
        """Start measuring rows on their current hosts, those live and not measured yet
        (touched memory 0 unless given, one per row)."""
        rows = np.ascontiguousarray(rows, np.int64)
        carried = _NO_VALUES if touched is None else frozen(touched)
        settings = self.settings if self.settings is not None else _NO_SETTINGS
        done = 0
        while True:
            done = kernels_sim.add_rows(
                rows, done, self.status, self.host, carried, self.cap, self.count,
                self.pos_row, self.pos_vcpus, self.pos_memory, self.pos_touched,
                self.pos_levels, self.pos_settings, self.pos_totals, self.pos_ticks,
                self.position, self.vcpus, self.memory, *self.levels, settings)
            if done == len(rows):
                return
            self._grow()

    def move_in_layout(self, row, host):
        """A measured VM now runs on `host`: it keeps its touched memory (and its totals, which
        go to its row); an unmeasured one only changes host."""
        p = self.position[row]
        self.host[row] = host
        if p < 0:
            return
        touched = self.pos_touched[p]
        rows = np.array([row], np.int64)
        self.remove_from_layout(rows)
        # The VM was measured in this tick already: keep that count once.
        self.add_to_layout(rows, np.array([touched]))

    def rows_on_host(self, host):
        """Rows whose VM is on `host` (running or migrating away), ascending."""
        return np.flatnonzero((self.host == host)
                              & np.isin(self.status, LIVE)).astype(np.int64)

    # ------------------------------------------------------------ totals

    def vm_totals(self, open_tick_uncounted=False):
        """(totals [n, 8], ticks [n]) of every row so far, measured ones included;
        open_tick_uncounted: a tick is open and its first piece, which counts the measured
        VMs' ticks, is not measured yet (count it for them here)."""
        totals, ticks = self.totals.copy(), self.ticks.copy()
        live = self.pos_row >= 0
        rows = self.pos_row[live]
        totals[rows] += self.pos_totals[:, live].T
        ticks[rows] += self.pos_ticks[live] + (1 if open_tick_uncounted else 0)
        return totals, ticks

    def nbytes_per_row(self):
        """Bytes per workload row of the per-row arrays (the layout is per measured VM)."""
        per_row = [self.status, self.host, self.slot, self.target, self.target_slot,
                   self.migration_id, self.reason, self.totals, self.ticks, self.migrations,
                   self.restarts, self.downtime_s, self.lost_at, self.position, self.vcpus,
                   self.memory, self.requests, self.tenant_index, self.group]
        total = sum(a.nbytes for a in per_row)
        if self.settings is not None:
            total += self.settings.nbytes
        return total / max(self.n_rows, 1)

    def check_invariants(self, fleet):
        """Layout and table agree with each other and with the fleet; raise AssertionError."""
        live = np.isin(self.status, LIVE)
        assert (self.slot[live] >= 0).all() and (self.host[live] >= 0).all()
        vm_host = np.asarray(fleet.vm_host)
        assert (vm_host[self.slot[live]] == self.host[live]).all(), "slot on another host"
        migrating = self.status == int(Status.MIGRATING)
        assert (vm_host[self.target_slot[migrating]] == self.target[migrating]).all()
        assert fleet.n_vms == int(live.sum() + migrating.sum()), "fleet holds other VMs"
        measured = self.position >= 0
        assert (self.pos_row[self.position[measured]] == np.flatnonzero(measured)).all()
        counts = np.bincount(self.position[measured] // self.cap, minlength=self.n_hosts)
        assert (counts == self.count).all(), "segment counts"
        assert (self.totals >= 0).all() and (self.pos_totals >= -1e-9).all()
