"""vmsched.Simulation: a workload arriving on a fleet, as one discrete-event run.

Everything that happens goes through one event queue keyed (time_s, priority, sequence); at
one instant: departures, host state changes (drain, down, up, failure, repair), migration
completions, arrivals (and restarts), controllers, then the tick. `run` is one loop over
that queue (below, `run`): it pops the next event and calls its handler. The workload's own
arrivals and departures, which are most events, are handled natively in a batch while they
are at the head of the queue, with exactly the result of their handlers one at a time.

Tick k (t_k = k * tick_s, for t_k < duration_s) measures [t_k, t_k + tick_s) over the VMs
running or migrating right after the events at t_k: a VM is measured in the ticks with
start_s <= t_k < end_s (arrivals and departures inside a tick count from the next tick).
Demand is sampled at t_k. A migration completion or a host state change (a failure, a repair,
a drain, the end of a downtime) inside a tick splits it: the piece before the event is
measured with the state it had, the rest with the new state, each weighted by its length, so
totals stay exact. Energy: with host models, every host draws its power model's watts at its
utilisation (CPU granted / capacity); a host without measured VMs draws its idle power while
it is on, none while it is off (held by a drain or a failure and holding no allocation); the
power state is taken at the end of each piece. Per-VM facts have one owner, the engine's
VM table (vmsched.engine.simulation.VMTable); allocations are the fleet's.

Every workload row ends the run with one status: pending (never arrived: its start lies
after the end), running, migrating, done, rejected or lost. Same inputs and seed, same
results, bit for bit.
"""

import time as _time

import numpy as np
import pandas as pd

from vmsched import _validate, limits
from vmsched.engine.simulation import (
    LIVE,
    STATUS_NAMES,
    EventKind,
    EventQueue,
    Priority,
    Status,
    VMTable,
    kernels_sim,
    run_lifecycle,
)
from vmsched.engine.jit import frozen, using_threads
from vmsched.engine.simulation.kernels_sim import N_SERIES, n_chunks_for
from vmsched.errors import InvalidRequest, NoValidHost, shown
from vmsched.models.host_models import HostModels
from vmsched.models.vm_settings import FIELDS as SETTING_FIELDS
from vmsched.placement.placer import Placer
from vmsched.simulation.controllers import resolve_controllers
from vmsched.simulation.controllers.actions import Drain, Fail, Migrate
from vmsched.simulation.results import Results
from vmsched.simulation.view import HISTORY_TICKS, SimulationView
from vmsched.workload.utilization import ConstantUtilization, SyntheticUtilization, TraceUtilization
from vmsched.workload.workload import Workload

SNAPSHOT_EVERY_S = 86400.0
#: Host states (Simulation.host_state).
UP, DRAINING, DOWN = 0, 1, 2
HOST_STATE_NAMES = ("up", "draining", "down")
# HOST_CHANGE events' changes (their b).
_DRAIN, _UP, _REPAIRED = 0, 1, 2
#: Workload events handled natively per batch (bounds the batch buffers).
LIFECYCLE_BATCH = 1 << 16


class Simulation:
    """fleet (with no VMs), placer (a Placer on that fleet, or a policy for one), host_models
    (HostModels, or None for placement only), workload (a Workload, or a DataFrame in a
    Workload's table form, taken with its defaults); tick_s: seconds per tick;
    duration_s: how long to run, ticks at 0 <= t < duration_s (default: the workload's
    horizon if it has one, e.g. a synthetic workload's days, else through the tick that
    follows the last event); seed: seeds the placer's generator when a policy is given;
    controllers: plugins (names, instances or classes; see vmsched.simulation.controllers);
    memory_limit_bytes: refuse (ResourceLimit) a run estimated to need more (default: what
    this process may use, see vmsched.limits; math.inf: no check)."""

    def __init__(self, fleet, placer, host_models, workload, tick_s=300.0, seed=0,
                 duration_s=None, progress=None, controllers=(), memory_limit_bytes=None):
        self.placer = placer if isinstance(placer, Placer) else Placer(fleet, placer, seed=seed)
        if self.placer.fleet is not fleet:
            raise InvalidRequest("the placer places on another fleet")
        if fleet.n_vms:
            raise InvalidRequest(f"the fleet already holds {fleet.n_vms} VMs: a simulation "
                                 f"starts from an empty fleet (its workload places every VM)")
        if host_models is not None and not isinstance(host_models, HostModels):
            raise InvalidRequest("host_models must be a HostModels or None")
        if isinstance(workload, pd.DataFrame):    # a plain table: the Workload defaults
            workload = Workload(workload)
        elif not isinstance(workload, Workload):
            raise InvalidRequest(f"workload must be a vmsched Workload or a DataFrame in its "
                                 f"table form, not {type(workload).__name__}")
        self.fleet, self.host_models, self.workload = fleet, host_models, workload
        self.tick_s = _validate.positive_real("tick_s", tick_s)
        if duration_s is None:  # the workload's horizon, or one tick past its last event
            duration_s = workload.horizon_s or workload.duration_s + self.tick_s
        self.duration_s = _validate.positive_real("duration_s", duration_s)
        self.n_ticks = int(np.ceil(self.duration_s / self.tick_s))
        limits.check_fits(limits.simulation_bytes(len(workload), self.n_ticks, fleet.n_hosts),
                          f"this simulation ({len(workload):,} VMs, {self.n_ticks:,} ticks of "
                          f"{self.tick_s:g} s, {fleet.n_hosts:,} hosts)", memory_limit_bytes)
        self.progress = progress
        self.controllers = resolve_controllers(controllers)
        self._prepare()

    # ------------------------------------------------------------ set-up

    def _prepare(self):
        fleet, workload, table = self.fleet, self.workload, self.workload.table
        n = len(table)
        self.requests = workload.requests(fleet.resources)
        self.start_s = table["start_s"].to_numpy(np.float64)
        self.end_s = table["end_s"].to_numpy(np.float64)
        tenant_index, tenant_ids = pd.factorize(table["tenant"], sort=False)
        tenant_index = tenant_index.astype(np.int32)
        self.tenant_ids = [t.item() if isinstance(t, np.generic) else t for t in tenant_ids]
        self._tenant_codes = [-1] * len(self.tenant_ids)
        settings = None
        if any(name in table for name in SETTING_FIELDS):
            settings = np.full((n, len(SETTING_FIELDS)), np.nan)
            for j, name in enumerate(SETTING_FIELDS):
                if name in table:
                    settings[:, j] = table[name].to_numpy(np.float64)
            _check_settings(settings, self.requests, fleet, table["vm_id"])
        cpu = fleet.resource_index("VCPU") if "VCPU" in fleet.resources else None
        mem = fleet.resource_index("MEMORY_MB") if "MEMORY_MB" in fleet.resources else None
        if self.host_models is not None and (cpu is None or mem is None):
            raise InvalidRequest("host models need VCPU and MEMORY_MB resource classes")
        vcpus = self.requests[:, cpu] if cpu is not None else np.zeros(n)
        memory = self.requests[:, mem] if mem is not None else np.zeros(n)
        # Everything is checked: now the placer learns the workload's groups.
        for group, spec in workload.groups.items():
            spec = (spec,) if isinstance(spec, str) else tuple(spec)
            self.placer.create_group(group, spec[0], **dict(zip(("max_per_host", "max_skew"),
                                                               spec[1:])))
        self.group_names = _group_column(table, n)
        self.labels = _labels_column(table, n)
        codes = np.array([-1 if g is None else self.placer.group_code(g)
                          for g in self.group_names], np.int32) if self.group_names else \
            np.full(n, -1, np.int32)
        self.vm = VMTable(self.requests, vcpus, memory, tenant_index, codes, settings,
                          fleet.n_hosts, (_row_levels(workload.cpu), _row_levels(workload.memory)))
        # The queue: the workload's events (a VM whose end equals its start departs within
        # its arrival), then the first tick.
        self.queue = EventQueue()
        leaves = np.flatnonzero(np.isfinite(self.end_s) & (self.end_s > self.start_s))
        times = np.concatenate([self.end_s[leaves], self.start_s])
        kinds = np.concatenate([np.full(len(leaves), EventKind.DEPARTURE, np.int8),
                                np.full(n, EventKind.ARRIVAL, np.int8)])
        rows = np.concatenate([leaves, np.arange(n)]).astype(np.int64)
        order = np.lexsort((rows, kinds == EventKind.ARRIVAL, times))
        self.queue.load_workload(times[order], kinds[order], rows[order])
        self.queue.push(0.0, Priority.TICK_PRIORITY, EventKind.TICK, 0)
        self.now = 0.0
        self.clock_s = 0.0
        # Hosts.
        self.host_state = np.zeros(fleet.n_hosts, np.int8)
        self._holds = np.zeros(fleet.n_hosts, np.int64)   # drains and failures holding it
        self._n_held = 0           # hosts that something holds (_holds > 0)
        self._failed = np.zeros(fleet.n_hosts, np.int64)  # failures not yet repaired
        self._open_drains = {}     # host -> its drain records until they end
        self._scheduled = []       # drains and failures that host events refer to
        self._drain_records = {}   # scheduled drain action -> its records
        self.drain_log = []        # every drain (one record per host), in schedule order
        self.host_totals = np.zeros((kernels_sim.N_HOST_TOTALS, fleet.n_hosts))
        self.host_state_s = np.zeros((fleet.n_hosts, 5))
        self.cpu_history = np.zeros((HISTORY_TICKS, 2, fleet.n_hosts))  # granted, demand
        self._host_tick = np.zeros((2, fleet.n_hosts))   # this tick's, x seconds
        self._chunk_series = np.zeros((n_chunks_for(fleet.n_hosts), N_SERIES))
        # Ticks.
        self.series = np.zeros((self.n_ticks, N_SERIES))
        self.tick = 0              # ticks started
        self._tick_open = False
        self._tick_start = self._piece_start = 0.0
        self.split_pieces = 0      # ticks split by migration completions and host changes
        self._counts = np.zeros(N_SERIES)  # events since the last tick started
        self._pending_added, self._pending_removed = [], []
        self.snapshots = []
        self.rejected_by_filter = np.zeros(max(len(self.placer.filter_names), 1), np.int64)
        self.wall_s = 0.0
        self.tick_wall_s = 0.0     # of which in the tick kernel (seconds)
        self.native_lifecycle = (self.group_names is None and self.labels is None
                                 and not self.placer.needs_python)
        self._batch = (np.zeros(LIFECYCLE_BATCH, np.int64), np.zeros(LIFECYCLE_BATCH, np.int64))
        self._models = self._model_arrays()
        self._hosts_key, self._hosts, self._scratch_arrays, self._shape = None, None, None, None
        self._levels = (np.zeros(fleet.n_hosts), np.zeros(fleet.n_hosts))  # solvers' guesses
        self._all_on = np.ones(fleet.n_hosts, np.uint8)
        self._native_sources = None   # the sources' kernel arrays, once (_source_arrays)
        for index, controller in enumerate(self.controllers):
            self._apply(controller.start(self.view()), controller)
            if controller.period_s is not None:
                self.queue.push(controller.first_s, Priority.CONTROLLER_PRIORITY,
                                EventKind.CONTROLLER, index)

    # ------------------------------------------------------------ the run loop

    def run(self, until_s=None):
        """Handle every event before `until_s` seconds (default: the end); can be called
        again to go on (run(a) then run(b) is run(b)). Returns the Results so far."""
        self.advance(until_s)
        return self.results()

    def advance(self, until_s=None):
        """`run` without building the Results (for a caller that goes on, or reads state)."""
        until = self.duration_s if until_s is None else min(
            _validate.nonnegative_real("until_s", until_s), self.duration_s)
        started = _time.perf_counter()
        self.clock_s = max(self.clock_s, until)   # the state is as of this time
        bar = self.progress(total=self.n_ticks, initial=self.tick) if self.progress else None
        threads = using_threads(self.host_models.threads if self.host_models else None)
        with threads:
            self._loop(until, bar)
        self.now = max(self.now, until)  # the state is as of until: actions happen then
        if bar is not None:
            bar.close()
        self.wall_s += _time.perf_counter() - started

    def _loop(self, until, bar):
        """The run: pop the next event before `until`, call its handler (see the module doc)."""
        while True:
            head = self.queue.peek()
            if head is None or head[0] >= until:
                break
            time_s, _, kind = head
            if self._tick_open and time_s >= self._tick_end:
                self._close_tick()             # every piece of the open tick is measured
            elif self._tick_open and kind in (EventKind.MIGRATION_DONE, EventKind.HOST_FAIL,
                                              EventKind.HOST_CHANGE):
                self._measure_piece(time_s)    # the state changes inside the tick: split it
            if kind <= EventKind.ARRIVAL and self.native_lifecycle and not self._open_drains:
                self._lifecycle_batch(until)   # workload events at the head, natively
                continue
            time_s, _, _, kind, a, b, x = self.queue.pop()
            self.now = time_s
            HANDLERS[kind](self, a, b, x)
            if bar is not None and kind == EventKind.TICK:
                bar.update(1)
        if until >= self.duration_s and self._tick_open:
            self._close_tick()

    # ------------------------------------------------------------ workload events

    def _lifecycle_batch(self, until):
        added, removed = self._batch
        vm = self.vm
        events, arrivals, departures, n_added, n_removed = run_lifecycle(
            self.queue, self.placer.native, until, LIFECYCLE_BATCH, self.requests,
            self.start_s, self.end_s, vm.tenant_index, self.tenant_ids, self._tenant_codes,
            vm.status, vm.host, vm.slot, vm.target_slot, vm.reason, self.rejected_by_filter,
            added, removed)
        if n_added:
            self._pending_added.append(added[:n_added].copy())
        if n_removed:
            self._pending_removed.append(removed[:n_removed].copy())
        self._counts[kernels_sim.S_ARRIVALS] += arrivals
        self._counts[kernels_sim.S_DEPARTURES] += departures

    def _on_arrival(self, row, _b, _x):
        if self.vm.status[row] != Status.PENDING:
            return
        self._counts[kernels_sim.S_ARRIVALS] += 1
        if self._place(row) and self.end_s[row] == self.start_s[row]:
            self._release(row)              # placed and freed at once, never measured
            self.vm.status[row] = Status.DONE

    def _on_departure(self, row, _b, _x):
        vm = self.vm
        if vm.status[row] not in LIVE:
            return
        hosts = [int(vm.host[row]), int(vm.target[row])]
        self._release(row)
        vm.status[row] = Status.DONE
        self._pending_removed.append(np.array([row], np.int64))
        self._counts[kernels_sim.S_DEPARTURES] += 1
        for host in hosts:
            if host >= 0:
                self._check_drained(host)

    def _place(self, row):
        """Place row by the policy (an arrival or a restart): True if placed (running; it is
        measured from the next tick), else rejected with its reason."""
        vm = self.vm
        labels = self.labels[row] if self.labels is not None else None
        group = self.group_names[row] if self.group_names is not None else None
        try:
            host, slot = self.placer.place(self.requests[row],
                                           tenant=self.tenant_ids[vm.tenant_index[row]],
                                           labels=labels, group=group)
        except NoValidHost as error:
            counts = list(error.eliminated.values())
            best = int(np.argmax(counts)) if counts else 0
            if vm.status[row] == Status.PENDING:   # (a failed restart stays lost, as it was)
                vm.status[row] = Status.REJECTED
                vm.reason[row] = best
                self.rejected_by_filter[best] += 1
                vm.host[row] = -1
            return False
        vm.status[row], vm.host[row], vm.slot[row] = Status.RUNNING, host, slot
        self._pending_added.append(np.array([row], np.int64))
        return True

    def _release(self, row):
        """Free a live VM's allocations (both, while migrating)."""
        vm = self.vm
        if vm.status[row] == Status.MIGRATING:
            self.fleet.release(int(vm.target_slot[row]))
            vm.target_slot[row] = vm.target[row] = -1
            vm.migration_id[row] += 1
        self.fleet.release(int(vm.slot[row]))
        vm.slot[row] = -1

    # ------------------------------------------------------------ migration

    def start_migration(self, vm_row, host, duration_s):
        """Start moving a running VM (workload row) to `host`, completing after duration_s
        seconds: it is allocated on both hosts meanwhile and runs on its source until then.
        Raises InvalidRequest if it is not running, InsufficientCapacity if `host` does not
        admit it now."""
        vm = self.vm
        row = _validate.integer("vm_row", vm_row, minimum=0, maximum=vm.n_rows - 1)
        host = _validate.integer("host", host, minimum=0, maximum=self.fleet.n_hosts - 1)
        duration_s = _validate.nonnegative_real("duration_s", duration_s)
        if vm.status[row] != Status.RUNNING:
            raise InvalidRequest(f"vm row {row} is {STATUS_NAMES[vm.status[row]]}, not running")
        if host == vm.host[row]:
            raise InvalidRequest(f"vm row {row} is on host {host} already")
        tenant = self.tenant_ids[vm.tenant_index[row]]
        vm.target_slot[row] = self.fleet.allocate(host, self.requests[row], tenant,
                                                  int(vm.group[row]))
        vm.target[row] = host
        vm.status[row] = Status.MIGRATING
        vm.migration_id[row] += 1
        self.queue.push(self.now + duration_s, Priority.MIGRATION_PRIORITY,
                        EventKind.MIGRATION_DONE, row, int(vm.migration_id[row]))

    def _on_migration_done(self, row, number, _x):
        vm = self.vm
        if vm.status[row] != Status.MIGRATING or vm.migration_id[row] != number:
            return  # departed, lost or abandoned meanwhile
        source = int(vm.host[row])
        self.fleet.release(int(vm.slot[row]))
        vm.slot[row] = vm.target_slot[row]
        vm.move_in_layout(row, int(vm.target[row]))
        vm.target_slot[row] = vm.target[row] = -1
        vm.status[row] = Status.RUNNING
        vm.migrations[row] += 1
        self._counts[kernels_sim.S_MIGRATIONS] += 1
        self._check_drained(source)

    # ------------------------------------------------------------ hosts
    #
    # A host admits VMs when nothing holds it: each drain holds its host from its start until
    # its downtime ends, each failure until its repair. Its state (host_state) is down while
    # failed or drained-and-down, draining while a drain waits for it to empty, else up.

    def _hold(self, host, change):
        was_held = self._holds[host] > 0
        self._holds[host] += change
        self._n_held += int(self._holds[host] > 0) - int(was_held)
        self.fleet.set_admitting(np.array([host], np.int32), self._holds[host] == 0)
        self._update_state(host)

    def _update_state(self, host):
        records = [r for r in self._open_drains.get(host, ()) if r["down_s"] is not None]
        if self._failed[host] or records:
            self.host_state[host] = DOWN
        elif self._open_drains.get(host):
            self.host_state[host] = DRAINING
        else:
            self.host_state[host] = UP

    def drain(self, hosts, downtime_s, migration_s, records=None):
        """Drain `hosts` now (where the last run stopped): they admit nothing; their running VMs (ascending row) migrate
        to hosts the policy picks (each taking migration_s seconds; a VM that fits nowhere
        stays and is reported); each host, once it holds no VM, is down for downtime_s,
        then admits again."""
        if records is None:   # called directly, not by a scheduled drain
            hosts = [_validate.integer("host", h, minimum=0, maximum=self.fleet.n_hosts - 1)
                     for h in hosts]
            downtime_s = _validate.nonnegative_real("downtime_s", downtime_s)
            migration_s = _validate.nonnegative_real("migration_s", migration_s)
            records = [self._drain_record(h, downtime_s) for h in hosts]
        hosts = [int(h) for h in hosts]
        record_of = {}
        for record in records:
            self._open_drains.setdefault(record["host"], []).append(record)
            self._hold(record["host"], +1)
            record_of.setdefault(record["host"], record)
        vm = self.vm
        rows = np.flatnonzero((vm.status == Status.RUNNING) & np.isin(vm.host, hosts))
        for row in rows:
            record = record_of[int(vm.host[row])]
            labels = self.labels[row] if self.labels is not None else None
            group = self.group_names[row] if self.group_names is not None else None
            try:
                target = self.placer.select(self.requests[row], labels=labels, group=group)
            except NoValidHost:
                record["unplaceable"].append(self.workload.table["vm_id"].iat[row])
                continue
            self.start_migration(row, target, migration_s)
            record["migrations"] += 1
        for host in record_of:
            self._check_drained(host)

    def _drain_record(self, host, downtime_s):
        record = {"host": host, "start_s": self.now, "down_s": None, "up_s": None,
                  "migrations": 0, "unplaceable": [], "downtime_s": float(downtime_s),
                  "_index": len(self.drain_log)}
        self.drain_log.append(record)
        return record

    def _check_drained(self, host):
        """A draining host that holds no allocation goes down now, up after its downtime."""
        if self.fleet.host_vm_count[host] > 0:
            return
        for record in self._open_drains.get(host, ()):
            if record["down_s"] is None:
                record["down_s"] = self.now
                self.queue.push(self.now + record["downtime_s"], Priority.HOST_PRIORITY,
                                EventKind.HOST_CHANGE, host, _UP, float(record["_index"]))
        self._update_state(host)

    def _on_host_change(self, host, change, index):
        if change == _DRAIN:
            action = self._scheduled[int(index)]
            self.drain(action.hosts, action.downtime_s, action.migration_s,
                       self._drain_records.pop(int(index)))
        elif change == _UP:              # a drain's downtime is over
            record = self.drain_log[int(index)]
            record["up_s"] = self.now
            self._open_drains[host] = [r for r in self._open_drains[host] if r is not record]
            self._hold(host, -1)
        else:                            # a failure is repaired
            self._failed[host] -= 1
            self._hold(host, -1)

    def fail(self, host, repair_s, restart=False, restart_delay_s=0.0):
        """Host `host` fails now (where the last run stopped): it admits nothing for
        repair_s seconds; its VMs (running, or migrating away) are lost (with restart, each
        is placed again as an arrival restart_delay_s later); migrations towards it are
        abandoned."""
        host = _validate.integer("host", host, minimum=0, maximum=self.fleet.n_hosts - 1)
        repair_s = _validate.nonnegative_real("repair_s", repair_s)
        restart_delay_s = _validate.nonnegative_real("restart_delay_s", restart_delay_s)
        self._split_before_change()
        self._fail(host, repair_s, bool(restart), restart_delay_s)

    def _split_before_change(self):
        """What the run loop does before a failure: measure the open tick up to now."""
        if self._tick_open and self.now >= self._tick_end:
            self._close_tick()
        elif self._tick_open:
            self._measure_piece(self.now)

    def _fail(self, host, repair_s, restart, restart_delay_s):
        vm = self.vm
        self._failed[host] += 1
        self._hold(host, +1)
        self.queue.push(self.now + repair_s, Priority.HOST_PRIORITY, EventKind.HOST_CHANGE,
                        host, _REPAIRED)
        lost = vm.rows_on_host(host)
        emptied = {host} | set(vm.target[lost[vm.status[lost] == Status.MIGRATING]].tolist())
        for row in lost:
            self._release(row)
            vm.status[row] = Status.LOST
            vm.lost_at[row] = self.now
        vm.remove_from_layout(lost)
        self._counts[kernels_sim.S_LOST] += len(lost)
        for row in np.flatnonzero((vm.status == Status.MIGRATING) & (vm.target == host)):
            self.fleet.release(int(vm.target_slot[row]))
            vm.target_slot[row] = vm.target[row] = -1
            vm.migration_id[row] += 1
            vm.status[row] = Status.RUNNING
        if restart:
            for row in lost:
                self.queue.push(self.now + restart_delay_s, Priority.ARRIVAL_PRIORITY,
                                EventKind.RESTART, int(row))
        for h in sorted(emptied):
            self._check_drained(h)

    def _on_failure(self, host, action, _x):
        failure = self._scheduled[action]
        self._fail(host, failure.repair_s, failure.restart, failure.restart_delay_s)

    def _on_restart(self, row, _b, _x):
        vm = self.vm
        if vm.status[row] != Status.LOST or self.now >= self.end_s[row]:
            return                          # a VM whose end has passed stays lost
        if self._place(row):
            vm.restarts[row] += 1
            vm.downtime_s[row] += self.now - vm.lost_at[row]
            vm.lost_at[row] = np.nan

    # ------------------------------------------------------------ controllers

    def view(self):
        """A read-only view of the run for controllers."""
        return SimulationView(self)

    def _on_controller(self, index, _b, _x):
        controller = self.controllers[index]
        self._apply(controller.act(self.view()), controller)
        self.queue.push(self.now + controller.period_s, Priority.CONTROLLER_PRIORITY,
                        EventKind.CONTROLLER, index)

    def _apply(self, actions, controller):
        """Carry out a controller's actions: a migration now; a drain or a failure as a host
        event at its time (now if it has none), which refers to the action by its index."""
        for action in actions or ():
            if isinstance(action, Migrate):
                self.start_migration(action.vm, action.host, action.duration_s)
            elif isinstance(action, (Drain, Fail)):
                at = self.now if action.at_s is None else action.at_s
                if at < self.now:
                    raise InvalidRequest(f"controller {shown(controller.name)} scheduled {shown(action)} "
                                         f"before now ({self.now} s)")
                for host in (action.hosts if isinstance(action, Drain) else [action.host]):
                    _validate.integer("host", host, minimum=0, maximum=self.fleet.n_hosts - 1)
                self._scheduled.append(action)
                index = len(self._scheduled) - 1
                if isinstance(action, Drain):
                    # Its records exist (not started) from now on, one per host.
                    self._drain_records[index] = [self._drain_record(h, action.downtime_s)
                                                  for h in action.hosts]
                    for record in self._drain_records[index]:
                        record["start_s"] = at
                    self.queue.push(at, Priority.HOST_PRIORITY, EventKind.HOST_CHANGE,
                                    action.hosts[0], _DRAIN, float(index))
                else:
                    self.queue.push(at, Priority.HOST_PRIORITY, EventKind.HOST_FAIL,
                                    action.host, index)
            else:
                raise InvalidRequest(f"controller {shown(controller.name)} returned {shown(action)}, "
                                     f"which is not an action")

    # ------------------------------------------------------------ ticks

    def _on_tick(self, k, _b, _x):
        """Open tick k: the VMs measured in it are those live now."""
        vm = self.vm
        if self._pending_removed:
            vm.remove_from_layout(np.concatenate(self._pending_removed))
            self._pending_removed.clear()
        if self._pending_added:   # those still live (placed, not yet gone) join the layout
            vm.add_to_layout(np.concatenate(self._pending_added))
            self._pending_added.clear()
        row = self.series[k]
        row[kernels_sim.S_TIME] = self.now
        row[kernels_sim.S_VMS] = int(vm.count.sum())       # the VMs measured in this tick
        if self.host_models is None:   # else the tick's first piece counts its VMs
            kernels_sim.count_tick(vm.cap, vm.count, vm.pos_ticks)
        for column in (kernels_sim.S_ARRIVALS, kernels_sim.S_DEPARTURES,
                       kernels_sim.S_MIGRATIONS, kernels_sim.S_LOST):
            row[column] = self._counts[column]
            self._counts[column] = 0
        row[kernels_sim.S_REJECTED] = int(self.rejected_by_filter.sum())
        self.tick = k + 1
        self._tick_open = True
        self._tick_start = self._piece_start = self.now
        self._tick_end = self.now + self.tick_s
        if (k + 1) * self.tick_s < self.duration_s:
            self.queue.push((k + 1) * self.tick_s, Priority.TICK_PRIORITY, EventKind.TICK, k + 1)

    def _measure_piece(self, end_s):
        """Measure the open tick from the last split to end_s with the state as it is."""
        dt = end_s - self._piece_start
        if dt <= 0:
            return
        first_piece = self._piece_start == self._tick_start
        self._piece_start = end_s
        if end_s < self._tick_end:
            self.split_pieces += 1      # an event inside the tick split it here
        if self.host_models is None:   # placement only: hosts in use, time-weighted
            self.series[self.tick - 1, kernels_sim.S_HOSTS_IN_USE] += (
                int((self.vm.count > 0).sum()) * dt / self.tick_s)
            return
        started = _time.perf_counter()      # (also with no VM: hosts that are on draw idle)
        kernels_sim.measure_piece(self._tick_start, dt, first_piece, self._models,
                                  self.vm.layout_arrays(), self._host_arrays(),
                                  *self._source_arrays(), self._accounts(), self._scratch(),
                                  self.series[self.tick - 1], 1.0 / self.tick_s)
        self.tick_wall_s += _time.perf_counter() - started

    def _close_tick(self):
        self._measure_piece(self._tick_end)
        self._tick_open = False
        k = self.tick - 1
        if self.host_models is not None:
            history = self.cpu_history[k % HISTORY_TICKS]
            np.divide(self._host_tick, self.tick_s, out=history)
            self._host_tick.fill(0.0)
        if (k + 1) % max(1, int(SNAPSHOT_EVERY_S // self.tick_s)) == 0 or k + 1 == self.n_ticks:
            self._snapshot(self._tick_start)

    def _model_arrays(self):
        models = self.host_models
        if models is None:
            return None
        return (models.cpu.code, models.memory.code, models.parameter_vector)

    def _host_arrays(self):
        fleet = self.fleet
        key = fleet.inventory_version
        if self._hosts_key != key:
            c, m = fleet.resource_index("VCPU"), fleet.resource_index("MEMORY_MB")
            total, reserved = fleet.total, fleet.reserved
            self._hosts_key = key
            levels = self._levels
            # (The power arrays are views: a change of a host's power model shows in them.)
            self._hosts = ((total[:, c] - reserved[:, c]).astype(np.float64),
                           (total[:, m] - reserved[:, m]).astype(np.float64),
                           total[:, m].astype(np.float64)) + levels + fleet.power_arrays()
        return self._hosts + (self.powered(),)

    def powered(self):
        """uint8 per host: 1 if the host is on. A host is off while a drain or a failure holds
        it and it holds no allocation (a drained host in its downtime, a failed one); it is on
        otherwise, and draws its idle power when it has no VM to measure."""
        if not self._n_held:
            return self._all_on
        off = (self._holds > 0) & (np.asarray(self.fleet.host_vm_count) == 0)
        return (~off).astype(np.uint8)

    def _source_arrays(self):
        # When the kernel reads both sources itself, their arrays are built once and kept;
        # False marks a source sampled here, per tick.
        if self._native_sources is None:
            sources = [_source_arrays(s) for s in (self.workload.cpu, self.workload.memory)]
            self._native_sources = False if None in sources else sources
        if self._native_sources:
            return self._native_sources
        vm = self.vm
        out = []
        for source in (self.workload.cpu, self.workload.memory):
            arrays = _source_arrays(source)
            if arrays is None:   # any other source: sampled here, one value per position
                values = np.zeros(len(vm.pos_row))
                live = vm.pos_row >= 0
                values[live] = source.sample(vm.pos_row[live], self._tick_start)
                arrays = (kernels_sim.PRESAMPLED, frozen(values)) + _EMPTY_SOURCE[2:]
            out.append(arrays)
        return out

    def _accounts(self):
        return (self.host_totals, self.host_state_s, self._chunk_series, self._host_tick)

    def _scratch(self):
        cap, n_chunks = self.vm.cap, n_chunks_for(self.fleet.n_hosts)
        scratch = self._scratch_arrays
        if scratch is None or scratch[2].shape[0] != cap:
            scratch = self._scratch_arrays = (np.zeros((n_chunks, 4, cap)),
                                              np.zeros((n_chunks, 7, cap)), np.zeros(cap),
                                              np.zeros(n_chunks + 1, np.int64))
        return scratch

    def _snapshot(self, t):
        fleet = self.fleet
        snapshot = {"time_s": t, "vms": fleet.n_vms}
        if fleet.n_vms:
            for name, value in fleet.realised_overcommit().items():
                snapshot[f"overcommit_{name}"] = value
            stranded = fleet.stranded_capacity(self.reference_shape())
            for name in fleet.resources:
                snapshot[f"stranded_{name}"] = stranded.loc[name, "stranded"]
                snapshot[f"stranded_fraction_{name}"] = stranded.loc[name, "stranded_fraction"]
        self.snapshots.append(snapshot)

    # ------------------------------------------------------------ outcomes

    def reference_shape(self):
        """The most common request in the workload (ties: the smallest)."""
        if self._shape is None:
            counts = pd.DataFrame(self.requests).value_counts()
            best = counts[counts == counts.max()].index
            self._shape = np.array(min(best), dtype=np.int64)
        return self._shape

    def vm_totals(self):
        """(totals [n, N_VM_TOTALS], ticks [n]) of every VM so far, measured ones included
        (the open tick counts for the VMs measured in it, also before its first piece)."""
        uncounted = (self.host_models is not None and self._tick_open
                     and self._piece_start == self._tick_start)
        return self.vm.vm_totals(open_tick_uncounted=uncounted)

    def downtime_s(self):
        """Seconds each row has been down after a failure so far (to its restart, or to
        min(end_s, now) while lost)."""
        vm = self.vm
        down = vm.downtime_s.copy()
        lost = vm.status == Status.LOST
        end = np.where(np.isfinite(self.end_s[lost]), self.end_s[lost], np.inf)
        down[lost] += np.maximum(0.0, np.minimum(end, self.duration_s) - vm.lost_at[lost])
        return down

    def rejections(self):
        """{filter name: VMs it rejected} (the filter that eliminated the most hosts)."""
        return {name: count for name, count in
                zip(self.placer.filter_names, self.rejected_by_filter.tolist()) if count}

    def check_invariants(self):
        """The VM table agrees with the fleet and the fleet with itself (tests call this)."""
        self.fleet.check_invariants()
        self.vm.check_invariants(self.fleet)
        admits = np.asarray(self.fleet.admitting)
        assert (admits == (self._holds == 0)).all(), "admitting != nothing holds the host"
        assert self._n_held == int((self._holds > 0).sum()), "stale count of held hosts"

    @property
    def ticks_closed(self):
        """Ticks measured to their end."""
        return self.tick - (1 if self._tick_open else 0)

    def results(self):
        return Results(self)

    def __getstate__(self):
        """A simulation pickles whole (fleet, placer, models, workload, queue, VM table) and
        resumes exactly where it stopped: checkpoints and shipping runs to workers."""
        state = dict(self.__dict__)
        state["progress"] = None
        state.pop("_batch", None)
        # The kernel's cached argument arrays are rebuilt after unpickling: pickling makes
        # read-only views writable, another array type for the kernels (a second compilation).
        state["_hosts_key"] = state["_hosts"] = state["_native_sources"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._batch = (np.zeros(LIFECYCLE_BATCH, np.int64), np.zeros(LIFECYCLE_BATCH, np.int64))



#: One handler per event kind (plain functions: a simulation holds no cycle through them, so
#: it is freed as soon as it is dropped).
HANDLERS = {
    EventKind.DEPARTURE: Simulation._on_departure, EventKind.ARRIVAL: Simulation._on_arrival,
    EventKind.HOST_CHANGE: Simulation._on_host_change, EventKind.HOST_FAIL: Simulation._on_failure,
    EventKind.MIGRATION_DONE: Simulation._on_migration_done,
    EventKind.RESTART: Simulation._on_restart, EventKind.CONTROLLER: Simulation._on_controller,
    EventKind.TICK: Simulation._on_tick,
}


def run_placement_only(fleet, placer, workload):
    """Replay a workload's arrivals and departures through the placer, no host models; returns
    the number of rejections (fleet sizing)."""
    return replay_placement(fleet, placer, workload)[0]


def replay_placement(fleet, placer, workload, progress=None):
    """Replay a workload's arrivals and departures through the placer, no host models; returns
    (rejections, hosts used: 1 + the highest host index any VM was placed on, 0 if none).
    progress: a progress-bar factory (total= arrivals)."""
    sim = Simulation(fleet, placer, None, workload, tick_s=max(workload.duration_s, 1.0) + 1)
    if progress is None:
        sim.advance()
    else:
        bar = progress(total=len(workload))      # arrivals handled
        done = 0
        for until in _event_times(sim, 64):
            sim.advance(until)
            now = int(np.count_nonzero(sim.vm.status != Status.PENDING))
            bar.update(now - done)
            done = now
        sim.advance()
        bar.close()
    placed = sim.vm.host[sim.vm.status != Status.REJECTED]
    placed = placed[placed >= 0]
    return (int((sim.vm.status == Status.REJECTED).sum()),
            int(placed.max()) + 1 if len(placed) else 0)


def _event_times(sim, pieces):
    """Times that cut a run's arrivals into about `pieces` equal parts."""
    starts = np.sort(sim.start_s)
    cuts = starts[np.linspace(0, len(starts) - 1, pieces + 1).astype(np.int64)[1:]]
    return np.unique(cuts)


_NO_FLOATS, _NO_INTS, _NO_PROFILE = frozen(np.zeros(1)), frozen(np.zeros(2), np.int64), \
    frozen(np.zeros(288))
_EMPTY_SOURCE = (kernels_sim.CONSTANT, _NO_FLOATS, _NO_INTS, _NO_FLOATS, 1.0, _NO_FLOATS,
                 _NO_PROFILE, 0.0, np.uint64(0))


def _source_arrays(source):
    """The tick kernel's view of a utilisation source: (kind, values, offsets, start_s, step_s,
    levels, daily_profile, noise_cv, seed), or None for a source sampled in Python."""
    if isinstance(source, ConstantUtilization):
        return (kernels_sim.CONSTANT, source.values, _NO_INTS, _NO_FLOATS, 1.0, _NO_FLOATS,
                _NO_PROFILE, 0.0, np.uint64(0))
    if isinstance(source, TraceUtilization):
        return (kernels_sim.TRACE, source.values, source.offsets, source.start_s,
                source.step_s, _NO_FLOATS, _NO_PROFILE, 0.0, np.uint64(0))
    if isinstance(source, SyntheticUtilization):
        return (kernels_sim.SYNTHETIC, _NO_FLOATS, _NO_INTS, _NO_FLOATS, 1.0, source.level,
                source.daily_profile, source.noise_cv, np.uint64(source.seed))
    return None


def _row_levels(source):
    """A source's per-row level as the VM table keeps it: a constant source's values, a
    synthetic source's levels, else empty."""
    if isinstance(source, ConstantUtilization):
        return source.values
    if isinstance(source, SyntheticUtilization):
        return source.level
    return _NO_FLOATS[:0]


def _group_column(table, n):
    if "group" not in table:
        return None
    groups = [None if (g is None or (isinstance(g, float) and np.isnan(g))) else g
              for g in table["group"].tolist()]
    return groups if any(g is not None for g in groups) else None


def _labels_column(table, n):
    if "labels" not in table:
        return None
    out = []
    for x in table["labels"].tolist():
        if isinstance(x, str) and x:
            out.append(tuple(x.split(",")))
        elif isinstance(x, (list, tuple)):
            out.append(tuple(x))
        else:
            out.append(None)
    return out if any(x is not None for x in out) else None


def _check_settings(settings, requests, fleet, vm_ids):
    """Per-row scheduling settings: finite and >= 0 where given, shares > 0, limits within the
    VM's size, reservations within the limit (the rules of Fleet.set_vm_scheduling)."""
    cpu = fleet.resource_index("VCPU")
    mem = fleet.resource_index("MEMORY_MB")
    sizes = {"cpu": requests[:, cpu].astype(np.float64),
             "memory": requests[:, mem].astype(np.float64)}
    for j, name in enumerate(SETTING_FIELDS):
        column = settings[:, j]
        given = ~np.isnan(column)
        bad = given & (~np.isfinite(column) | (column < 0)
                       | ((column <= 0) if name.endswith("shares") else False))
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidRequest(f"{name} of vm {shown(vm_ids.iat[i])} = {column[i]} must be finite "
                                 f"and {'> 0' if name.endswith('shares') else '>= 0'}")
    for kind, unit in (("cpu", "vCPUs"), ("memory", "MiB")):
        limit = settings[:, SETTING_FIELDS.index(f"{kind}_limit")]
        limit = np.where(np.isnan(limit), sizes[kind], limit)
        reservation = settings[:, SETTING_FIELDS.index(f"{kind}_reservation")]
        reservation = np.where(np.isnan(reservation), 0.0, reservation)
        for bad, what in ((limit > sizes[kind], f"{kind}_limit is above the VM's {unit}"),
                          (reservation > limit, f"{kind}_reservation is above {kind}_limit")):
            if bad.any():
                i = int(np.argmax(bad))
                raise InvalidRequest(f"vm {shown(vm_ids.iat[i])}: {what}")
