"""vmsched.Simulation: a workload arriving on a fleet, tick by tick (DESIGN sections 6 and 7).

Time runs in ticks of tick_s seconds from 0. Before tick k (time t = k * tick_s) every event
with time <= t happens, in (time, departures before arrivals, workload row) order: an arrival
is placed (or rejected, with the hosts each filter eliminated), a departure frees its VM. Then
the host models run tick k on the VMs present: a VM is measured in the ticks with
start <= t < end. Accounting is exact sums over VMs and ticks; memory is bounded by the number
of hosts, VMs and days (a fleet-level series per tick, a snapshot per day), not by hosts x
ticks. Same inputs and seed, same results, bit for bit.
"""

import time as _time

import numpy as np
import pandas as pd

from vmsched.engine.simulation import kernels_sim
from vmsched.errors import InvalidRequest
from vmsched.models.host_models import HostModels
from vmsched.placement.placer import Placer
from vmsched.simulation.results import Results
from vmsched.workload.utilization import ConstantUtilization, SyntheticUtilization, TraceUtilization

PENDING, RUNNING, DONE, REJECTED = 0, 1, 2, 3
STATUS_NAMES = ("pending", "running", "done", "rejected")
SNAPSHOT_EVERY_S = 86400.0


class Simulation:
    """fleet, placer (a Placer on that fleet, or a policy for one), host_models (HostModels,
    or None for placement only), workload; tick_s: seconds per tick; duration_s: how long to
    run, ticks at 0 <= t < duration_s (default: the workload's horizon if it has one, e.g.
    a synthetic workload's days, else through the tick that follows the last event); seed:
    seeds the placer's generator when a policy is given."""

    def __init__(self, fleet, placer, host_models, workload, tick_s=300.0, seed=0,
                 duration_s=None, progress=None):
        self.fleet = fleet
        self.placer = placer if isinstance(placer, Placer) else Placer(fleet, placer, seed=seed)
        if self.placer.fleet is not fleet:
            raise InvalidRequest("the placer places on another fleet")
        self.host_models = host_models
        if host_models is not None and not isinstance(host_models, HostModels):
            raise InvalidRequest("host_models must be a HostModels or None")
        self.workload = workload
        self.tick_s = float(tick_s)
        if not np.isfinite(self.tick_s) or self.tick_s <= 0:
            raise InvalidRequest(f"tick_s = {tick_s} must be > 0")
        if duration_s is None:  # the workload's horizon, or one tick past its last event
            duration_s = workload.horizon_s or workload.duration_s + self.tick_s
        self.duration_s = float(duration_s)
        if not np.isfinite(self.duration_s) or self.duration_s <= 0:
            raise InvalidRequest(f"duration_s = {duration_s} must be > 0")
        self.n_ticks = int(np.ceil(self.duration_s / self.tick_s))
        self.progress = progress
        self._prepare()

    # ------------------------------------------------------------ set-up

    def _prepare(self):
        fleet, workload = self.fleet, self.workload
        table = workload.table
        n = len(table)
        self.requests = workload.requests(fleet.resources)
        self.tenants = table["tenant"].tolist()
        self.groups = table["group"].tolist() if "group" in table else None
        self.labels = table["labels"].tolist() if "labels" in table else None
        for group, spec in workload.groups.items():
            spec = (spec,) if isinstance(spec, str) else tuple(spec)
            self.placer.create_group(group, spec[0], **dict(zip(("max_per_host", "max_skew"),
                                                               spec[1:])))
        self.settings = {name: table[name].to_numpy(np.float64) for name in
                         ("cpu_shares", "cpu_reservation", "cpu_limit", "memory_shares",
                          "memory_reservation", "memory_limit") if name in table}
        # Events: (time, kind: 0 departure / 1 arrival, row), sorted.
        start = table["start_s"].to_numpy()
        end = table["end_s"].to_numpy()
        leaves = np.flatnonzero(np.isfinite(end))
        times = np.concatenate([end[leaves], start])
        kinds = np.concatenate([np.zeros(len(leaves), np.int8), np.ones(n, np.int8)])
        rows = np.concatenate([leaves, np.arange(n)]).astype(np.int64)
        order = np.lexsort((rows, kinds, times))
        self.event_time, self.event_kind, self.event_row = times[order], kinds[order], rows[order]
        self.next_event = 0
        self.tick = 0
        # Per VM (workload row).
        self.status = np.zeros(n, np.int8)
        self.slot = np.full(n, -1, np.int64)
        self.host = np.full(n, -1, np.int32)
        self.reason = np.full(n, -1, np.int16)
        self.row_of_slot = np.full(max(fleet.slot_high_water, 1024), -1, np.int64)
        # Totals of finished VMs by row; running VMs accumulate by VM slot (dense: a small,
        # cache-friendly table) and move to their row when they leave.
        self.totals = np.zeros((n, kernels_sim.N_VM_TOTALS))
        self.ticks_present = np.zeros(n, np.int32)
        self.slot_totals = np.zeros((len(self.row_of_slot), kernels_sim.N_VM_TOTALS))
        self.slot_ticks = np.zeros(len(self.row_of_slot), np.int32)
        # Per host.
        self.host_totals = np.zeros((kernels_sim.N_HOST_TOTALS, fleet.n_hosts))
        self.host_state_ticks = np.zeros((fleet.n_hosts, 5), np.int32)
        # Fleet-level series (one row per tick) and daily snapshots.
        self.series = np.zeros((self.n_ticks, kernels_sim.N_SERIES))
        self.snapshots = []
        self.rejection_counts = {}
        self.wall_s = 0.0
        # The native event loop serves policies of built-in plugins without groups or labels.
        policy = self.placer.policy
        self.native_events = (self.groups is None and self.labels is None
                              and not policy.uses_python and policy.host_subset_size == 1)
        codes = {}
        self.tenant_index = np.empty(n, np.int32)
        for i, tenant in enumerate(self.tenants):
            self.tenant_index[i] = codes.setdefault(tenant, len(codes))
        self.tenant_ids = list(codes)
        self.tenant_codes = [-1] * len(self.tenant_ids)
        self.rejected_by_filter = np.zeros(max(len(self.placer._filter_names), 1), np.int64)
        # The fused tick (host segments updated in place) serves the default settings and the
        # built-in utilisation sources; anything else goes through HostModels.step.
        self.segments = None
        models = self.host_models
        if (models is not None and not self.settings and not fleet._vm_settings.has_custom(
                fleet, fleet.live_vms()) and _source_arrays(workload.cpu) is not None
                and _source_arrays(workload.memory) is not None
                and "VCPU" in fleet.resources and "MEMORY_MB" in fleet.resources):
            self.segments = _Segments(fleet)
            for row in np.flatnonzero(self.status == RUNNING):
                self.segments.add(self.slot[row], self.host[row], row, self.requests[row])
        # Segment changes since the last tick: removed slots, added rows (native path: arrays
        # per batch; Python path: a dict, so that a VM placed and freed in one tick cancels).
        self._removed_batches, self._added_batches = [], []
        self._pending_added = {}
        self._pending_removed = []
        self._sources = None

    # ------------------------------------------------------------ running

    def run(self, until_s=None):
        """Run to `until_s` seconds (default: the end); can be called again to go on.
        Returns the Results so far."""
        last_tick = self.n_ticks if until_s is None else min(
            self.n_ticks, int(np.ceil(float(until_s) / self.tick_s)))
        started = _time.perf_counter()
        bar = self.progress(total=last_tick - self.tick) if self.progress else None
        while self.tick < last_tick:
            t = self.tick * self.tick_s
            arrivals, departures = self._events_until(t)
            if self.host_models is not None:
                self._measure(t)
            self._record_fleet(t, arrivals, departures)
            if (self.tick + 1) % max(1, int(SNAPSHOT_EVERY_S // self.tick_s)) == 0:
                self._snapshot(t)
            self.tick += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        last = (self.tick - 1) * self.tick_s
        if self.tick == self.n_ticks and self.tick > 0 and (
                not self.snapshots or self.snapshots[-1]["time_s"] < last):
            self._snapshot(last)
        self.wall_s += _time.perf_counter() - started
        return self.results()

    def __getstate__(self):
        """A simulation pickles whole (fleet, placer, models, workload, every total) and
        resumes exactly where it stopped: checkpoints and shipping runs to workers."""
        state = dict(self.__dict__)
        state["progress"] = None
        return state

    def _events_until(self, t):
        """Every event with time <= t, in order; returns (arrivals, departures) handled."""
        stop = int(np.searchsorted(self.event_time, t, side="right"))
        first = self.next_event
        self.next_event = stop
        if stop > first and self.native_events:
            return self._events_native(first, stop)
        arrivals = departures = 0
        i = first
        while i < stop:
            kind = self.event_kind[i]
            j = i + 1
            while j < stop and self.event_kind[j] == kind:
                j += 1
            rows = self.event_row[i:j]
            if kind == 1:
                self._arrive(rows)
                arrivals += len(rows)
            else:
                departures += self._depart(rows)
            i = j
        return arrivals, departures

    def _events_native(self, first, stop):
        fleet = self.fleet
        fleet.reserve(stop - first)
        if len(self.row_of_slot) < fleet.slot_capacity:
            grown = np.full(fleet.slot_capacity, -1, np.int64)
            grown[:len(self.row_of_slot)] = self.row_of_slot
            self.row_of_slot = grown
        kinds, rows = self.event_kind[first:stop], self.event_row[first:stop]
        before = self.status[rows]
        arrivals, departures = self.placer._core.run_events(
            kinds, rows, self.requests, self.tenant_index, self.tenant_ids, self.tenant_codes,
            self.slot, self.host, self.status, self.reason, self.row_of_slot,
            self.rejected_by_filter)
        if departures:
            left = rows[(kinds == 0) & (before == RUNNING)]
            self._collect(left, self.slot[left])
            if self.segments is not None:
                self._removed_batches.append(self.slot[left])
        if self.segments is not None and arrivals:
            self._added_batches.append(
                rows[(kinds == 1) & (before == PENDING) & (self.status[rows] == RUNNING)])
        if self.settings:
            for row in rows[(kinds == 1) & (before == PENDING) & (self.status[rows] == RUNNING)]:
                self._apply_settings(row)
        return arrivals, departures

    def _collect(self, rows, slots):
        """Move the totals of VMs that left from their slots to their rows."""
        kernels_sim.collect(rows, slots, self.totals, self.ticks_present, self.slot_totals,
                            self.slot_ticks)

    def _arrive(self, rows):
        labels = [self.labels[r] for r in rows] if self.labels else None
        groups = [self.groups[r] for r in rows] if self.groups else None
        if labels is not None:
            labels = [tuple(x.split(",")) if isinstance(x, str) and x else
                      (tuple(x) if isinstance(x, (list, tuple)) else None) for x in labels]
        if groups is not None:
            groups = [None if (g is None or (isinstance(g, float) and np.isnan(g))) else g
                      for g in groups]
        batch = self.placer.place_many(self.requests[rows],
                                       tenants=[self.tenants[r] for r in rows],
                                       labels=labels, groups=groups)
        placed = batch.hosts >= 0
        self.status[rows] = np.where(placed, RUNNING, REJECTED)
        self.host[rows] = batch.hosts
        self.slot[rows[placed]] = batch.vms[placed]
        slots = batch.vms[placed]
        if len(slots) and slots.max() >= len(self.row_of_slot):
            grown = np.full(max(2 * len(self.row_of_slot), slots.max() + 1), -1, np.int64)
            grown[:len(self.row_of_slot)] = self.row_of_slot
            self.row_of_slot = grown
        self.row_of_slot[slots] = rows[placed]
        for r in rows[placed]:
            self._apply_settings(r)
            if self.segments is not None:
                self._pending_added[int(r)] = True
        rejected = np.flatnonzero(~placed)
        for i in rejected:
            counts = batch.eliminated[i]
            reason = int(np.argmax(counts))
            self.reason[rows[i]] = reason
            name = batch.filter_names[reason]
            self.rejection_counts[name] = self.rejection_counts.get(name, 0) + 1

    def _apply_settings(self, row):
        if not self.settings:
            return
        values = {name: float(column[row]) for name, column in self.settings.items()
                  if np.isfinite(column[row])}
        if values:
            self.fleet.set_vm_scheduling(int(self.slot[row]), **values)

    def _depart(self, rows):
        rows = rows[self.status[rows] == RUNNING]
        if len(rows) == 0:
            return 0
        slots = self.slot[rows]
        self.placer.release_many(slots)
        self.row_of_slot[slots] = -1
        self.status[rows] = DONE
        self._collect(rows, slots)
        if self.segments is not None:
            for row, slot in zip(rows.tolist(), slots.tolist()):
                if self._pending_added.pop(row, None) is None:  # placed in an earlier tick
                    self._pending_removed.append(slot)
        return len(rows)

    def _update_segments(self):
        removed = self._removed_batches + [np.array(self._pending_removed, np.int64)]
        added = self._added_batches + [np.fromiter(self._pending_added, dtype=np.int64,
                                                   count=len(self._pending_added))]
        removed = np.concatenate(removed) if len(removed) > 1 else removed[0]
        added = np.concatenate(added) if len(added) > 1 else added[0]
        if len(removed) or len(added):
            self.segments.update(removed, added, self.slot[added], self.host[added],
                                 self.requests[added])
        self._removed_batches.clear()
        self._added_batches.clear()
        self._pending_added.clear()
        self._pending_removed.clear()

    def _measure(self, t):
        if self.segments is not None:
            self._update_segments()
            self._measure_fused(t)
            return
        models, fleet = self.host_models, self.fleet
        layout = models.layout(fleet)
        rows = self.row_of_slot[layout.vms]
        self._grow_slot_tables()
        demand = self.workload.cpu.sample(rows, t) * layout.vcpus
        active = self.workload.memory.sample(rows, t) * layout.memory
        result = models.step(fleet, demand, active, self.tick_s, order="layout",
                             validate=False, reuse=True)
        params = models._vector
        if models.memory.name == "none":
            params = params.copy()
            params[0] = 0.0
        kernels_sim.accumulate(
            layout.vms, layout.host_start, self.tick_s, result.demand, result.cpu_limit,
            result.granted, layout.memory, active, result.touched, result.resident, params,
            result.host_granted, result.host_demand, layout.cpu_capacity, result.host_state,
            result.host_blocked, self.slot_totals, self.slot_ticks, self.host_totals,
            self.host_state_ticks, self.series[self.tick])

    def _measure_fused(self, t):
        models, fleet, seg = self.host_models, self.fleet, self.segments
        self._grow_slot_tables()
        hosts = seg.host_arrays(fleet)
        kernels_sim.simulation_tick(
            t, self.tick_s, models.cpu.code, models.memory.code, seg.params(models),
            seg.cap, seg.count, seg.pos_slot, seg.pos_row, seg.vcpus, seg.memory, seg.touched,
            seg.cpu_level, seg.memory_level, hosts[0], hosts[1], hosts[2],
            *self._source_views(),
            self.slot_totals, self.slot_ticks, self.host_totals, self.host_state_ticks,
            self.series[self.tick])

    def _source_views(self):
        if self._sources is None:
            self._sources = (_source_arrays(self.workload.cpu)
                             + _source_arrays(self.workload.memory))
        return self._sources

    def _grow_slot_tables(self):
        size = self.fleet.slot_capacity
        if len(self.slot_ticks) < size:
            grow = size - len(self.slot_ticks)
            self.slot_totals = np.concatenate(
                [self.slot_totals, np.zeros((grow, kernels_sim.N_VM_TOTALS))])
            self.slot_ticks = np.concatenate([self.slot_ticks, np.zeros(grow, np.int32)])

    def _record_fleet(self, t, arrivals, departures):
        row = self.series[self.tick]
        row[kernels_sim.S_TIME] = t
        row[kernels_sim.S_VMS] = self.fleet.n_vms
        if self.host_models is None:  # else accumulate counted the hosts with VMs
            row[kernels_sim.S_HOSTS_IN_USE] = int((self.fleet.host_vm_count > 0).sum())
        row[kernels_sim.S_ARRIVALS] = arrivals
        row[kernels_sim.S_DEPARTURES] = departures
        row[kernels_sim.S_REJECTED] = (sum(self.rejection_counts.values())
                                       + int(self.rejected_by_filter.sum()))

    def _snapshot(self, t):
        fleet = self.fleet
        snapshot = {"time_s": t, "vms": fleet.n_vms}
        if fleet.n_vms:
            overcommit = fleet.realised_overcommit()
            for name, value in overcommit.items():
                snapshot[f"overcommit_{name}"] = value
            stranded = fleet.stranded_capacity(self.reference_shape())
            for name in fleet.resources:
                snapshot[f"stranded_{name}"] = stranded.loc[name, "stranded"]
                snapshot[f"stranded_fraction_{name}"] = stranded.loc[name, "stranded_fraction"]
        self.snapshots.append(snapshot)

    def reference_shape(self):
        """The most common request in the workload (ties: the smallest)."""
        if not hasattr(self, "_shape"):
            counts = pd.DataFrame(self.requests).value_counts()
            best = counts[counts == counts.max()].index
            self._shape = np.array(min(best), dtype=np.int64)
        return self._shape

    def vm_totals(self):
        """(totals [n, N_VM_TOTALS], ticks [n]) of every VM so far, running ones included."""
        totals, ticks = self.totals.copy(), self.ticks_present.copy()
        running = np.flatnonzero(self.status == RUNNING)
        slots = self.slot[running]
        inside = slots < len(self.slot_ticks)
        totals[running[inside]] += self.slot_totals[slots[inside]]
        ticks[running[inside]] += self.slot_ticks[slots[inside]]
        return totals, ticks

    def rejections(self):
        """{filter name: VMs it rejected} (the filter that eliminated the most hosts)."""
        counts = dict(self.rejection_counts)
        for name, count in zip(self.placer._filter_names, self.rejected_by_filter.tolist()):
            if count:
                counts[name] = counts.get(name, 0) + count
        return counts

    def results(self):
        return Results(self)


def run_placement_only(fleet, placer, workload):
    """Replay a workload's arrivals and departures through the placer, no host models; returns
    the number of rejections (fleet sizing)."""
    sim = Simulation(fleet, placer, None, workload, tick_s=max(workload.duration_s, 1.0) + 1)
    sim._events_until(np.inf)
    return int((sim.status == REJECTED).sum())


def _source_arrays(source):
    """The fused tick's view of a utilisation source: (kind, values, offsets, start_s, step_s,
    levels, daily_profile, noise_cv, seed), or None for a source it does not know."""
    empty_f, empty_i = np.zeros(1), np.zeros(2, np.int64)
    if isinstance(source, ConstantUtilization):
        return (kernels_sim.CONSTANT, source.values, empty_i, empty_f, 1.0, empty_f,
                np.zeros(288), 0.0, np.uint64(0))
    if isinstance(source, TraceUtilization):
        return (kernels_sim.TRACE, source.values, source.offsets, source.start_s,
                source.step_s, empty_f, np.zeros(288), 0.0, np.uint64(0))
    if isinstance(source, SyntheticUtilization):
        return (kernels_sim.SYNTHETIC, empty_f, empty_i, empty_f, 1.0, source.level,
                source.daily_profile, source.noise_cv, np.uint64(source.seed))
    return None


class _Segments:
    """The simulation's VMs in per-host segments of `cap` positions, updated in place."""

    def __init__(self, fleet, cap=16):
        self.cpu_index = fleet.resource_index("VCPU")
        self.memory_index = fleet.resource_index("MEMORY_MB")
        self.n_hosts = fleet.n_hosts
        self.count = np.zeros(self.n_hosts, np.int64)
        self.cpu_level = np.zeros(self.n_hosts)
        self.memory_level = np.zeros(self.n_hosts)
        self.slot_pos = np.full(max(fleet.slot_capacity, 1), -1, np.int64)
        self._allocate(cap)
        self._hosts = None
        self._params = None

    def _allocate(self, cap, old=None):
        size = self.n_hosts * cap
        arrays = {"pos_slot": np.full(size, -1, np.int64), "pos_row": np.zeros(size, np.int64),
                  "vcpus": np.zeros(size), "memory": np.zeros(size), "touched": np.zeros(size)}
        if old is not None:  # repack every segment at the new stride
            for h in np.flatnonzero(self.count):
                n = self.count[h]
                for name in arrays:
                    arrays[name][h * cap:h * cap + n] = old[name][h * self.cap:h * self.cap + n]
            live = arrays["pos_slot"] >= 0
            self.slot_pos[arrays["pos_slot"][live]] = np.flatnonzero(live)
        self.cap = cap
        for name, array in arrays.items():
            setattr(self, name, array)

    def add(self, slot, host, row, request):
        self.update(np.zeros(0, np.int64), np.array([row]), np.array([slot]), np.array([host]),
                    request[np.newaxis, :])

    def update(self, removed, added_rows, added_slots, added_hosts, added_requests):
        if len(added_slots) and added_slots.max() >= len(self.slot_pos):
            grown = np.full(2 * int(added_slots.max()) + 1, -1, np.int64)
            grown[:len(self.slot_pos)] = self.slot_pos
            self.slot_pos = grown
        if len(added_hosts) and self.count.max() + len(added_hosts) > self.cap:
            after = (self.count - np.bincount(self.slot_pos[removed] // self.cap,
                                              minlength=self.n_hosts)
                     + np.bincount(added_hosts, minlength=self.n_hosts))
            if after.max() > self.cap:
                cap = self.cap
                while cap < after.max():
                    cap *= 2
                self._allocate(cap, {name: getattr(self, name) for name in
                                     ("pos_slot", "pos_row", "vcpus", "memory", "touched")})
        kernels_sim.update_segments(
            removed, added_slots.astype(np.int64), added_hosts.astype(np.int64),
            added_rows.astype(np.int64), added_requests[:, self.cpu_index].astype(np.float64),
            added_requests[:, self.memory_index].astype(np.float64), self.cap, self.count,
            self.pos_slot, self.pos_row, self.vcpus, self.memory, self.touched, self.slot_pos)

    def host_arrays(self, fleet):
        """(cores, guest MiB, host MiB) per host, cached until the inventory changes."""
        if self._hosts is None or self._hosts[0] != fleet.inventory_version:
            total, reserved = fleet.total, fleet.reserved
            c, m = self.cpu_index, self.memory_index
            self._hosts = (fleet.inventory_version,
                           (total[:, c] - reserved[:, c]).astype(np.float64),
                           (total[:, m] - reserved[:, m]).astype(np.float64),
                           total[:, m].astype(np.float64))
        return self._hosts[1:]

    def params(self, models):
        if self._params is None:
            self._params = models._vector.copy()
            if models.memory.name == "none":
                self._params[0] = 0.0  # no sharing either
        return self._params

