"""Accounting of one simulation tick (Numba): per-VM totals, per-host totals, fleet series.

All quantities are exact sums over VMs and ticks: core-seconds for CPU, MiB-seconds for memory.
"""

from numba import njit

from vmsched.engine.kernels_memory import HARD, split_non_resident

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


@njit(cache=True, nogil=True)
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
        host_ready = 0.0
        for i in range(first, stop):
            row = rows[i]
            capped = min(demand[i], cpu_limit[i])
            totals[row, USED] += granted[i] * tick_s
            ticks_present[row] += 1
            # Most VMs most ticks: no ready time, no limit hit, all memory resident.
            if capped > granted[i]:
                ready = capped - granted[i]
                totals[row, READY] += ready * tick_s
                totals[row, CONTENTION] += tick_s
                host_ready += ready * tick_s
            if demand[i] > capped:
                totals[row, THROTTLED] += (demand[i] - capped) * tick_s
            if touched[i] > resident[i]:
                ballooned, compressed, swapped = split_non_resident(
                    touched[i], resident[i], memory[i], compress, params)
                stall = max(0.0, min(active[i], touched[i]) - resident[i])
                totals[row, BALLOONED] += ballooned * tick_s
                totals[row, COMPRESSED] += compressed * tick_s
                totals[row, SWAPPED] += swapped * tick_s
                totals[row, STALL] += stall * tick_s
                series[S_BALLOONED] += ballooned
                series[S_COMPRESSED] += compressed
                series[S_SWAPPED] += swapped
                series[S_STALL] += stall
        contention = host_demand[h] / capacity if capacity > 0 else 0.0
        host_totals[H_UTILIZATION, h] += host_granted[h] / capacity if capacity > 0 else 0.0
        host_totals[H_BUSY_TICKS, h] += 1.0
        host_totals[H_MAX_CONTENTION, h] = max(host_totals[H_MAX_CONTENTION, h], contention)
        host_totals[H_READY, h] += host_ready
        host_state_ticks[h, host_state[h]] += 1
        series[S_DEMAND] += host_demand[h]
        series[S_GRANTED] += host_granted[h]
        series[S_CAPACITY_IN_USE] += capacity
        series[S_READY] += host_ready
        series[S_HIGH + host_state[h]] += 1.0
        series[S_HOSTS_IN_USE] += 1.0
        series[S_VMS] += stop - first
        if host_blocked[h]:
            series[S_BLOCKED] += 1.0
