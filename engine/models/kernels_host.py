"""One tick of every host: vCPU scheduling then memory, in parallel over hosts (Numba).

VMs are laid out by host (CSR): the VMs of host h are positions host_start[h] ..
host_start[h + 1] of every per-VM array, so each host works on contiguous slices. Hosts are
cut into chunks that threads take (prange); a chunk owns its scratch and each host owns its
output slots, so the result does not depend on the number of threads.

Per-VM scheduling settings (shares, reservation, limit) are optional: pass empty arrays for
the defaults (CPU: 1000 shares per vCPU, reservation 0, limit = vCPUs; memory: 10 shares per
MiB, reservation 0, limit = configured memory).
"""

import numpy as np
from numba import prange

from vmsched.engine.jit import allocating, kernel, parallel_kernel

from vmsched.engine.models.kernels_cpu import fair_share, proportional
from vmsched.engine.models.kernels_memory import esxi, no_reclamation, split_non_resident, HARD

CPU_MODELS = ("fair_share", "proportional")
MEMORY_MODELS = ("esxi", "none")
CPU_SHARES_PER_VCPU = 1000.0
MEMORY_SHARES_PER_MIB = 10.0


@allocating
def tick(cpu_model, memory_model, host_start, cpu_capacity, guest_memory, host_memory, params,
         demand, vcpus, cpu_shares, cpu_reservation, cpu_limit,
         active, memory, memory_shares, memory_reservation, memory_limit,
         touched_before, touched, granted, resident, cpu_level, host_level,
         host_granted, host_demand, host_state, host_free, host_blocked):
    """Run the models on every host. cpu_model / memory_model index CPU_MODELS /
    MEMORY_MODELS. Per VM (layout order): demand, active and touched_before are inputs;
    touched (after the tick), granted (cores) and resident (MiB) are written. cpu_level and
    host_level carry each host's CPU and memory water levels from tick to tick (a solver's
    first guess only: results agree within the solvers' tolerance whatever the guess). Per
    host: sum of grants and of capped demands (cores), memory state, free MiB after
    reclamation, blocked. Allocates the solvers' scratch and runs _tick_hosts."""
    n_hosts = host_start.shape[0] - 1
    max_vms = 0
    for h in range(n_hosts):
        max_vms = max(max_vms, host_start[h + 1] - host_start[h])
    n_chunks = min(n_hosts, 1024)
    zeros = np.zeros(max_vms)
    scratch = np.empty((n_chunks, 7, max_vms))
    _tick_hosts(zeros, scratch, cpu_model, memory_model, host_start, cpu_capacity,
                guest_memory, host_memory, params, demand, vcpus, cpu_shares, cpu_reservation,
                cpu_limit, active, memory, memory_shares, memory_reservation, memory_limit,
                touched_before, touched, granted, resident, cpu_level, host_level,
                host_granted, host_demand, host_state, host_free, host_blocked)


@parallel_kernel
def _tick_hosts(zeros, scratch, cpu_model, memory_model, host_start, cpu_capacity,
                guest_memory, host_memory, params, demand, vcpus, cpu_shares, cpu_reservation,
                cpu_limit, active, memory, memory_shares, memory_reservation, memory_limit,
                touched_before, touched, granted, resident, cpu_level, host_level,
                host_granted, host_demand, host_state, host_free, host_blocked):
    """tick's work. zeros: at least as many 0.0 as the largest host has VMs (read only);
    scratch[chunk]: the memory solver's scratch for the hosts of one chunk."""
    n_hosts = host_start.shape[0] - 1
    n_chunks = scratch.shape[0]
    custom_cpu = cpu_shares.shape[0] > 0
    custom_memory = memory_shares.shape[0] > 0
    for chunk in prange(n_chunks):
        for h in range(chunk * n_hosts // n_chunks, (chunk + 1) * n_hosts // n_chunks):
            first = host_start[h]
            stop = host_start[h + 1]
            n = stop - first
            # vCPU scheduling. Defaults: 1000 shares per vCPU, no reservation, limit = vCPUs.
            if custom_cpu:
                shares, scale = cpu_shares[first:stop], 0.0
                reservation, limit = cpu_reservation[first:stop], cpu_limit[first:stop]
            else:
                shares, scale = vcpus[first:stop], CPU_SHARES_PER_VCPU
                reservation, limit = zeros[:n], vcpus[first:stop]
            if cpu_model == 0:
                used, wanted = fair_share(cpu_capacity[h], demand[first:stop], shares, scale,
                                          reservation, limit, granted[first:stop],
                                          cpu_level[h:h + 1])
            else:
                used, wanted = proportional(cpu_capacity[h], demand[first:stop], shares, scale,
                                            reservation, limit, granted[first:stop],
                                            cpu_level[h:h + 1])
            host_granted[h] = used
            host_demand[h] = wanted
            # Memory. Defaults: 10 shares per MiB, no reservation, limit = configured MiB.
            if custom_memory:
                shares, scale = memory_shares[first:stop], 0.0
                reservation, limit = memory_reservation[first:stop], memory_limit[first:stop]
            else:
                shares, scale = memory[first:stop], MEMORY_SHARES_PER_MIB
                reservation, limit = zeros[:n], memory[first:stop]
            if memory_model == 0:
                state, free, blocked = esxi(
                    guest_memory[h], host_memory[h], params, memory[first:stop],
                    active[first:stop], reservation, limit, shares, scale,
                    touched_before[first:stop], touched[first:stop], resident[first:stop],
                    scratch[chunk, :, :n], host_level[h:h + 1])
            else:
                state, free, blocked = no_reclamation(
                    guest_memory[h], host_memory[h], params, memory[first:stop],
                    active[first:stop], reservation, limit, shares, scale,
                    touched_before[first:stop], touched[first:stop], resident[first:stop],
                    scratch[chunk, :, :n], host_level[h:h + 1])
            host_state[h] = state
            host_free[h] = free
            host_blocked[h] = blocked


@parallel_kernel
def derive_memory(host_start, host_state, params, memory, active, touched, resident,
                  ballooned, compressed, swapped, shared, stall):
    """Per VM, from touched and resident: ballooned, compressed, swapped, shared MiB and the
    stall (active MiB not resident). Exactly the split the esxi kernel used."""
    n_hosts = host_start.shape[0] - 1
    for h in prange(n_hosts):
        compress = host_state[h] >= HARD
        for i in range(host_start[h], host_start[h + 1]):
            b, c, s = split_non_resident(touched[i], resident[i], memory[i], compress, params)
            ballooned[i] = b
            compressed[i] = c
            swapped[i] = s
            shared[i] = params[0] * resident[i]
            stall[i] = max(0.0, min(active[i], touched[i]) - resident[i])


@allocating
def build_layout(vm_host, n_hosts, vcpus_by_slot, memory_by_slot, generation_by_slot,
                 kept_by_slot, kept_generation):
    """VM handles grouped by host, ascending within a host (a counting sort of the live slots:
    vm_host[slot] is the slot's host, -1 when free), with their vCPUs, MiB and generation, and
    the value kept for each VM (kept_by_slot[slot] if kept_generation[slot] is the VM's
    generation, else 0: the touched memory of VMs that were there before).
    Returns (vms int64, host_start int64, vcpus, memory, generation int64, kept)."""
    counts = np.zeros(n_hosts + 1, np.int64)
    for slot in range(vm_host.shape[0]):
        if vm_host[slot] >= 0:
            counts[vm_host[slot] + 1] += 1
    for h in range(n_hosts):
        counts[h + 1] += counts[h]
    host_start = counts.copy()
    n = counts[n_hosts]
    vms = np.empty(n, np.int64)
    vcpus = np.empty(n)
    memory = np.empty(n)
    generation = np.empty(n, np.int64)
    kept = np.empty(n)
    for slot in range(vm_host.shape[0]):
        h = vm_host[slot]
        if h >= 0:
            i = counts[h]
            vms[i] = slot
            vcpus[i] = vcpus_by_slot[slot]
            memory[i] = memory_by_slot[slot]
            generation[i] = generation_by_slot[slot]
            same = slot < kept_generation.shape[0] and kept_generation[slot] == generation[i]
            kept[i] = kept_by_slot[slot] if same else 0.0
            counts[h] += 1
    return vms, host_start, vcpus, memory, generation, kept


@kernel
def keep_by_slot(vms, generation, values, kept_by_slot, kept_generation):
    """Store per-VM values (layout order) by VM slot, with the VM's generation."""
    for i in range(vms.shape[0]):
        kept_by_slot[vms[i]] = values[i]
        kept_generation[vms[i]] = generation[i]
