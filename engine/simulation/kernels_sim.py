"""The simulation's per-tick kernels (Numba): the layout of measured VMs, and one piece of a
tick (sampling, the host models, the accounting) over every host in parallel.

The layout keeps the measured VMs in per-host segments of `cap` positions: host h owns
positions h * cap .. h * cap + count[h] - 1 of every per-position array; a VM is appended to
its host's segment, and a removed VM is replaced by the segment's last one. Nothing is rebuilt
per tick, and one pass per host samples utilisation, runs the CPU and memory models and adds
the piece to the totals.

All quantities are exact sums over VMs and pieces of ticks: core-seconds for CPU, MiB-seconds
for memory, joules for energy; per-tick series are time-weighted means over a tick's pieces.
A host draws the power of its model at its utilisation (CPU granted / capacity); one that is
on without measured VMs draws its idle power, one that is off (held by a drain or a failure
and holding no allocation) none.

Hosts are cut into a fixed number of chunks of contiguous hosts holding about as many VMs
each (the cut depends on the layout only); each chunk owns its scratch and its row of
per-chunk series, and each host its per-position and per-host outputs, so results do not
depend on how many threads run the chunks, and threads share the work evenly.
"""

import numpy as np
from numba import prange

from vmsched.engine.jit import kernel, parallel_kernel
from vmsched.engine.models.kernels_cpu import fair_share, proportional
from vmsched.engine.models.kernels_host import CPU_SHARES_PER_VCPU, MEMORY_SHARES_PER_MIB
from vmsched.engine.models.kernels_memory import HARD, esxi, no_reclamation, split_non_resident
from vmsched.engine.models.kernels_power import power_at
from vmsched.engine.simulation.kernels_utilization import SECONDS_PER_SLOT, SLOTS_PER_DAY, unit_noise

# Per-VM totals (columns of `totals`, one row per VM or position).
# (The capped demand is used + ready: ready = D - granted, exactly.)
USED, READY, THROTTLED, BALLOONED, COMPRESSED, SWAPPED, STALL, CONTENTION = range(8)
N_VM_TOTALS = 8
VM_TOTAL_NAMES = ("used_core_s", "ready_core_s", "throttled_core_s", "ballooned_mib_s",
                  "compressed_mib_s", "swapped_mib_s", "stall_mib_s", "contention_s")

#: A VM is in contention (its contention_s counts) when it is granted less than its capped
#: demand by more than this fraction of it: a water level solved to a relative 1e-10 may
#: leave a VM at its demand short by that much, which is no contention.
CONTENTION_TOLERANCE = 1e-9

# Per-host totals: utilisation x seconds, seconds measured, peak contention, ready core-s,
# energy (J: watts x seconds, also while on and empty).
H_UTILIZATION_S, H_BUSY_S, H_MAX_CONTENTION, H_READY, H_ENERGY_J = range(5)
N_HOST_TOTALS = 5

# Fleet series, one row per tick (time-weighted over the tick's pieces).
(S_TIME, S_VMS, S_HOSTS_IN_USE, S_ARRIVALS, S_DEPARTURES, S_REJECTED, S_DEMAND, S_GRANTED,
 S_CAPACITY_IN_USE, S_READY, S_HIGH, S_CLEAR, S_SOFT, S_HARD, S_LOW, S_BALLOONED,
 S_COMPRESSED, S_SWAPPED, S_STALL, S_BLOCKED, S_MIGRATIONS, S_LOST, S_POWER) = range(23)
N_SERIES = 23
SERIES_NAMES = ("time_s", "vms", "hosts_in_use", "arrivals", "departures", "rejected_total",
                "cpu_demand_cores", "cpu_granted_cores", "cpu_capacity_in_use_cores",
                "ready_core_s", "hosts_high", "hosts_clear", "hosts_soft", "hosts_hard",
                "hosts_low", "ballooned_mib", "compressed_mib", "swapped_mib", "stall_mib",
                "hosts_blocked", "migrations", "lost", "power_w")
#: Series the pieces add to (per chunk); the others are set once per tick by the caller.
N_PIECE_SERIES = N_SERIES

# Per-position scheduling settings (rows of `settings`), defaults filled in.
CPU_SHARES, CPU_RESERVATION, CPU_LIMIT, MEMORY_SHARES, MEMORY_RESERVATION, MEMORY_LIMIT = range(6)
N_SETTINGS = 6

# Statuses of a workload row that the layout holds (the VM table's; see _lifecycle.pyx).
RUNNING, MIGRATING = 1, 4

# Utilisation source kinds: constant per row, trace series, synthetic, or values sampled by
# Python beforehand (any other source), one per position.
CONSTANT, TRACE, SYNTHETIC, PRESAMPLED = 0, 1, 2, 3


def n_chunks_for(n_hosts):
    """How many chunks the hosts are cut into (a function of the fleet size only)."""
    return max(1, min(n_hosts, 256))


# ---------------------------------------------------------------- the layout

@kernel
def remove_rows(rows, cap, count, pos_row, vcpus, memory, touched, levels, settings, totals,
                ticks, position, row_totals, row_ticks):
    """Take rows out of the layout (rows not in it are skipped): their position totals go to
    their row totals; each segment's last VM fills the hole."""
    has_settings = settings.shape[1] > 0
    for k in range(rows.shape[0]):
        row = rows[k]
        p = position[row]
        if p < 0:
            continue
        for j in range(N_VM_TOTALS):
            row_totals[row, j] += totals[j, p]
        row_ticks[row] += ticks[p]
        h = p // cap
        last = h * cap + count[h] - 1
        if p != last:
            pos_row[p] = pos_row[last]
            vcpus[p] = vcpus[last]
            memory[p] = memory[last]
            touched[p] = touched[last]
            ticks[p] = ticks[last]
            for j in range(N_VM_TOTALS):
                totals[j, p] = totals[j, last]
            for j in range(2):
                levels[j, p] = levels[j, last]
            if has_settings:
                for j in range(settings.shape[0]):
                    settings[j, p] = settings[j, last]
            position[pos_row[p]] = p
        pos_row[last] = -1          # positions past a segment's count hold no VM
        ticks[last] = 0
        for j in range(N_VM_TOTALS):
            totals[j, last] = 0.0
        count[h] -= 1
        position[row] = -1


@kernel
def add_rows(rows, first, status, host, carried_touched, cap, count, pos_row, vcpus, memory,
             touched, levels, settings, totals, ticks, position, row_vcpus, row_memory,
             row_cpu_level, row_memory_level, row_settings):
    """Append rows[first:] to their hosts' segments, skipping rows that are not live
    (status running or migrating) or already in the layout; touched memory carried_touched[k]
    (or 0 when it is empty), zero totals, the rows' utilisation levels (an empty level array:
    0), settings with defaults where NaN. Stops at the first row whose segment is full and
    returns its index (len(rows) when all are done): the caller grows the segments and goes
    on from there."""
    has_settings = settings.shape[1] > 0
    for k in range(first, rows.shape[0]):
        row = rows[k]
        if position[row] >= 0 or (status[row] != RUNNING and status[row] != MIGRATING):
            continue
        h = host[row]
        if count[h] == cap:
            return k
        p = h * cap + count[h]
        count[h] += 1
        pos_row[p] = row
        vcpus[p] = row_vcpus[row]
        memory[p] = row_memory[row]
        touched[p] = carried_touched[k] if carried_touched.shape[0] > 0 else 0.0
        levels[0, p] = row_cpu_level[row] if row_cpu_level.shape[0] > 0 else 0.0
        levels[1, p] = row_memory_level[row] if row_memory_level.shape[0] > 0 else 0.0
        ticks[p] = 0
        for j in range(N_VM_TOTALS):
            totals[j, p] = 0.0
        position[row] = p
        if has_settings:
            defaults = (CPU_SHARES_PER_VCPU * row_vcpus[row], 0.0, row_vcpus[row],
                        MEMORY_SHARES_PER_MIB * row_memory[row], 0.0, row_memory[row])
            for j in range(N_SETTINGS):
                value = row_settings[row, j]
                settings[j, p] = defaults[j] if np.isnan(value) else value
    return rows.shape[0]


# ---------------------------------------------------------------- one piece of a tick

@kernel
def _sample(kind, rows, first, t, tick, level, values, offsets, start_s, step_s, profile,
            noise_cv, seed, size, out):
    """out[i] = size[i] x the utilisation of workload row rows[i] at time t (the formulas of
    kernels_utilization); level[i]: the row's constant value (CONSTANT) or synthetic level
    (SYNTHETIC), kept in the layout; PRESAMPLED: values[first + i] (one per position)."""
    if kind == CONSTANT:
        for i in range(rows.shape[0]):
            out[i] = size[i] * level[i]
    elif kind == TRACE:
        for i in range(rows.shape[0]):
            row = rows[i]
            length = offsets[row + 1] - offsets[row]
            if length <= 0:
                out[i] = 0.0
            else:
                k = int(max(0.0, t - start_s[row]) // step_s) % length
                out[i] = size[i] * values[offsets[row] + k]
    elif kind == SYNTHETIC:
        pattern = 1.0 + profile[tick % SLOTS_PER_DAY]
        for i in range(rows.shape[0]):
            value = level[i] * (pattern + noise_cv * unit_noise(seed, rows[i], tick))
            out[i] = size[i] * min(1.0, max(0.0, value))
    else:
        for i in range(rows.shape[0]):
            out[i] = size[i] * values[first + i]


@kernel
def _add_vms(first, n, dt, demand, limit, granted, memory, active, touched, resident,
             compress, params, totals, ticks, tick_count, series):
    """Add one host's piece to its positions' totals (and tick_count, 1 in a tick's first
    piece, to their ticks); returns the host's ready core-s."""
    host_ready = 0.0
    for i in range(n):
        p = first + i
        ticks[p] += tick_count
        capped = min(demand[i], limit[i])
        totals[USED, p] += granted[i] * dt
        # Most VMs most ticks: no ready time, no limit hit, all memory resident.
        if capped > granted[i]:
            ready_s = (capped - granted[i]) * dt
            totals[READY, p] += ready_s
            host_ready += ready_s
            if capped - granted[i] > CONTENTION_TOLERANCE * capped:
                totals[CONTENTION, p] += dt
        if demand[i] > capped:
            totals[THROTTLED, p] += (demand[i] - capped) * dt
        if touched[i] > resident[i]:
            ballooned, compressed, swapped = split_non_resident(touched[i], resident[i],
                                                                memory[i], compress, params)
            stall = max(0.0, min(active[i], touched[i]) - resident[i])
            totals[BALLOONED, p] += ballooned * dt
            totals[COMPRESSED, p] += compressed * dt
            totals[SWAPPED, p] += swapped * dt
            totals[STALL, p] += stall * dt
            series[S_BALLOONED] += ballooned * dt
            series[S_COMPRESSED] += compressed * dt
            series[S_SWAPPED] += swapped * dt
            series[S_STALL] += stall * dt
    return host_ready


@kernel
def _add_host(h, dt, capacity, granted, demand, ready_s, state, blocked, power_kind,
              power_points, host_totals, host_state_s, host_tick, series):
    """Add one host's piece to its totals and to its chunk's series (x dt seconds); its power
    at utilisation granted / capacity (clipped to [0, 1])."""
    contention = demand / capacity if capacity > 0 else 0.0
    utilisation = min(1.0, max(0.0, granted / capacity)) if capacity > 0 else 0.0
    watts = power_at(power_kind, power_points, utilisation)
    host_totals[H_ENERGY_J, h] += watts * dt
    series[S_POWER] += watts * dt
    host_totals[H_UTILIZATION_S, h] += (granted / capacity if capacity > 0 else 0.0) * dt
    host_totals[H_BUSY_S, h] += dt
    host_totals[H_MAX_CONTENTION, h] = max(host_totals[H_MAX_CONTENTION, h], contention)
    host_totals[H_READY, h] += ready_s
    host_state_s[h, state] += dt
    host_tick[0, h] += granted * dt
    host_tick[1, h] += demand * dt
    series[S_DEMAND] += demand * dt
    series[S_GRANTED] += granted * dt
    series[S_CAPACITY_IN_USE] += capacity * dt
    series[S_READY] += ready_s
    series[S_HIGH + state] += dt
    series[S_HOSTS_IN_USE] += dt
    if blocked:
        series[S_BLOCKED] += dt


@parallel_kernel
def measure_piece(t, dt, first_piece, models, layout, hosts, cpu_source, memory_source,
                  accounts, scratch, series_out, scale):
    """Measure [t_piece, t_piece + dt) of the tick that started at t, on every host with
    measured VMs: demand and active memory sampled at t, the CPU and memory models, the
    accounting; in the tick's first piece (first_piece), every measured VM's ticks + 1.

    models = (cpu_model 0 fair_share / 1 proportional, memory_model 0 esxi / 1 none, params);
    layout = (cap, count, pos_row, vcpus, memory, touched, levels [2, size]: the CPU and
              memory sources' per-row level, settings [6, size] or [6, 0], totals [8, size],
              ticks); touched is updated in place;
    hosts = (cpu_capacity cores, guest_memory MiB, host_memory MiB, cpu_level, memory_level,
             power_kind, power_points [n_hosts, 11], powered: 1 if the host is on); a host
             that is on and has no measured VM draws its idle power, one that is off none;
    a source = (kind, values, offsets, start_s, step_s, levels, daily_profile, noise_cv, seed),
               its per-row levels unused here (the layout's copy is read);
    accounts = (host_totals [4, n_hosts], host_state_s [n_hosts, 5], chunk_series
                [n_chunks, N_SERIES], host_tick [2, n_hosts]: granted and demanded cores),
                each value x seconds;
    scratch = (work [n_chunks, 4, cap], solver [n_chunks, 7, cap], zeros [cap],
               bounds int64 [n_chunks + 1]: the chunks' first hosts, written here);
    series_out: the tick's row of fleet series, to which the chunks' series are added x scale
    (sum_chunks: 1 / tick_s, a time-weighted mean), in chunk order."""
    cpu_model, memory_model, params = models
    cap, count, pos_row, vcpus, memory, touched, levels, settings, totals, ticks = layout
    (cpu_capacity, guest_memory, host_memory, cpu_level, memory_level, power_kind,
     power_points, powered) = hosts
    host_totals, host_state_s, chunk_series, host_tick = accounts
    work, solver, zeros, bounds = scratch
    (cpu_kind, cpu_values, cpu_offsets, cpu_start, cpu_step, _, cpu_profile,
     cpu_noise, cpu_seed) = cpu_source
    (mem_kind, mem_values, mem_offsets, mem_start, mem_step, _, mem_profile,
     mem_noise, mem_seed) = memory_source
    tick = np.int64(t // SECONDS_PER_SLOT)
    custom = settings.shape[1] > 0
    tick_count = 1 if first_piece else 0
    n_chunks = chunk_series.shape[0]
    _cut_chunks(count, bounds)
    for chunk in prange(n_chunks):
        series = chunk_series[chunk]
        demand = work[chunk, 0]
        active = work[chunk, 1]
        granted = work[chunk, 2]
        resident = work[chunk, 3]
        for h in range(bounds[chunk], bounds[chunk + 1]):
            n = count[h]
            if n == 0:
                if powered[h]:
                    idle = power_at(power_kind[h], power_points[h], 0.0)
                    host_totals[H_ENERGY_J, h] += idle * dt
                    series[S_POWER] += idle * dt
                continue
            first = h * cap
            stop = first + n
            rows = pos_row[first:stop]
            _sample(cpu_kind, rows, first, t, tick, levels[0, first:stop], cpu_values,
                    cpu_offsets, cpu_start, cpu_step, cpu_profile, cpu_noise, cpu_seed,
                    vcpus[first:stop], demand[:n])
            _sample(mem_kind, rows, first, t, tick, levels[1, first:stop], mem_values,
                    mem_offsets, mem_start, mem_step, mem_profile, mem_noise, mem_seed,
                    memory[first:stop], active[:n])
            # Settings: per position, or the defaults (1000 shares per vCPU, no reservation,
            # limit = vCPUs; 10 shares per MiB, no reservation, limit = configured MiB).
            if custom:
                cpu_shares, cpu_scale = settings[CPU_SHARES, first:stop], 0.0
                cpu_reservation = settings[CPU_RESERVATION, first:stop]
                cpu_limit = settings[CPU_LIMIT, first:stop]
                mem_shares, mem_scale = settings[MEMORY_SHARES, first:stop], 0.0
                mem_reservation = settings[MEMORY_RESERVATION, first:stop]
                mem_limit = settings[MEMORY_LIMIT, first:stop]
            else:
                cpu_shares, cpu_scale = vcpus[first:stop], CPU_SHARES_PER_VCPU
                cpu_reservation, cpu_limit = zeros[:n], vcpus[first:stop]
                mem_shares, mem_scale = memory[first:stop], MEMORY_SHARES_PER_MIB
                mem_reservation, mem_limit = zeros[:n], memory[first:stop]
            if cpu_model == 0:
                used, wanted = fair_share(cpu_capacity[h], demand[:n], cpu_shares, cpu_scale,
                                          cpu_reservation, cpu_limit, granted[:n],
                                          cpu_level[h:h + 1])
            else:
                used, wanted = proportional(cpu_capacity[h], demand[:n], cpu_shares,
                                            cpu_scale, cpu_reservation, cpu_limit,
                                            granted[:n], cpu_level[h:h + 1])
            if memory_model == 0:
                state, free, blocked = esxi(
                    guest_memory[h], host_memory[h], params, memory[first:stop], active[:n],
                    mem_reservation, mem_limit, mem_shares, mem_scale, touched[first:stop],
                    touched[first:stop], resident[:n], solver[chunk, :, :n],
                    memory_level[h:h + 1])
            else:
                state, free, blocked = no_reclamation(
                    guest_memory[h], host_memory[h], params, memory[first:stop], active[:n],
                    mem_reservation, mem_limit, mem_shares, mem_scale, touched[first:stop],
                    touched[first:stop], resident[:n], solver[chunk, :, :n],
                    memory_level[h:h + 1])
            host_ready = _add_vms(first, n, dt, demand, cpu_limit, granted,
                                  memory[first:stop], active, touched[first:stop], resident,
                                  state >= HARD, params, totals, ticks, tick_count,
                                  series)
            _add_host(h, dt, cpu_capacity[h], used, wanted, host_ready, state, blocked,
                      power_kind[h], power_points[h], host_totals, host_state_s, host_tick,
                      series)
    sum_chunks(chunk_series, scale, series_out)


@kernel
def _cut_chunks(count, bounds):
    """bounds[c] .. bounds[c + 1]: the hosts of chunk c, contiguous, each chunk carrying about
    the same weight (a host weighs its VMs plus one)."""
    n_hosts = count.shape[0]
    n_chunks = bounds.shape[0] - 1
    total = 0
    for h in range(n_hosts):
        total += count[h] + 1
    bounds[0] = 0
    c = 1
    acc = 0
    for h in range(n_hosts):
        acc += count[h] + 1
        while c < n_chunks and acc * n_chunks >= c * total:
            bounds[c] = h + 1
            c += 1
    while c <= n_chunks:
        bounds[c] = n_hosts
        c += 1


@kernel
def count_tick(cap, count, ticks):
    """A tick starts: every VM in the layout is measured in it once more (placement-only
    runs; with host models the tick's first piece counts)."""
    for h in range(count.shape[0]):
        for p in range(h * cap, h * cap + count[h]):
            ticks[p] += 1


@kernel
def sum_chunks(chunk_series, scale, out):
    """out[j] += sum over chunks (in chunk order) of chunk_series[c, j] x scale (x 1 for
    S_READY, a total); clears them."""
    for c in range(chunk_series.shape[0]):
        for j in range(chunk_series.shape[1]):
            out[j] += chunk_series[c, j] * (1.0 if j == S_READY else scale)
            chunk_series[c, j] = 0.0
