"""Reference simulation: one event queue, one handler per event kind, plain Python.

Slow and obviously correct; a differential test compares the engine's simulation with it. It
uses nothing of the engine's simulation: its own heap of events keyed (time, priority,
sequence), the reference placer (vmsched.reference.placement) on a ReferenceFleet, and the
reference host models (vmsched.reference.host_models). Units: seconds, cores, MiB.

Priorities at one instant: 0 departure, 1 host state change (drain start, host up, failure,
repair), 2 migration completion, 3 arrival (workload arrivals and restarts), 4 controller
(reserved, unused here), 5 tick. The workload's events get sequence numbers 0.. in (time,
priority, row) order; every later event (controllers' at construction, in the order the
controllers are given and their lists are written; then tick 0; then whatever handlers add)
gets the next number when it is pushed.

Measurement is lazy: a tick opens at t_k (its VMs, their hosts, demand and active memory
sampled at t_k) and its pieces are measured when they close. Before an event at time s is
handled: if s >= the open tick's end, the tick's last piece is measured (the tick is done);
else, if the event is a migration completion or a failure and s > the piece's start, the
piece [start, s) is measured and a new one starts at s. So run(a) then run(b) does exactly
what run(b) does.

Rules where the semantics say nothing (chosen as the simplest):
- Every popped migration-completion, failure, drain, end-of-downtime or repair event splits
  the open tick, even one that then does nothing (an abandoned migration, a VM that
  departed); splitting an unchanged state changes nothing but float rounding.
- Power: a host with measured VMs draws its model's power at utilisation (sum granted) /
  capacity; one without draws its idle power if it is on, 0 W if it is off, and it is off
  while it has a hold and holds no allocation (down after a drain, failed). The state is
  taken at the end of each piece. `ticks.power_w` is the time-weighted mean fleet power.
- The last tick is measured to its end (t_k + tick_s, even past duration_s) when a run
  reaches duration_s. After run(until_s) with until_s < duration_s, results() hold the
  pieces closed so far (the open piece is not included) and one `ticks` row per tick
  started.
- `ticks.vms` is the number of VMs measured in the tick (those running or migrating after
  the events at t_k): the sum of the column equals the sum of the VMs' `ticks`.
  `ready_core_s` (ticks table) is a total (core-seconds), not time-weighted.
- Placement only (host_models None): the measured sets, `ticks`, `vms` and `hosts_in_use`
  are still counted; every model quantity stays 0.
- `arrivals` counts workload arrival events handled (placed or rejected; restarts are not
  arrivals); `departures` counts departure events that freed a VM (a zero-lifetime VM,
  placed and freed by its arrival, has no departure event and is not counted).
- Host admission is a count of holds per host (a draining or down maintenance record, a
  failure until its repair); a host admits when it has none. A draining host goes down
  (immediately, no event) at the first instant it holds no allocation at all (running VMs,
  migration sources and migration targets): after a departure, a migration completion, a
  failure that emptied it, or at its drain start. A host listed in two windows has two
  records. A migration towards a host that starts draining completes normally and is not
  moved again.
- A VM whose migration is abandoned (its target failed) stays running on its source, even
  a draining one, and is not given another target.
- start_migration requires the target to admit (no hold) and the fit rule; it raises
  InvalidRequest (wrong status, same host, host out of range or not admitting, bad duration)
  or InsufficientCapacity. It happens at `now`: the time the last run stopped (its until_s,
  at most duration_s; 0 before any run), before the events at that time.
- Every allocation of a VM with a group is a member of the group (a migrating VM counts on
  its source and on its target); selecting a drain target counts the VM's source allocation.
- A restart at a time >= the VM's end_s does nothing (the VM stays lost). A failed restart
  sets no rejected_by. downtime_s per loss: to the restart, or to min(end_s, duration_s) if
  the VM is not (yet) back; `failures.lost` counts VMs whose status is lost.
- `drains` lists every window's hosts (window order, then host order) from construction;
  `migrations` is the number of migrations the drain started from that host; down_s and up_s
  are None until they happen. up_s is when the maintenance ends (the host may still be
  failed).
- Hosts that do not admit count as eliminated by resource_fit (ReferenceFleet.not_admitting
  makes fit_failure refuse them). rejected_by is the filter with the most eliminations,
  ties to the first in policy order. A drain moves the VMs of its own window's hosts only.
- `seed` (default 0) seeds the reference placer's generator (host_subset_size > 1).
- Several failures controllers may be given; each failure event carries its controller's
  restart settings.
"""

import heapq
import math
from collections import defaultdict

import numpy as np
import pandas as pd

from vmsched.errors import InvalidRequest, NoValidHost, shown
from vmsched.placement.policy import resolve_policy
from vmsched.reference.accounting import ReferenceFleet
from vmsched.reference.host_models import CPU, HARD, MEMORY, split
from vmsched.reference.placement import ReferencePlacer
from vmsched.reference.power import power_w

DEPARTURE, HOST_STATE, MIGRATION, ARRIVAL, CONTROLLER, TICK = range(6)
PENDING, RUNNING, MIGRATING, DONE, REJECTED, LOST = (
    "pending", "running", "migrating", "done", "rejected", "lost")
VM_TOTALS = ("used_core_s", "ready_core_s", "throttled_core_s", "ballooned_mib_s",
             "compressed_mib_s", "swapped_mib_s", "stall_mib_s", "contention_s")
STATE_COLUMNS = ("hosts_high", "hosts_clear", "hosts_soft", "hosts_hard", "hosts_low")
TICK_COLUMNS = ("time_s", "vms", "hosts_in_use", "cpu_demand_cores", "cpu_granted_cores",
                "ready_core_s") + STATE_COLUMNS + ("arrivals", "departures", "migrations",
                                                   "power_w")
CPU_SHARES_PER_VCPU = 1000.0
MEMORY_SHARES_PER_MIB = 10.0
#: Contention counts when a VM is granted less than its capped demand by more than this
#: fraction of it (solvers' error is far smaller).
CONTENTION_TOLERANCE = 1e-9


class ReferenceResults:
    """vms and ticks (DataFrames), drains (list of dicts), failures (dict)."""

    def __init__(self, vms, ticks, drains, failures):
        self.vms, self.ticks, self.drains, self.failures = vms, ticks, drains, failures


class ReferenceSimulation:
    def __init__(self, fleet, policy, host_models, workload, *, tick_s=300.0, duration_s=None,
                 controllers=(), host_labels=None, host_domains=None, seed=0):
        self.handlers = {"departure": self._on_departure, "drain": self._on_drain,
                         "host_up": self._on_host_up, "failure": self._on_failure,
                         "repair": self._on_repair, "migration_done": self._on_migration_done,
                         "arrival": self._on_arrival, "restart": self._on_restart,
                         "tick": self._on_tick}
        self.fleet = ReferenceFleet.from_fleet(fleet)
        self.n_hosts = len(self.fleet.hosts)
        self.placer = ReferencePlacer(self.fleet, resolve_policy(policy), host_labels,
                                      host_domains, seed)
        self.models = host_models
        self.workload = workload
        self.tick_s = float(tick_s)
        if duration_s is None:
            duration_s = workload.horizon_s or workload.duration_s + self.tick_s
        self.duration_s = float(duration_s)
        self._read_workload(fleet)
        self._read_hosts(fleet)
        n = self.n
        # Per workload row.
        self.status = [PENDING] * n
        self.host = [-1] * n           # where it runs (a migrating VM: its source), or last ran
        self.handle = [None] * n       # its allocation (a migrating VM: on the source)
        self.migration = [None] * n    # (target host, target allocation, migration id)
        self.rejected_by = [None] * n
        self.touched = [0.0] * n
        self.totals = [[0.0] * len(VM_TOTALS) for _ in range(n)]
        self.ticks_measured = [0] * n
        self.migrations_done = [0] * n
        self.restarts = [0] * n
        self.losses = [[] for _ in range(n)]  # [lost at, back at or None]
        # Hosts, drains, failures.
        self.holds = [0] * self.n_hosts
        self.drains = []               # per window host: the report plus window, state
        self.restarted = 0
        self.next_migration_id = 0
        # The open tick.
        self.tick = None               # its row of the ticks table (a dict)
        self.tick_rows = []
        self.piece_start = self.tick_end = 0.0
        self.measured = {}             # row -> host it is measured on
        self.demand, self.active = {}, {}
        self.counts = {"arrivals": 0, "departures": 0, "migrations": 0}
        # The queue: the workload's events first, numbered in (time, priority, row) order.
        self.queue, self.sequence, self.now = [], 0, 0.0
        events = []
        for row in range(n):
            if math.isfinite(self.end[row]) and self.end[row] > self.start[row]:
                events.append((self.end[row], DEPARTURE, row, "departure"))
            events.append((self.start[row], ARRIVAL, row, "arrival"))
        for time, priority, row, kind in sorted(events, key=lambda e: e[:3]):
            self.push(time, priority, kind, row)
        for controller in controllers:
            self._add_controller(controller)
        self.push(0.0, TICK, "tick", 0)

    # ------------------------------------------------------------ set-up

    def _read_workload(self, fleet):
        table = self.workload.table
        self.n = n = len(table)
        self.vm_id = table["vm_id"].tolist()
        self.tenant = table["tenant"].tolist()
        self.start = [float(x) for x in table["start_s"]]
        self.end = [float(x) for x in table["end_s"]]
        self.request = [[int(x) for x in r] for r in self.workload.requests(fleet.resources)]
        self.group = [None] * n
        if "group" in table:
            self.group = [None if g is None or (isinstance(g, float) and math.isnan(g)) else g
                          for g in table["group"]]
        self.labels = [()] * n
        if "labels" in table:
            self.labels = [tuple(x.split(",")) if isinstance(x, str) and x else
                           tuple(x) if isinstance(x, (list, tuple)) else ()
                           for x in table["labels"]]
        for group, spec in self.workload.groups.items():
            spec = (spec,) if isinstance(spec, str) else tuple(spec)
            self.placer.create_group(group, *spec)
        if self.models is None:
            return
        if "VCPU" not in fleet.resources or "MEMORY_MB" not in fleet.resources:
            raise InvalidRequest("host models need VCPU and MEMORY_MB classes")
        cpu, mem = fleet.resources.index("VCPU"), fleet.resources.index("MEMORY_MB")
        self.vcpus = [float(r[cpu]) for r in self.request]
        self.memory = [float(r[mem]) for r in self.request]

        def setting(name, defaults):
            if name not in table:
                return list(defaults)
            return [float(v) if math.isfinite(v) else d
                    for v, d in zip(table[name].to_numpy(np.float64), defaults)]

        self.cpu_shares = setting("cpu_shares", [CPU_SHARES_PER_VCPU * v for v in self.vcpus])
        self.cpu_reservation = setting("cpu_reservation", [0.0] * n)
        self.cpu_limit = setting("cpu_limit", self.vcpus)
        self.memory_shares = setting("memory_shares",
                                     [MEMORY_SHARES_PER_MIB * m for m in self.memory])
        self.memory_reservation = setting("memory_reservation", [0.0] * n)
        self.memory_limit = setting("memory_limit", self.memory)
        self.cpu_model = CPU[self.models.cpu.name]
        self.memory_model = MEMORY[self.models.memory.name]
        self.parameters = dict(self.models.parameters)
        if self.models.memory.name == "none":
            self.parameters["sharing"] = 0.0

    def _read_hosts(self, fleet):
        if self.models is None:
            return
        cpu, mem = fleet.resources.index("VCPU"), fleet.resources.index("MEMORY_MB")
        self.cpu_capacity = [float(fleet.total[h, cpu] - fleet.reserved[h, cpu])
                             for h in range(self.n_hosts)]
        self.guest_memory = [float(fleet.total[h, mem] - fleet.reserved[h, mem])
                             for h in range(self.n_hosts)]
        self.host_memory = [float(fleet.total[h, mem]) for h in range(self.n_hosts)]
        self.power = list(fleet.power_models())

    def _add_controller(self, controller):
        if controller.name == "maintenance":
            for window, (start_s, hosts, downtime_s) in enumerate(controller.windows):
                first = len(self.drains)
                for host in hosts:
                    self.drains.append({"host": int(host), "start_s": float(start_s),
                                        "down_s": None, "up_s": None, "migrations": 0,
                                        "unplaceable": [], "downtime_s": float(downtime_s),
                                        "state": "scheduled"})
                self.push(float(start_s), HOST_STATE, "drain",
                          (first, len(self.drains), float(controller.migration_s)))
        elif controller.name == "failures":
            for time_s, host, repair_s in controller.schedule(self.n_hosts, self.duration_s):
                self.push(float(time_s), HOST_STATE, "failure",
                          (int(host), float(repair_s), bool(controller.restart),
                           float(controller.restart_delay_s)))
        else:
            raise InvalidRequest(f"the reference has no controller {shown(controller.name)}")

    def push(self, time, priority, kind, payload):
        heapq.heappush(self.queue, (time, priority, self.sequence, kind, payload))
        self.sequence += 1

    # ------------------------------------------------------------ the loop

    def run(self, until_s=None):
        """Handle every event with time < until_s (default and at most: duration_s)."""
        limit = self.duration_s if until_s is None else min(float(until_s), self.duration_s)
        while self.queue and self.queue[0][0] < limit:
            time, _, _, kind, payload = heapq.heappop(self.queue)
            self._advance(time, splits=kind in ("migration_done", "failure", "drain",
                                                "host_up", "repair"))
            self.now = time
            self.handlers[kind](payload)
        self.now = max(self.now, limit)
        if limit >= self.duration_s:
            self._advance(math.inf, splits=False)  # the last tick, to its end
        return self.results()

    def _advance(self, time, splits):
        """Measure what the open tick held before an event at `time` changes it."""
        if self.tick is None:
            return
        if time >= self.tick_end:
            self._measure(self.piece_start, self.tick_end)
            self.tick = None
        elif splits and time > self.piece_start:
            self._measure(self.piece_start, time)
            self.piece_start = time

    # ------------------------------------------------------------ handlers

    def _on_departure(self, row):
        if self.status[row] not in (RUNNING, MIGRATING):
            return
        hosts = [self.host[row]]
        if self.status[row] == MIGRATING:
            target, target_handle, _ = self.migration[row]
            self._release(target_handle)
            self.migration[row] = None
            hosts.append(target)
        self._release(self.handle[row])
        self.handle[row] = None
        self.status[row] = DONE
        self.counts["departures"] += 1
        for host in hosts:
            self._maybe_down(host)

    def _on_drain(self, payload):
        first, stop, migration_s = payload
        records = self.drains[first:stop]
        record_of = {}
        for record in records:
            record["state"] = "draining"
            self._hold(record["host"], +1)
            record_of.setdefault(record["host"], record)
        for row in range(self.n):
            if self.status[row] != RUNNING or self.host[row] not in record_of:
                continue
            record = record_of[self.host[row]]
            try:
                target = self.placer.select(self.request[row], self.labels[row], self.group[row])
            except NoValidHost:
                record["unplaceable"].append(self.vm_id[row])
                continue
            self._start_migration(row, target, migration_s)
            record["migrations"] += 1
        for host in record_of:
            self._maybe_down(host)

    def _on_host_up(self, index):
        record = self.drains[index]
        record["state"] = "up"
        record["up_s"] = self.now
        self._hold(record["host"], -1)

    def _on_failure(self, payload):
        host, repair_s, restart, restart_delay_s = payload
        self._hold(host, +1)
        self.push(self.now + repair_s, HOST_STATE, "repair", host)
        emptied = {host}
        lost = []
        for row in range(self.n):
            if self.status[row] == RUNNING and self.host[row] == host:
                self._release(self.handle[row])
                lost.append(row)
            elif self.status[row] == MIGRATING:
                target, target_handle, _ = self.migration[row]
                if self.host[row] == host:       # its source fails: lost
                    self._release(self.handle[row])
                    self._release(target_handle)
                    self.migration[row] = None
                    emptied.add(target)
                    lost.append(row)
                elif target == host:             # its target fails: abandoned
                    self._release(target_handle)
                    self.migration[row] = None
                    self.status[row] = RUNNING
        for row in lost:
            self.status[row] = LOST
            self.handle[row] = None
            self.measured.pop(row, None)
            self.losses[row].append([self.now, None])
            if restart:
                self.push(self.now + restart_delay_s, ARRIVAL, "restart", row)
        for h in sorted(emptied):
            self._maybe_down(h)

    def _on_repair(self, host):
        self._hold(host, -1)

    def _on_migration_done(self, payload):
        row, migration_id = payload
        if self.migration[row] is None or self.migration[row][2] != migration_id:
            return  # abandoned, or the VM departed or was lost
        target, target_handle, _ = self.migration[row]
        source = self.host[row]
        self._release(self.handle[row])
        self.handle[row], self.host[row] = target_handle, target
        self.migration[row] = None
        self.status[row] = RUNNING
        self.migrations_done[row] += 1
        self.counts["migrations"] += 1
        if row in self.measured:
            self.measured[row] = target
        self._maybe_down(source)

    def _on_arrival(self, row):
        self.counts["arrivals"] += 1
        try:
            host, handle = self._place(row)
        except NoValidHost as error:
            self.status[row] = REJECTED
            if error.eliminated:
                self.rejected_by[row] = max(error.eliminated.items(), key=lambda kv: kv[1])[0]
            return
        self.status[row], self.host[row], self.handle[row] = RUNNING, host, handle
        self.touched[row] = 0.0
        if self.end[row] == self.start[row]:  # placed and freed at once
            self._release(handle)
            self.handle[row] = None
            self.status[row] = DONE

    def _on_restart(self, row):
        if self.status[row] != LOST or self.now >= self.end[row]:
            return
        try:
            host, handle = self._place(row)
        except NoValidHost:
            return
        self.status[row], self.host[row], self.handle[row] = RUNNING, host, handle
        self.touched[row] = 0.0
        self.restarts[row] += 1
        self.restarted += 1
        self.losses[row][-1][1] = self.now

    def _on_tick(self, k):
        t = k * self.tick_s
        self.measured = {row: self.host[row] for row in range(self.n)
                         if self.status[row] in (RUNNING, MIGRATING)}
        rows = sorted(self.measured)
        for row in rows:
            self.ticks_measured[row] += 1
        self.demand, self.active = {}, {}
        if self.models is not None and rows:
            cpu = self.workload.cpu.sample(np.array(rows, np.int64), t)
            memory = self.workload.memory.sample(np.array(rows, np.int64), t)
            for i, row in enumerate(rows):
                self.demand[row] = float(cpu[i]) * self.vcpus[row]
                self.active[row] = float(memory[i]) * self.memory[row]
        self.tick = dict.fromkeys(TICK_COLUMNS, 0.0)
        self.tick.update(time_s=t, vms=len(rows), **self.counts)
        self.tick_rows.append(self.tick)
        self.counts = dict.fromkeys(self.counts, 0)
        self.piece_start, self.tick_end = t, (k + 1) * self.tick_s
        if (k + 1) * self.tick_s < self.duration_s:
            self.push((k + 1) * self.tick_s, TICK, "tick", k + 1)

    # ------------------------------------------------------------ measuring one piece

    def _measure(self, start, end):
        length = end - start
        if length <= 0:
            return
        weight = length / self.tick_s
        tick = self.tick
        on_host = defaultdict(list)
        for row in sorted(self.measured):
            on_host[self.measured[row]].append(row)
        if self.models is not None:      # hosts without measured VMs: idle if on, else off
            allocated = {record.host for record in self.placer.fleet.vms.values()}
            for host in range(self.n_hosts):
                if host not in on_host and not (self.holds[host] > 0
                                                and host not in allocated):
                    model = self.power[host]
                    tick["power_w"] += power_w(model.kind, model.watts, 0.0) * weight
        for host in sorted(on_host):
            rows = on_host[host]
            tick["hosts_in_use"] += weight
            if self.models is None:
                continue
            demand = [self.demand[r] for r in rows]
            limit = [self.cpu_limit[r] for r in rows]
            granted = self.cpu_model(self.cpu_capacity[host], demand,
                                     [self.cpu_shares[r] for r in rows],
                                     [self.cpu_reservation[r] for r in rows], limit)
            active = [self.active[r] for r in rows]
            memory = [self.memory[r] for r in rows]
            touched, resident, state, _, _ = self.memory_model(
                self.guest_memory[host], self.host_memory[host], self.parameters, memory,
                active, [self.memory_reservation[r] for r in rows],
                [self.memory_limit[r] for r in rows], [self.memory_shares[r] for r in rows],
                [self.touched[r] for r in rows])
            for i, row in enumerate(rows):
                self.touched[row] = touched[i]
                totals = self.totals[row]
                capped = min(demand[i], limit[i])
                totals[0] += granted[i] * length
                if capped > granted[i]:
                    ready = (capped - granted[i]) * length
                    totals[1] += ready
                    tick["ready_core_s"] += ready
                    if capped - granted[i] > CONTENTION_TOLERANCE * capped:
                        totals[7] += length     # short by more than solver error
                totals[2] += (demand[i] - capped) * length
                if touched[i] > resident[i]:
                    parts = split(touched[i] - resident[i], memory[i], state >= HARD,
                                  self.parameters)
                    for j, amount in enumerate(parts):
                        totals[3 + j] += amount * length
                    totals[6] += max(0.0, min(active[i], touched[i]) - resident[i]) * length
                tick["cpu_demand_cores"] += capped * weight
                tick["cpu_granted_cores"] += granted[i] * weight
            tick[STATE_COLUMNS[state]] += weight
            capacity = self.cpu_capacity[host]
            used = min(1.0, max(0.0, sum(granted) / capacity)) if capacity > 0 else 0.0
            model = self.power[host]
            tick["power_w"] += power_w(model.kind, model.watts, used) * weight

    # ------------------------------------------------------------ allocations and hosts

    def _place(self, row):
        return self.placer.place(self.request[row], self.labels[row], self.group[row],
                                 self.tenant[row])

    def _allocate(self, row, host):
        handle = self.fleet.allocate(host, self.request[row], self.tenant[row])
        if self.group[row] is not None:
            self.placer.vm_group[handle] = self.group[row]
        return handle

    def _release(self, handle):
        self.placer.release(handle)

    def _hold(self, host, change):
        self.holds[host] += change
        if self.holds[host] > 0:
            self.fleet.not_admitting.add(host)
        else:
            self.fleet.not_admitting.discard(host)

    def _maybe_down(self, host):
        """A draining host that holds no allocation goes down now, up after its downtime."""
        if self.fleet.host_vm_count(host):
            return
        for index, record in enumerate(self.drains):
            if record["host"] == host and record["state"] == "draining":
                record["state"] = "down"
                record["down_s"] = self.now
                self.push(self.now + record["downtime_s"], HOST_STATE, "host_up", index)

    def _start_migration(self, row, host, duration_s):
        handle = self._allocate(row, host)
        self.next_migration_id += 1
        self.migration[row] = (host, handle, self.next_migration_id)
        self.status[row] = MIGRATING
        self.push(self.now + duration_s, MIGRATION, "migration_done",
                  (row, self.next_migration_id))

    def start_migration(self, row, host, duration_s):
        """Start migrating workload row `row` (running) to `host` now; it completes after
        duration_s seconds."""
        if not 0 <= row < self.n or self.status[row] != RUNNING:
            raise InvalidRequest(f"row {row} is not a running VM")
        if not 0 <= host < self.n_hosts or host == self.host[row]:
            raise InvalidRequest(f"host {host} is not another host of the fleet")
        if host in self.fleet.not_admitting:
            raise InvalidRequest(f"host {host} does not admit")
        duration_s = float(duration_s)
        if not math.isfinite(duration_s) or duration_s < 0:
            raise InvalidRequest(f"duration_s = {duration_s} must be finite and >= 0")
        self._start_migration(row, host, duration_s)

    def drain(self, hosts, downtime_s, migration_s):
        """Drain `hosts` now, as a maintenance window starting now would."""
        first = len(self.drains)
        for host in hosts:
            self.drains.append({"host": int(host), "start_s": self.now, "down_s": None,
                                "up_s": None, "migrations": 0, "unplaceable": [],
                                "downtime_s": float(downtime_s), "state": "scheduled"})
        self._on_drain((first, len(self.drains), float(migration_s)))

    def fail(self, host, repair_s, restart=False, restart_delay_s=0.0):
        """Host `host` fails now, as a failure event now would (splitting the open tick)."""
        self._advance(self.now, splits=True)
        self._on_failure((int(host), float(repair_s), bool(restart), float(restart_delay_s)))

    # ------------------------------------------------------------ results

    def _downtime(self, row):
        stop = min(self.end[row], self.duration_s) if math.isfinite(self.end[row]) \
            else self.duration_s
        return sum((back if back is not None else stop) - lost
                   for lost, back in self.losses[row])

    def results(self):
        vms = pd.DataFrame({"vm_id": self.vm_id, "status": self.status, "host": self.host,
                            "rejected_by": pd.Series(self.rejected_by, dtype=object)})
        vms["host"] = vms["host"].astype(np.int64)
        for j, name in enumerate(VM_TOTALS):
            vms[name] = [totals[j] for totals in self.totals]
        vms["ticks"] = np.array(self.ticks_measured, np.int64)
        vms["migrations"] = np.array(self.migrations_done, np.int64)
        vms["downtime_s"] = [float(self._downtime(row)) for row in range(self.n)]
        vms["restarts"] = np.array(self.restarts, np.int64)
        ticks = pd.DataFrame([dict(row) for row in self.tick_rows], columns=list(TICK_COLUMNS))
        for name in ("vms", "arrivals", "departures", "migrations"):
            ticks[name] = ticks[name].astype(np.int64)
        drains = [{key: (list(value) if key == "unplaceable" else value)
                   for key, value in record.items()
                   if key in ("host", "start_s", "down_s", "up_s", "migrations", "unplaceable")}
                  for record in self.drains]
        failures = {"lost": int((vms["status"] == LOST).sum()), "restarted": self.restarted,
                    "downtime_s": float(vms["downtime_s"].sum())}
        return ReferenceResults(vms, ticks, drains, failures)
