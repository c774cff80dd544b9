"""Accounting of one simulation tick (Numba): per-VM totals, per-host totals, fleet series.

All quantities are exact sums over VMs and ticks: core-seconds for CPU, MiB-seconds for memory.
"""

import numpy as np
from vmsched.engine.jit import allocating, kernel

from vmsched.engine.models.kernels_cpu import fair_share, proportional
from vmsched.engine.models.kernels_host import CPU_SHARES_PER_VCPU, MEMORY_SHARES_PER_MIB
from vmsched.engine.models.kernels_memory import HARD, esxi, no_reclamation, split_non_resident
from vmsched.engine.simulation.kernels_utilization import SECONDS_PER_SLOT, SLOTS_PER_DAY, unit_noise

# Per-VM totals (columns of `totals`, one row per VM so that a VM's totals share a cache line).
# (The capped demand is used + ready: ready = D - granted, exactly.)
USED, READY, THROTTLED, BALLOONED, COMPRESSED, SWAPPED, STALL, CONTENTION = range(8)
N_VM_TOTALS = 8
VM_TOTAL_NAMES = ("used_core_s", "ready_core_s", "throttled_core_s", "ballooned_mib_s",
                  "compressed_mib_s", "swapped_mib_s", "stall_mib_s", "contention_s")

# Per-host totals.
H_UTILIZATION, H_BUSY_TICKS, H_MAX_CONTENTION, H_READY = range(4)
N_HOST_TOTALS = 4
HOST_TOTAL_NAMES = ("utilization_sum", "busy_ticks", "max_contention", "ready_core_s")

# Fleet series, one row per tick.
(S_TIME, S_VMS, S_HOSTS_IN_USE, S_ARRIVALS, S_DEPARTURES, S_REJECTED, S_DEMAND, S_GRANTED,
 S_CAPACITY_IN_USE, S_READY, S_HIGH, S_CLEAR, S_SOFT, S_HARD, S_LOW, S_BALLOONED,
 S_COMPRESSED, S_SWAPPED, S_STALL, S_BLOCKED) = range(20)
N_SERIES = 20
SERIES_NAMES = ("time_s", "vms", "hosts_in_use", "arrivals", "departures", "rejected_total",
                "cpu_demand_cores", "cpu_granted_cores", "cpu_capacity_in_use_cores",
                "ready_core_s", "hosts_high", "hosts_clear", "hosts_soft", "hosts_hard",
                "hosts_low", "ballooned_mib", "compressed_mib", "swapped_mib", "stall_mib",
                "hosts_blocked")


@kernel
def _add_vms(slots, tick_s, demand, cpu_limit, granted, memory, active, touched, resident,
             compress, params, totals, ticks_present, series):
    """Add one host's tick to its VMs' totals (rows `slots` of totals); returns the host's
    ready core-seconds. (Called once per host: a per-VM call passing arrays costs more than
    the work.)"""
    host_ready = 0.0
    for i in range(slots.shape[0]):
        slot = slots[i]
        capped = min(demand[i], cpu_limit[i])
        totals[slot, USED] += granted[i] * tick_s
        ticks_present[slot] += 1
        # Most VMs most ticks: no ready time, no limit hit, all memory resident.
        if capped > granted[i]:
            ready_s = (capped - granted[i]) * tick_s
            totals[slot, READY] += ready_s
            totals[slot, CONTENTION] += tick_s
            host_ready += ready_s
        if demand[i] > capped:
            totals[slot, THROTTLED] += (demand[i] - capped) * tick_s
        if touched[i] > resident[i]:
            ballooned, compressed, swapped = split_non_resident(touched[i], resident[i],
                                                                memory[i], compress, params)
            stall = max(0.0, min(active[i], touched[i]) - resident[i])
            totals[slot, BALLOONED] += ballooned * tick_s
            totals[slot, COMPRESSED] += compressed * tick_s
            totals[slot, SWAPPED] += swapped * tick_s
            totals[slot, STALL] += stall * tick_s
            series[S_BALLOONED] += ballooned
            series[S_COMPRESSED] += compressed
            series[S_SWAPPED] += swapped
            series[S_STALL] += stall
    return host_ready


@kernel
def _add_host(h, n_vms, capacity, granted, demand, ready_s, state, blocked, host_totals,
              host_state_ticks, series):
    """Add one host's tick to its totals and to the fleet series."""
    contention = demand / capacity if capacity > 0 else 0.0
    host_totals[H_UTILIZATION, h] += granted / capacity if capacity > 0 else 0.0
    host_totals[H_BUSY_TICKS, h] += 1.0
    host_totals[H_MAX_CONTENTION, h] = max(host_totals[H_MAX_CONTENTION, h], contention)
    host_totals[H_READY, h] += ready_s
    host_state_ticks[h, state] += 1
    series[S_DEMAND] += demand
    series[S_GRANTED] += granted
    series[S_CAPACITY_IN_USE] += capacity
    series[S_READY] += ready_s
    series[S_HIGH + state] += 1.0
    series[S_HOSTS_IN_USE] += 1.0
    series[S_VMS] += n_vms
    if blocked:
        series[S_BLOCKED] += 1.0


@kernel
def accumulate(rows, host_start, tick_s, demand, cpu_limit, granted, memory, active, touched,
               resident, params, host_granted, host_demand, cpu_capacity, host_state,
               host_blocked, totals, ticks_present, host_totals, host_state_ticks, series):
    """Add one tick. rows[i] is where layout position i's totals go (its VM slot); the memory split
    (ballooned, compressed, swapped) and the stall are derived here exactly as the esxi kernel
    made them (split_non_resident)."""
    n_hosts = host_start.shape[0] - 1
    for h in range(n_hosts):
        first, stop = host_start[h], host_start[h + 1]
        if stop == first:
            continue
        capacity = cpu_capacity[h]
        compress = host_state[h] >= HARD
        host_ready = _add_vms(rows[first:stop], tick_s, demand[first:stop],
                              cpu_limit[first:stop], granted[first:stop], memory[first:stop],
                              active[first:stop], touched[first:stop], resident[first:stop],
                              compress, params, totals, ticks_present, series)
        _add_host(h, stop - first, capacity, host_granted[h], host_demand[h], host_ready,
                  host_state[h], host_blocked[h], host_totals, host_state_ticks, series)


# ---------------------------------------------------------------- the fused simulation tick
#
# The simulation keeps its VMs in host segments that it updates in place: host h owns
# positions h * cap .. h * cap + count[h] - 1 of every per-position array; an arrival is
# appended to its host's segment, a departure is replaced by the segment's last VM. Nothing
# is rebuilt per tick, and one pass per host samples utilisation, runs the host models and
# adds the tick to the totals.

CONSTANT, TRACE, SYNTHETIC = 0, 1, 2


@kernel
def update_segments(removed, added, added_host, added_row, added_vcpus, added_memory, cap,
                    count, pos_slot, pos_row, vcpus, memory, touched, slot_pos):
    """Remove the VMs in slots `removed`, then append `added` (the caller made sure that
    every segment has room)."""
    for k in range(removed.shape[0]):
        p = slot_pos[removed[k]]
        h = p // cap
        last = h * cap + count[h] - 1
        if p != last:
            pos_slot[p] = pos_slot[last]
            pos_row[p] = pos_row[last]
            vcpus[p] = vcpus[last]
            memory[p] = memory[last]
            touched[p] = touched[last]
            slot_pos[pos_slot[p]] = p
        count[h] -= 1
        slot_pos[removed[k]] = -1
    for k in range(added.shape[0]):
        h = added_host[k]
        p = h * cap + count[h]
        pos_slot[p] = added[k]
        pos_row[p] = added_row[k]
        vcpus[p] = added_vcpus[k]
        memory[p] = added_memory[k]
        touched[p] = 0.0
        slot_pos[added[k]] = p
        count[h] += 1


@kernel
def _sample(kind, rows, t, tick, values, offsets, start_s, step_s, level, profile, noise_cv,
            seed, size, out):
    """out[i] = size[i] x the utilisation of workload row rows[i] at time t, from a constant,
    trace or synthetic source (the formulas of kernels_utilization)."""
    if kind == CONSTANT:
        for i in range(rows.shape[0]):
            out[i] = size[i] * values[rows[i]]
    elif kind == TRACE:
        for i in range(rows.shape[0]):
            row = rows[i]
            length = offsets[row + 1] - offsets[row]
            if length <= 0:
                out[i] = 0.0
            else:
                k = int(max(0.0, t - start_s[row]) // step_s) % length
                out[i] = size[i] * values[offsets[row] + k]
    else:
        pattern = 1.0 + profile[tick % SLOTS_PER_DAY]
        for i in range(rows.shape[0]):
            row = rows[i]
            value = level[row] * (pattern + noise_cv * unit_noise(seed, row, tick))
            out[i] = size[i] * min(1.0, max(0.0, value))


@allocating
def simulation_tick(t, tick_s, cpu_model, memory_model, params, cap, count, pos_slot, pos_row,
                    vcpus, memory, touched, cpu_level, memory_level, cpu_capacity, guest_memory,
                    host_memory, cpu_kind, cpu_values, cpu_offsets, cpu_start, cpu_step,
                    cpu_levels, cpu_profile, cpu_noise, cpu_seed, mem_kind, mem_values,
                    mem_offsets, mem_start, mem_step, mem_levels, mem_profile, mem_noise,
                    mem_seed, totals, ticks_present, host_totals, host_state_ticks, series):
    """One tick of every host with VMs (default scheduling settings): utilisation, the CPU and
    memory models, and the accounting. touched is updated in place. Allocates one host's
    worth of per-VM scratch (cap VMs) and runs _simulation_hosts."""
    work = np.empty((4, cap))
    zeros = np.zeros(cap)
    scratch = np.empty((7, cap))
    _simulation_hosts(work, zeros, scratch, t, tick_s, cpu_model, memory_model, params, cap,
                      count, pos_slot, pos_row, vcpus, memory, touched, cpu_level,
                      memory_level, cpu_capacity, guest_memory, host_memory, cpu_kind,
                      cpu_values, cpu_offsets, cpu_start, cpu_step, cpu_levels, cpu_profile,
                      cpu_noise, cpu_seed, mem_kind, mem_values, mem_offsets, mem_start,
                      mem_step, mem_levels, mem_profile, mem_noise, mem_seed, totals,
                      ticks_present, host_totals, host_state_ticks, series)


@kernel
def _simulation_hosts(work, zeros, scratch, t, tick_s, cpu_model, memory_model, params, cap,
                      count, pos_slot, pos_row, vcpus, memory, touched, cpu_level,
                      memory_level, cpu_capacity, guest_memory, host_memory, cpu_kind,
                      cpu_values, cpu_offsets, cpu_start, cpu_step, cpu_levels, cpu_profile,
                      cpu_noise, cpu_seed, mem_kind, mem_values, mem_offsets, mem_start,
                      mem_step, mem_levels, mem_profile, mem_noise, mem_seed, totals,
                      ticks_present, host_totals, host_state_ticks, series):
    """simulation_tick's work. work[0..3]: one host's demand, active memory, grants and
    resident memory; zeros: cap 0.0 (read only); scratch: the memory solver's."""
    tick = np.int64(t // SECONDS_PER_SLOT)
    demand = work[0]
    active = work[1]
    granted = work[2]
    resident = work[3]
    for h in range(count.shape[0]):
        n = count[h]
        if n == 0:
            continue
        first = h * cap
        stop = first + n
        rows = pos_row[first:stop]
        _sample(cpu_kind, rows, t, tick, cpu_values, cpu_offsets, cpu_start, cpu_step,
                cpu_levels, cpu_profile, cpu_noise, cpu_seed, vcpus[first:stop], demand[:n])
        _sample(mem_kind, rows, t, tick, mem_values, mem_offsets, mem_start, mem_step,
                mem_levels, mem_profile, mem_noise, mem_seed, memory[first:stop], active[:n])
        if cpu_model == 0:
            used, wanted = fair_share(cpu_capacity[h], demand[:n], vcpus[first:stop],
                                      CPU_SHARES_PER_VCPU, zeros[:n], vcpus[first:stop],
                                      granted[:n], cpu_level[h:h + 1])
        else:
            used, wanted = proportional(cpu_capacity[h], demand[:n], vcpus[first:stop],
                                        CPU_SHARES_PER_VCPU, zeros[:n], vcpus[first:stop],
                                        granted[:n], cpu_level[h:h + 1])
        if memory_model == 0:
            state, free, blocked = esxi(
                guest_memory[h], host_memory[h], params, memory[first:stop], active[:n],
                zeros[:n], memory[first:stop], memory[first:stop], MEMORY_SHARES_PER_MIB,
                touched[first:stop], touched[first:stop], resident[:n], scratch[:, :n],
                memory_level[h:h + 1])
        else:
            state, free, blocked = no_reclamation(
                guest_memory[h], host_memory[h], params, memory[first:stop], active[:n],
                zeros[:n], memory[first:stop], memory[first:stop], MEMORY_SHARES_PER_MIB,
                touched[first:stop], touched[first:stop], resident[:n], scratch[:, :n],
                memory_level[h:h + 1])
        host_ready = _add_vms(pos_slot[first:stop], tick_s, demand[:n], vcpus[first:stop],
                              granted[:n], memory[first:stop], active[:n],
                              touched[first:stop], resident[:n], state >= HARD, params,
                              totals, ticks_present, series)
        _add_host(h, n, cpu_capacity[h], used, wanted, host_ready, state, blocked, host_totals,
                  host_state_ticks, series)


@kernel
def collect(rows, slots, totals, ticks_present, slot_totals, slot_ticks):
    """Move the totals of VMs that left from their slots to their rows (and clear the slots)."""
    for k in range(rows.shape[0]):
        slot = slots[k]
        if slot >= slot_ticks.shape[0]:
            continue
        for j in range(totals.shape[1]):
            totals[rows[k], j] += slot_totals[slot, j]
            slot_totals[slot, j] = 0.0
        ticks_present[rows[k]] += slot_ticks[slot]
        slot_ticks[slot] = 0
