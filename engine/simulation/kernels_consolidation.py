"""Dynamic consolidation of a day of CPU traces on a fleet of power-modelled hosts (Numba):
Beloglazov and Buyya's experiment (CCPE 2012), as CloudSim 3.0.3 runs it or by vmsched's
own rules.

Time advances by *datacenter updates*: every `interval_s` (300 s) from `first_s`, and at
every migration completion. An update measures every host: each VM requests
`u(t) * vcpus * speed` MIPS (its utilisation interpolated linearly between 300 s samples: a
dense trace, or the synthetic model computed when asked), the host's time-shared scheduler
grants it (a VM at most its vCPUs' worth of pCPU speed; an oversubscribed host
scales every request by capacity / total and floors it to whole MIPS; a migrating VM gets 90%
of its request on the source and 10% on the target), and the energy of each host since the
previous update is the trapezoid of its power at the two utilisations. At the periodic
updates of the migration policies a consolidation round runs:

1. overloaded hosts (a detector over the host's utilisation history, kernels_detectors);
2. from each, VMs are selected (MMT least memory, MU least utilisation, MC most correlated,
   RS random, seeded) until it is no longer overloaded;
3. those VMs, by decreasing CPU demand, go to the host with the least power increase among
   the hosts that fit them and would not become overloaded with them;
4. underload: hosts are tried from the least utilised up; a host whose VMs all fit elsewhere
   is emptied (and is off once empty); if one VM fits nowhere its plan is dropped.

The planned migrations then start, and the VM is allocated on both hosts meanwhile. Under the
`cloudsim` migration model one lasts memory MiB / (bandwidth / 16000) seconds (CloudSim's
half of the link, MB over kbit/s); under `precopy` its rounds copy the memory and then what
the VM dirtied, over that share of the link divided among the migrations the source or the
target takes part in (`precopy`).

`cloudsim` switches on CloudSim 3.0.3's behaviour where it is a quirk of its code: a VM whose
demand reaches exactly 0 is destroyed; a running VM requests no memory (only CPU constrains
consolidation); the power increase is taken against the host's power at the start of the
round; hosts that received VMs in step 3 may still be emptied in step 4; updates fall at
300.1, 600.1, ... (a 0.1 s creation delay) and the first interval bills no energy; an empty
host bills nothing for an interval that starts at utilisation 0. Without it: memory counts,
the baseline is fresh, VMs run until the end of the day, exclusions are as intended, updates
fall at 0, 300, ... through the end, and a host bills energy whenever it holds VMs. VMs may
also arrive and leave (vmsched's rules): a VM is present at the updates with
start_s <= t < end_s, placed by the power-aware rule at the first of them; one that fits
nowhere waits and is tried again, before the new arrivals, at every update until its end.

Every quantity is a float64 computed in CloudSim's order of operations, so that with
`cloudsim` the results equal CloudSim's to the digits it prints.
"""

import math

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from vmsched.engine.jit import allocating, kernel, scalar_helper
from vmsched.engine.models.kernels_detectors import (
    HISTORY_LENGTH, LR, LR_LENGTH, LRR, THR, is_overloaded)
from vmsched.engine.models.kernels_power import N_PREPARED, prepare_power, prepared_power_at
from vmsched.engine.simulation.kernels_utilization import synthetic_value

# Policies and selectors.
NPA, DVFS, MIGRATE = 0, 1, 2
MMT, MU, MC, RS = 0, 1, 2, 3
SELECTOR_NAMES = ("mmt", "mu", "mc", "rs")

# Host float columns.
(H_TOTAL, H_PE, H_RAM, H_BW, H_AVAIL, H_RAM_USED, H_BW_USED, H_UTIL, H_PREV_UTIL,
 H_P_TIME, H_P_ALLOC, H_P_REQ, H_P_ACTIVE,
 H_Q_TIME, H_Q_ALLOC, H_Q_REQ, H_Q_ACTIVE, H_LAST_ON,
 H_SLA_S, H_ACTIVE_S, H_SHUTDOWNS, H_SHUTDOWN_S, H_ENERGY_J, H_PLANNED, H_PCPUS) = range(25)
N_HF = 25
# Host int columns.
H_N, H_CLASS, H_KIND, H_N0, H_TOUCHED, H_CACHED = range(6)
N_HI = 6
# Per-host detector cache columns: the summed history, its length, the requested MIPS and
# the largest VM memory of the host's list.
C_LENGTH, C_REQUESTED, C_MAX_RAM = HISTORY_LENGTH, HISTORY_LENGTH + 1, HISTORY_LENGTH + 2
N_CACHE = HISTORY_LENGTH + 3

# VM float columns.
(V_MIPS, V_RAM, V_BW, V_REQ, V_HIST_T,
 V_P_TIME, V_P_ALLOC, V_P_REQ, V_P_MIG,
 V_Q_TIME, V_Q_ALLOC, V_Q_REQ, V_Q_MIG,
 V_ALLOC_S, V_REQ_S, V_MIG_LOSS, V_SLA_SUM, V_SLA_N, V_MIG_START, V_MIG_S, V_MIG_N,
 V_END_S, V_REQ_T, V_GROUP_MAX, V_ACTIVE, V_VCPUS, V_START_S, V_FIRST_TRY) = range(28)
N_VF = 28
# VM int columns.
V_HOST, V_IN_MIG, V_HLEN, V_INST, V_STATUS, V_GROUP = range(6)
N_VI = 6
# VM outcomes (V_STATUS): never placed, running at the end, destroyed at zero demand (CloudSim),
# left at its end; while the run goes on also waiting for a host and not yet arrived.
NOT_PLACED, RUNNING, DESTROYED, FINISHED, WAITING, NOT_ARRIVED = 0, 1, 2, 3, 4, 5

# Results (floats).
(R_ENERGY_J, R_MIGRATIONS, R_SLA_S, R_ACTIVE_S, R_REQ_S, R_ALLOC_S, R_MIG_LOSS,
 R_SLA_SUM, R_SLA_N, R_SHUTDOWNS, R_SHUTDOWN_S, R_MIG_S, R_MIG_N, R_DESTROYED,
 R_NOT_PLACED, R_ANOMALIES, R_UPDATES, R_ROUNDS, R_END_S, R_ERROR, R_GRANTING,
 R_GROUP_VIOLATIONS, R_TRANSFERRED_MIB, R_DOWNTIME_S, R_COPY_ROUNDS, R_FINISHED, R_DELAYED,
 R_DELAY_S) = range(28)
N_RESULTS = 28
ERR_NONE, ERR_LIST_FULL, ERR_QUEUE_FULL = 0, 1, 2

# Options (ints).
(O_POLICY, O_DETECTOR, O_SELECTOR, O_CLOUDSIM, O_SEED, O_GROUPS, O_MIGRATION) = range(7)
N_OPTIONS = 7
# Migration models (O_MIGRATION).
CLOUDSIM_MIGRATION, PRECOPY = 0, 1
# Parameters (floats).
(P_PARAMETER, P_FALLBACK, P_INTERVAL, P_END, P_FIRST, P_BANDWIDTH_DIVISOR, P_DIRTY_RATE,
 P_MAX_DOWNTIME, P_MAX_ROUNDS) = range(9)
N_PARAMETERS = 9

# Per periodic update series.
S_TIME, S_ACTIVE_HOSTS, S_ENERGY_J, S_MIGRATIONS, S_OVERLOADED, S_POWER_W = range(6)
N_SERIES = 6

BIG = 1.7976931348623157e308
# Utilisation sources (the first field of `source`).
DENSE, SYNTHETIC = 0, 1


# --- the VMs' demand ---------------------------------------------------------------------

@scalar_helper
def _sample(source, v, k):
    """VM v's utilisation at sample k (time k x 300 s): source = (kind, dense, level,
    daily_profile, noise_cv, seed). DENSE: dense[v, k], the last sample repeated past the
    end (as CloudSim reads one sample past a day's last). SYNTHETIC: the synthetic model of
    vmsched.engine.simulation.kernels_utilization (row v, tick k), computed when asked."""
    if source[0] == DENSE:
        dense = source[1]
        return dense[v, min(k, dense.shape[1] - 1)]
    return _synthetic_sample(source[2], source[3], source[4], source[5], v, k)


@kernel
def _synthetic_sample(level, daily_profile, noise_cv, seed, v, k):
    """The synthetic model at row v, tick k (kept out of line: the dense case stays a load)."""
    return synthetic_value(level, daily_profile, noise_cv, seed, v, k)


@scalar_helper
def _sample_position(t, interval):
    """Where t falls among the 300 s samples: (on a sample, its index k; else the samples
    t1 and t2 around t, the span between them in seconds and t's offset from t1), computed
    once per instant for every VM measured at it."""
    k = 0
    t1 = int(math.floor(t / interval))
    t2 = int(math.ceil(t / interval))
    on_sample = math.floor(t / interval) * interval == t    # t % interval == 0, no fmod
    if on_sample:
        k = int(t) // int(interval)
    return on_sample, k, t1, t2, (t2 - t1) * interval, t - t1 * interval


@scalar_helper
def _utilisation_at(source, v, position):
    """The utilisation of VM v at the instant of `position` (_sample_position), linear
    between samples (CloudSim's UtilizationModelPlanetLabInMemory)."""
    on_sample, k, t1, t2, span, offset = position
    if on_sample:
        return _sample(source, v, k)
    u1 = _sample(source, v, t1)
    u2 = _sample(source, v, t2)
    delta = (u2 - u1) / span
    return u1 + delta * offset


@scalar_helper
def _utilisation(source, v, t, interval):
    """The utilisation of VM v at time t (_utilisation_at)."""
    return _utilisation_at(source, v, _sample_position(t, interval))


@scalar_helper
def _ram_request(vf, vi, v, cloudsim):
    if cloudsim and vi[v, V_INST] == 0:
        return 0.0
    return vf[v, V_RAM]


@scalar_helper
def _bw_request(vf, vi, v, cloudsim):
    if cloudsim and vi[v, V_INST] == 1:
        return vf[v, V_BW]
    return 0.0


# --- one host's list and time-shared scheduler --------------------------------------------

@scalar_helper
def _capped(request, pe, vcpus):
    """A VM's CPU request as the scheduler sees it: above one pCPU, at most its vCPUs' worth."""
    if request > pe:
        return min(request, pe * vcpus)
    return request


@scalar_helper
def _grant_in_full(c, migrating_in, in_migration):
    """The MIPS a (capped) request c is granted on a host with room for it: 10% on the target
    of a migration, 90% on its source, else all of it."""
    if migrating_in:
        return c * 0.1
    if in_migration:
        return c * 0.9
    return c


@scalar_helper
def _planned_with(planned, granted, migrating_in):
    """H_PLANNED with one more grant added: a VM migrating in counts at what it will get."""
    if migrating_in:
        planned += granted * 0.9 / 0.1
    return planned + granted


@kernel
def _reallocate(h, hf, hi, hv, hreq, halloc, hmig, vf, vi):
    """Grant the requests of host h's VMs in list order (VmSchedulerTimeSharedOverSubscription)."""
    n = hi[h, H_N]
    pe = hf[h, H_PE]
    available = hf[h, H_TOTAL]
    over = False
    for i in range(n):
        c = _capped(hreq[h, i], pe, vf[hv[h, i], V_VCPUS])
        total = c * 0.1 if hmig[h, i] else c
        if not over and available >= total:
            halloc[h, i] = _grant_in_full(c, hmig[h, i], vi[hv[h, i], V_IN_MIG] == 1)
            available -= total
        else:
            over = True
    if over:
        required = 0.0
        for i in range(n):
            c = _capped(hreq[h, i], pe, vf[hv[h, i], V_VCPUS])
            if hmig[h, i]:
                c *= 0.1
            required += c
        scale = hf[h, H_TOTAL] / required
        for i in range(n):
            c = _capped(hreq[h, i], pe, vf[hv[h, i], V_VCPUS])
            if hmig[h, i]:
                m = c * 0.1
                m *= scale
            elif vi[hv[h, i], V_IN_MIG] == 1:
                m = c * scale
                m *= 0.9
            else:
                m = c * scale
            halloc[h, i] = math.floor(m)
        available = 0.0
    hf[h, H_AVAIL] = available
    planned = 0.0
    for i in range(n):
        planned = _planned_with(planned, halloc[h, i], hmig[h, i])
    hf[h, H_PLANNED] = planned


@scalar_helper
def _wake(awake, h):
    """Host h may measure differently at the next update (see _update)."""
    awake[h >> 6] |= np.uint64(1) << np.uint64(h & 63)


@kernel
def _append(h, v, request, migrating_in, hf, hi, hv, hreq, halloc, hmig, vf, vi, cloudsim,
            awake, result):
    """Put VM v at the end of host h's list with `request` MIPS (vmCreate / a migration in)."""
    _wake(awake, h)
    n = hi[h, H_N]
    if n >= hv.shape[1]:
        result[R_ERROR] = ERR_LIST_FULL
        return
    hv[h, n] = v
    hreq[h, n] = request
    hmig[h, n] = migrating_in
    hi[h, H_N] = n + 1
    hi[h, H_CACHED] = 0
    hf[h, H_RAM_USED] += _ram_request(vf, vi, v, cloudsim)
    hf[h, H_BW_USED] += _bw_request(vf, vi, v, cloudsim)
    # The list's grants are those of _reallocate (each host's are kept up to date), so when
    # they were all granted in full (available > 0: an oversubscribed host has 0 left) and
    # the new request fits what is left, _reallocate would grant the same and this one in
    # full, with the same sums in the same order: only the new VM's grant is added.
    c = _capped(request, hf[h, H_PE], vf[v, V_VCPUS])
    total = c * 0.1 if migrating_in else c
    available = hf[h, H_AVAIL]
    if available > 0 and available >= total:
        halloc[h, n] = _grant_in_full(c, migrating_in, vi[v, V_IN_MIG] == 1)
        hf[h, H_AVAIL] = available - total
        hf[h, H_PLANNED] = _planned_with(hf[h, H_PLANNED], halloc[h, n], migrating_in)
    else:
        _reallocate(h, hf, hi, hv, hreq, halloc, hmig, vf, vi)


@kernel
def _remove(h, v, migrating_in, hf, hi, hv, hreq, halloc, hmig, vf, vi, cloudsim):
    """Take VM v out of host h's list (vmDestroy / the end of a migration in)."""
    if _take_out(h, v, migrating_in, hf, hi, hv, hreq, halloc, hmig, vf, vi, cloudsim):
        _reallocate(h, hf, hi, hv, hreq, halloc, hmig, vf, vi)


@kernel
def _take_out(h, v, migrating_in, hf, hi, hv, hreq, halloc, hmig, vf, vi, cloudsim):
    """_remove without granting again: the host's grants are left stale, H_AVAIL at -1 to say
    so (an _append then grants in full), for a caller that measures the host before anything
    reads them. Returns whether v was in the list."""
    n = hi[h, H_N]
    for i in range(n):
        if hv[h, i] == v and hmig[h, i] == migrating_in:
            for j in range(i, n - 1):
                hv[h, j] = hv[h, j + 1]
                hreq[h, j] = hreq[h, j + 1]
                halloc[h, j] = halloc[h, j + 1]
                hmig[h, j] = hmig[h, j + 1]
            hi[h, H_N] = n - 1
            hi[h, H_CACHED] = 0
            hf[h, H_RAM_USED] -= _ram_request(vf, vi, v, cloudsim)
            hf[h, H_BW_USED] -= _bw_request(vf, vi, v, cloudsim)
            hf[h, H_AVAIL] = -1.0
            return True
    return False


@scalar_helper
def _fraction(hf, h, mips):
    """A host's utilisation as CloudSim reports it (values just above 1 count as 1)."""
    u = mips / hf[h, H_TOTAL]
    if u > 1 and u < 1.01:
        u = 1.0
    return u


@scalar_helper
def _power(h, hi, watts, u):
    """Host h's watts at utilisation u; `watts`: the hosts' prepared power models
    (kernels_power.prepare_power; column 0 is the idle power)."""
    return prepared_power_at(hi[h, H_KIND], watts[h], u)


# --- state histories, reduced as they are written -----------------------------------------

@kernel
def _host_entry_final(hf, h):
    """Account host h's pending state entry (the next one is at a later time)."""
    t = hf[h, H_P_TIME]
    active = hf[h, H_P_ACTIVE] == 1
    if hf[h, H_Q_TIME] != -1 and hf[h, H_Q_ACTIVE] == 1:
        dt = t - hf[h, H_Q_TIME]
        hf[h, H_ACTIVE_S] += dt
        if hf[h, H_Q_ALLOC] < hf[h, H_Q_REQ]:
            hf[h, H_SLA_S] += dt
    if hf[h, H_Q_ACTIVE] == 1 and not active:
        hf[h, H_SHUTDOWNS] += 1
        hf[h, H_SHUTDOWN_S] += t - hf[h, H_LAST_ON]
    if hf[h, H_Q_ACTIVE] == 0 and active:
        hf[h, H_LAST_ON] = t
    hf[h, H_Q_TIME] = t
    hf[h, H_Q_ALLOC] = hf[h, H_P_ALLOC]
    hf[h, H_Q_REQ] = hf[h, H_P_REQ]
    hf[h, H_Q_ACTIVE] = hf[h, H_P_ACTIVE]


@scalar_helper
def _host_entry(hf, h, t, allocated, requested, active):
    if hf[h, H_P_TIME] != -1 and hf[h, H_P_TIME] != t:
        _host_entry_final(hf, h)
    hf[h, H_P_TIME] = t
    hf[h, H_P_ALLOC] = allocated
    hf[h, H_P_REQ] = requested
    hf[h, H_P_ACTIVE] = 1.0 if active else 0.0


@kernel
def _vm_entry_final(vf, v):
    t = vf[v, V_P_TIME]
    migrating = vf[v, V_P_MIG] == 1
    if vf[v, V_Q_TIME] != -1:
        dt = t - vf[v, V_Q_TIME]
        allocated = vf[v, V_Q_ALLOC]
        requested = vf[v, V_Q_REQ]
        vf[v, V_ALLOC_S] += allocated * dt
        vf[v, V_REQ_S] += requested * dt
        if allocated < requested:
            vf[v, V_SLA_SUM] += (requested - allocated) / requested
            vf[v, V_SLA_N] += 1
            if vf[v, V_Q_MIG] == 1:
                vf[v, V_MIG_LOSS] += (requested - allocated) * dt
    if vf[v, V_Q_MIG] == 1 and not migrating:
        vf[v, V_MIG_S] += t - vf[v, V_MIG_START]
        vf[v, V_MIG_N] += 1
    if vf[v, V_Q_MIG] == 0 and migrating:
        vf[v, V_MIG_START] = t
    vf[v, V_Q_TIME] = t
    vf[v, V_Q_ALLOC] = vf[v, V_P_ALLOC]
    vf[v, V_Q_REQ] = vf[v, V_P_REQ]
    vf[v, V_Q_MIG] = vf[v, V_P_MIG]


@scalar_helper
def _vm_entry(vf, v, t, allocated, requested, migrating):
    if vf[v, V_P_TIME] != -1 and vf[v, V_P_TIME] != t:
        _vm_entry_final(vf, v)
    vf[v, V_P_TIME] = t
    vf[v, V_P_ALLOC] = allocated
    vf[v, V_P_REQ] = requested
    vf[v, V_P_MIG] = 1.0 if migrating else 0.0


# --- datacenter updates -------------------------------------------------------------------

@kernel
def _update_vms(h, t, periodic, source, hi, hv, vf, vi, vhist, interval, first_s):
    """Host h's VMs' view of an update at t: each one's request, and its history at a
    periodic update."""
    position = _sample_position(t, interval)
    at_history = periodic and (t - first_s) % interval == 0
    for i in range(hi[h, H_N]):
        v = hv[h, i]
        if vf[v, V_REQ_T] == t and not periodic:
            continue    # already measured at t (a VM on two hosts while it migrates)
        u = _utilisation_at(source, v, position)
        vf[v, V_REQ] = u * vf[v, V_MIPS]
        vf[v, V_REQ_T] = t
        if at_history and t > vf[v, V_HIST_T]:
            if t != 0 or u != 0:
                n = vi[v, V_HLEN]
                if n > HISTORY_LENGTH - 1:
                    n = HISTORY_LENGTH - 1
                for j in range(n, 0, -1):
                    vhist[v, j] = vhist[v, j - 1]
                vhist[v, 0] = u
                vi[v, V_HLEN] = n + 1
            vf[v, V_HIST_T] = t


@kernel
def _update_host(h, t, hf, hi, hv, hreq, halloc, hmig, vf, vi):
    """Measure host h at t (HostDynamicWorkload.updateVmsProcessing); the VMs' requests are
    up to date. Returns whether some VM both requests CPU now and was granted some until now
    (its cloudlet then has a finite finish time: CloudSim schedules its next update only
    while one does)."""
    hf[h, H_PREV_UTIL] = hf[h, H_UTIL]
    hi[h, H_CACHED] = 0
    n = hi[h, H_N]
    granting = False
    for i in range(n):
        if vf[hv[h, i], V_REQ] > 0 and halloc[h, i] > 0:
            granting = True
        hreq[h, i] = vf[hv[h, i], V_REQ]
    _reallocate(h, hf, hi, hv, hreq, halloc, hmig, vf, vi)
    util = 0.0
    requested_sum = 0.0
    for i in range(n):
        v = hv[h, i]
        requested = vf[v, V_REQ]
        allocated = halloc[h, i]
        if not hmig[h, i]:
            _vm_entry(vf, v, t, allocated, requested, vi[v, V_IN_MIG] == 1)
            if vi[v, V_IN_MIG] == 1:
                allocated /= 0.9
        util += allocated
        requested_sum += requested
    hf[h, H_UTIL] = util
    _host_entry(hf, h, t, util, requested_sum, util > 0)
    return granting


@kernel
def _destroy_idle_vms(h, t, hf, hi, hv, hreq, halloc, hmig, vf, vi, result):
    """CloudSim's getCompletedVms: host h's VMs not migrating whose demand is exactly 0 are
    destroyed and never return."""
    i = 0
    while i < hi[h, H_N]:
        v = hv[h, i]
        if not hmig[h, i] and vi[v, V_IN_MIG] == 0 and vf[v, V_REQ] == 0:
            _remove(h, v, False, hf, hi, hv, hreq, halloc, hmig, vf, vi, True)
            vi[v, V_HOST] = -1
            vi[v, V_STATUS] = DESTROYED
            vf[v, V_END_S] = t
            result[R_DESTROYED] += 1
        else:
            i += 1


@scalar_helper
def _asleep(h, hf, hi):
    """Host h is empty and was idle at its last two measurements: measuring it would change
    nothing (it bills nothing, nor does its state)."""
    return (hi[h, H_N] == 0 and hf[h, H_UTIL] == 0 and hf[h, H_PREV_UTIL] == 0
            and hf[h, H_P_TIME] != -1 and hf[h, H_P_ACTIVE] == 0)


@kernel
def _measure_and_bill(h, t, dt, periodic, source, hf, hi, hv, hreq, halloc, hmig, watts, vf,
                      vi, vhist, options, parameters, result):
    """Host h's part of an update at t, dt seconds after the last: its VMs and itself
    measured, the energy since then added to its total and returned (J); R_GRANTING set to 1
    when some VM of it is granted CPU (_update_host)."""
    cloudsim = options[O_CLOUDSIM] == 1
    _update_vms(h, t, periodic, source, hi, hv, vf, vi, vhist, parameters[P_INTERVAL],
                parameters[P_FIRST])
    if _update_host(h, t, hf, hi, hv, hreq, halloc, hmig, vf, vi):
        result[R_GRANTING] = 1.0
    if options[O_GROUPS] == 1:
        # Invariant: no host holds more members of a group than it allows.
        for i in range(hi[h, H_N]):
            if not _group_room(h, hv[h, i], hi, hv, vf, vi):
                result[R_GROUP_VIOLATIONS] += 1
    e = 0.0
    if options[O_POLICY] != NPA and dt > 0:
        start = _fraction(hf, h, hf[h, H_PREV_UTIL])
        end = _fraction(hf, h, hf[h, H_UTIL])
        if start > 1 or end > 1:
            result[R_ANOMALIES] += 1
        if start != 0:
            p0 = _power(h, hi, watts, min(start, 1.0))
            p1 = _power(h, hi, watts, min(end, 1.0))
            e = (p0 + (p1 - p0) / 2) * dt
        elif not cloudsim and hi[h, H_N] > 0:
            p1 = _power(h, hi, watts, min(end, 1.0))
            e = p1 * dt / 2 + _power(h, hi, watts, 0.0) * dt / 2
        hf[h, H_ENERGY_J] += e
    if cloudsim:
        _destroy_idle_vms(h, t, hf, hi, hv, hreq, halloc, hmig, vf, vi, result)
    return e


@kernel
def _update(t, periodic, source, hf, hi, hv, hreq, halloc, hmig, watts, vf, vi, vhist,
            options, parameters, awake, result):
    """A datacenter update at t: every host measured and billed for the energy since the
    last update (the trapezoid of its power, summed over hosts in index order), then the VMs
    whose demand is 0 destroyed (CloudSim). An asleep host (_asleep) is skipped.

    `awake` is a bit set of hosts (host h: bit h % 64 of word h // 64) that holds every host
    not asleep: a host leaves it here when found asleep, and is put back when it receives a
    VM (_append), the only way an asleep host changes. Only the hosts in it are visited, in
    index order, so an update costs the hosts in use, not the fleet."""
    dt = t - result[R_END_S]
    frame = 0.0
    result[R_GRANTING] = 0.0
    if options[O_POLICY] == NPA and dt > 0:
        for h in range(hf.shape[0]):
            e = _power(h, hi, watts, 1.0) * dt
            frame += e
            hf[h, H_ENERGY_J] += e
    for word in range(awake.shape[0]):
        bits = awake[word]
        while bits != 0:
            bit = np.int64(trailing_zeros(bits))
            bits &= bits - np.uint64(1)
            h = word * 64 + bit
            if _asleep(h, hf, hi):
                awake[word] &= ~(np.uint64(1) << np.uint64(bit))
            else:
                frame += _measure_and_bill(h, t, dt, periodic, source, hf, hi, hv, hreq,
                                           halloc, hmig, watts, vf, vi, vhist, options,
                                           parameters, result)
    result[R_ENERGY_J] += frame
    result[R_END_S] = t
    result[R_UPDATES] += 1


@kernel
def _update_hosts(t, hosts, n, marks, source, hf, hi, hv, hreq, halloc, hmig, vf, vi, vhist,
                  options, parameters, result, destroy):
    """Measure again, at the instant of the last update (no time has passed, so no energy),
    the given hosts hosts[0..n-1] only, each once, in index order: what CloudSim's repeated
    measurements at one instant leave (an entry at the same instant replaces the one before,
    so only a host's last measurement counts, and the other hosts would measure what they
    measured). With `destroy`, VMs whose demand is 0 are destroyed afterwards, as a
    datacenter update does (CloudSim rules). marks: a bit set of hosts (as `awake`), empty
    before and after; the hosts are put in it to visit them in index order."""
    interval = parameters[P_INTERVAL]
    first_s = parameters[P_FIRST]
    cloudsim = options[O_CLOUDSIM] == 1
    for k in range(n):
        _wake(marks, hosts[k])
    for word in range(marks.shape[0]):
        bits = marks[word]
        marks[word] = 0
        while bits != 0:
            h = word * 64 + np.int64(trailing_zeros(bits))
            bits &= bits - np.uint64(1)
            _update_vms(h, t, False, source, hi, hv, vf, vi, vhist, interval, first_s)
            _update_host(h, t, hf, hi, hv, hreq, halloc, hmig, vf, vi)
            if cloudsim and destroy:
                _destroy_idle_vms(h, t, hf, hi, hv, hreq, halloc, hmig, vf, vi, result)
    if destroy:
        result[R_UPDATES] += 1


@kernel
def precopy(memory_mib, active_mib, dirty_rate, bandwidth_mibps, max_downtime_s, max_rounds,
            out):
    """A pre-copy live migration (as KVM/QEMU's): the first round copies all the memory while
    the VM runs; each next round copies what the VM dirtied meanwhile (dirty_rate x its active
    memory per second, at most its active memory), until what remains can be copied within
    max_downtime_s or max_rounds rounds have run; that last copy pauses the VM. Returns the
    duration, seconds; out = (MiB transferred, downtime s, rounds)."""
    remaining = memory_mib
    duration = 0.0
    sent = 0.0
    rounds = 0
    downtime = 0.0
    while True:
        rounds += 1
        copy_s = remaining / bandwidth_mibps
        duration += copy_s
        sent += remaining
        if rounds > 1 and (copy_s <= max_downtime_s or rounds >= max_rounds):
            downtime = copy_s
            break
        remaining = min(active_mib, dirty_rate * active_mib * copy_s)
        if remaining <= 0:
            break
    out[0] = sent
    out[1] = downtime
    out[2] = rounds
    return duration


# --- the consolidation round ---------------------------------------------------------------

@kernel
def _fill_cache(h, needed, hf, hi, hv, vf, vi, vhist, cache):
    """Host h's summed utilisation history (CloudSim's
    PowerHostUtilizationHistory.getUtilizationHistory: each VM's share of the host, in list
    order), its newest `needed` values (most recent first) and its length trimmed of zeros at
    the old end; its requested MIPS and its largest VM memory (the detectors' sums). The
    values are >= 0, so a sum is 0 exactly when each VM's value is: the trimmed length is
    the longest of the VMs' own."""
    total = hf[h, H_TOTAL]
    for i in range(needed):
        cache[h, i] = 0.0
    requested = 0.0
    max_ram = -2147483648.0
    last = 0
    for k in range(hi[h, H_N]):
        v = hv[h, k]
        n = vi[v, V_HLEN]
        for i in range(min(n, needed)):
            cache[h, i] += vhist[v, i] * vf[v, V_MIPS] / total
        while n > last and vhist[v, n - 1] * vf[v, V_MIPS] / total == 0:
            n -= 1
        if n > last:
            last = n
        requested += vf[v, V_REQ]
        if vf[v, V_RAM] > max_ram:
            max_ram = vf[v, V_RAM]
    cache[h, C_LENGTH] = last
    cache[h, C_REQUESTED] = requested
    cache[h, C_MAX_RAM] = max_ram
    hi[h, H_CACHED] = 1


@scalar_helper
def _history_needed(detector):
    """How many of the newest summed history values a detector reads: none (THR), LR's 10
    (LR, LRR) or all (IQR, MAD)."""
    if detector == THR:
        return 0
    if detector == LR or detector == LRR:
        return LR_LENGTH
    return HISTORY_LENGTH


@kernel
def _overloaded(h, extra, hf, hi, hv, vf, vi, vhist, options, parameters, history, scratch,
                cache):
    """The policy's detector on host h (with VM `extra` added at the end of its list if
    >= 0), as CloudSim sums it: the list's VMs in order, then the extra one."""
    detector = options[O_DETECTOR]
    needed = _history_needed(detector)
    if hi[h, H_CACHED] == 0:
        _fill_cache(h, needed, hf, hi, hv, vf, vi, vhist, cache)
    total = hf[h, H_TOTAL]
    requested = cache[h, C_REQUESTED]
    max_ram = cache[h, C_MAX_RAM]
    if extra >= 0:
        requested += vf[extra, V_REQ]
        if vf[extra, V_RAM] > max_ram:
            max_ram = vf[extra, V_RAM]
    current = requested / total
    length = 0
    intervals = 0.0
    if detector != THR:
        # LR reads only the newest 10 values; the trimmed length of the sum (of values >= 0)
        # is the longer of the two trimmed lengths, and at least 1 (as CloudSim counts).
        for i in range(needed):
            history[i] = cache[h, i]
        last = int(cache[h, C_LENGTH])
        if extra >= 0:
            n = vi[extra, V_HLEN]
            for i in range(min(n, needed)):
                history[i] += vhist[extra, i] * vf[extra, V_MIPS] / total
            while n > last and vhist[extra, n - 1] == 0:
                n -= 1
            if n > last:
                last = n
        length = max(last, 1)
        if detector == LR or detector == LRR:
            time_s = max_ram / (hf[h, H_BW] / parameters[P_BANDWIDTH_DIVISOR])
            intervals = math.ceil(time_s / parameters[P_INTERVAL])
    return is_overloaded(detector, parameters[P_PARAMETER], parameters[P_FALLBACK], current,
                         history, length, intervals, scratch)


@kernel
def _least_squares_r2(x, y, m, p, gram, rhs):
    """R^2 of the least-squares fit of y[0..m-1] on the columns x[:, 0..p-1] (column 0 is the
    intercept), by the normal equations; NaN when they are singular or y is constant."""
    for a in range(p):
        for b in range(p):
            s = 0.0
            for j in range(m):
                s += x[j, a] * x[j, b]
            gram[a, b] = s
        s = 0.0
        for j in range(m):
            s += x[j, a] * y[j]
        rhs[a] = s
    for col in range(p):
        pivot = col
        for r in range(col + 1, p):
            if abs(gram[r, col]) > abs(gram[pivot, col]):
                pivot = r
        if abs(gram[pivot, col]) < 1e-12:
            return np.nan
        if pivot != col:
            for b in range(p):
                tmp = gram[col, b]
                gram[col, b] = gram[pivot, b]
                gram[pivot, b] = tmp
            tmp = rhs[col]
            rhs[col] = rhs[pivot]
            rhs[pivot] = tmp
        for r in range(col + 1, p):
            f = gram[r, col] / gram[col, col]
            for b in range(col, p):
                gram[r, b] -= f * gram[col, b]
            rhs[r] -= f * rhs[col]
    for col in range(p - 1, -1, -1):
        s = rhs[col]
        for b in range(col + 1, p):
            s -= gram[col, b] * rhs[b]
        rhs[col] = s / gram[col, col]
    mean = 0.0
    for j in range(m):
        mean += y[j]
    mean /= m
    sse = 0.0
    sst = 0.0
    for j in range(m):
        fit = 0.0
        for a in range(p):
            fit += x[j, a] * rhs[a]
        sse += (y[j] - fit) ** 2
        sst += (y[j] - mean) ** 2
    if sst <= 0:
        return np.nan
    return 1 - sse / sst


@kernel
def correlation_choice(vi, vhist, candidates, n_cand, x, y, gram, rhs):
    """MC: the candidate whose history is best explained (R^2) by the others' (least squares
    with an intercept over their common history length); -1 when the regression has no
    degrees of freedom (then MMT decides)."""
    m = HISTORY_LENGTH
    for c in range(n_cand):
        length = vi[candidates[c], V_HLEN]
        if length < m:
            m = length
    if n_cand < 2 or m - n_cand <= 0:
        return -1
    best = 0
    best_r2 = 4.9e-324
    for c in range(n_cand):
        for j in range(m):
            y[j] = vhist[candidates[c], j]
            x[j, 0] = 1.0
        col = 0
        for o in range(n_cand):
            if o == c:
                continue
            col += 1
            for j in range(m):
                x[j, col] = vhist[candidates[o], j]
        r2 = _least_squares_r2(x, y, m, n_cand, gram, rhs)
        if r2 > best_r2:
            best_r2 = r2
            best = c
    return best


@kernel
def _select(h, t, hf, hi, hv, hmig, vf, vi, vhist, source, options, parameters, candidates,
            mc_x, mc_y, mc_gram, mc_rhs):
    """The VM to migrate off overloaded host h (-1: none can move)."""
    n_cand = 0
    for i in range(hi[h, H_N]):
        v = hv[h, i]
        # The VMs the host holds (not one arriving) that are not migrating.
        if not hmig[h, i] and vi[v, V_IN_MIG] == 0:
            candidates[n_cand] = v
            n_cand += 1
    if n_cand == 0:
        return -1
    selector = options[O_SELECTOR]
    if selector == RS:
        return candidates[np.random.randint(0, n_cand)]
    if selector == MC:
        c = correlation_choice(vi, vhist, candidates, n_cand, mc_x, mc_y, mc_gram, mc_rhs)
        if c >= 0:
            return candidates[c]
    best = -1
    best_metric = BIG
    for c in range(n_cand):
        v = candidates[c]
        if selector == MU:
            mips = _utilisation(source, v, t, parameters[P_INTERVAL]) * vf[v, V_MIPS]
            metric = mips / vf[v, V_MIPS]
        else:
            metric = vf[v, V_RAM]
        if metric < best_metric:
            best_metric = metric
            best = v
    return best


@kernel
def _group_room(h, v, hi, hv, vf, vi):
    """VM v's anti-affinity group (V_GROUP, -1: none) has fewer than its max_per_host members
    on host h, counting VMs migrating in (their allocation is held there)."""
    group = vi[v, V_GROUP]
    if group < 0:
        return True
    members = 0
    for i in range(hi[h, H_N]):
        if vi[hv[h, i], V_GROUP] == group and hv[h, i] != v:
            members += 1
    return members < vf[v, V_GROUP_MAX]


@scalar_helper
def _suitable(h, v, hf, hi, hv, vf, vi, cloudsim):
    """Host h has room for VM v now (Host.isSuitableForVm; and v's anti-affinity group)."""
    if vi[v, V_GROUP] >= 0 and not _group_room(h, v, hi, hv, vf, vi):
        return False
    r = vf[v, V_REQ]
    if hf[h, H_PE] * vf[v, V_VCPUS] < r or hf[h, H_AVAIL] < r:
        return False
    if hf[h, H_PCPUS] < vf[v, V_VCPUS]:
        return False
    if hf[h, H_RAM] - hf[h, H_RAM_USED] < _ram_request(vf, vi, v, cloudsim):
        return False
    if hf[h, H_BW] - hf[h, H_BW_USED] < _bw_request(vf, vi, v, cloudsim):
        return False
    return True


@kernel
def _build_candidates(hi, cand, counts, pristine, class_ptr, class_end, first):
    """The hosts a placement may consider, in index order: every host that holds VMs or was
    planned onto, and of the hosts empty since the round's start (alike within a class: same
    capacity and power model) only the first of each class, which is the only one of them
    that can win a tie-broken minimum. `pristine` lists the empty hosts by class
    (class_ptr[c] .. class_end[c] - 1)."""
    n_hosts = hi.shape[0]
    n_classes = class_ptr.shape[0]
    counts[0] = 0
    for c in range(n_classes):
        class_ptr[c] = 0
        class_end[c] = 0
    for h in range(n_hosts):
        if hi[h, H_N0] == 0:
            class_end[hi[h, H_CLASS]] += 1
    start = 0
    for c in range(n_classes):
        size = class_end[c]
        class_ptr[c] = start
        class_end[c] = start
        start += size
    for h in range(n_hosts):
        if hi[h, H_N0] == 0:
            c = hi[h, H_CLASS]
            pristine[class_end[c]] = h
            class_end[c] += 1
    for h in range(n_hosts):
        first[h] = False
    for c in range(n_classes):
        if class_ptr[c] < class_end[c]:
            first[pristine[class_ptr[c]]] = True
    n = 0
    for h in range(n_hosts):
        if hi[h, H_N0] > 0 or first[h]:
            cand[n] = h
            n += 1
    counts[0] = n


@kernel
def _planned_onto(h, hi, cand, counts, pristine, class_ptr, class_end):
    """Host h receives a VM in this plan: if it was its class's first empty host, the next
    one of the class becomes a candidate."""
    if hi[h, H_TOUCHED] == 1:
        return
    hi[h, H_TOUCHED] = 1
    if hi[h, H_N0] > 0:
        return
    c = hi[h, H_CLASS]
    class_ptr[c] += 1
    if class_ptr[c] >= class_end[c]:
        return
    nxt = pristine[class_ptr[c]]
    n = counts[0]
    j = n
    while j > 0 and cand[j - 1] > nxt:
        cand[j] = cand[j - 1]
        j -= 1
    cand[j] = nxt
    counts[0] = n + 1


@kernel
def _find_host(v, excluded, hf, hi, hv, hreq, halloc, hmig, watts, vf, vi, vhist, options,
               parameters, history, scratch, cand, counts, base_power, cache, fit_diff,
               fit_host, result):
    """Power-aware best fit: the host with the least power increase for VM v among those not
    excluded that fit it and would not be overloaded with it (ties: the lowest index), over
    the candidates (_build_candidates).

    The power increases of the hosts that fit are computed first; the detector then runs
    from the least increase up (ties by index) and the first host it accepts is the answer,
    the same one that running it on every host in index order would give."""
    cloudsim = options[O_CLOUDSIM] == 1
    r = vf[v, V_REQ]
    vcpus = vf[v, V_VCPUS]
    ram = _ram_request(vf, vi, v, cloudsim)
    bw = _bw_request(vf, vi, v, cloudsim)
    n_fit = 0
    best = -1           # the least increase so far (the first of equal ones)
    min_power = BIG
    for k in range(counts[0]):
        h = cand[k]
        if excluded[h]:
            continue
        # Host.isSuitableForVm: pCPUs enough and fast enough, MIPS, memory and bandwidth
        # left.
        if hf[h, H_PE] * vcpus < r or hf[h, H_AVAIL] < r or hf[h, H_PCPUS] < vcpus:
            continue
        if hf[h, H_RAM] - hf[h, H_RAM_USED] < ram or hf[h, H_BW] - hf[h, H_BW_USED] < bw:
            continue
        if vi[v, V_GROUP] >= 0 and not _group_room(h, v, hi, hv, vf, vi):
            continue
        planned = hf[h, H_PLANNED]
        after = (planned + r) / hf[h, H_TOTAL]
        if after > 1:
            result[R_ANOMALIES] += 1
            continue
        if cloudsim:
            # CloudSim's baseline: the host's power at the round's start.
            diff = _power(h, hi, watts, after) - base_power[h]
        else:
            diff = (_power(h, hi, watts, after)
                    - _power(h, hi, watts, min(planned / hf[h, H_TOTAL], 1.0)))
        fit_diff[n_fit] = diff
        fit_host[n_fit] = h if planned == 0 else -h - 1
        if diff < min_power:
            min_power = diff
            best = n_fit
        n_fit += 1
    while True:
        if best < 0:
            return -1
        code = fit_host[best]
        if code >= 0:
            return code
        h = -code - 1
        if not _overloaded(h, v, hf, hi, hv, vf, vi, vhist, options, parameters, history,
                           scratch, cache):
            return h
        fit_diff[best] = np.inf
        best = -1
        min_power = BIG
        for j in range(n_fit):
            if fit_diff[j] < min_power:
                min_power = fit_diff[j]
                best = j


@kernel
def _save_host(h, saved, n_saved, dirty, hi, hf, hv, hreq, halloc, hmig, save_i, save_f,
               save_v, save_req, save_alloc, save_mig):
    """Keep host h's state before the round first changes it."""
    if dirty[h]:
        return n_saved
    dirty[h] = True
    saved[n_saved] = h
    for j in range(N_HI):
        save_i[n_saved, j] = hi[h, j]
    for j in range(H_PREV_UTIL):
        save_f[n_saved, j] = hf[h, j]
    save_f[n_saved, H_PREV_UTIL] = hf[h, H_PLANNED]
    for j in range(hi[h, H_N]):     # entries past the list's length are never read
        save_v[n_saved, j] = hv[h, j]
        save_req[n_saved, j] = hreq[h, j]
        save_alloc[n_saved, j] = halloc[h, j]
        save_mig[n_saved, j] = hmig[h, j]
    return n_saved + 1


@kernel
def _sort_by_demand(vms, n, t, source, vf, parameters, keys):
    """Stable sort of vms[0..n-1] by decreasing CPU demand now."""
    for i in range(n):
        keys[i] = _utilisation(source, vms[i], t, parameters[P_INTERVAL]) * vf[vms[i], V_MIPS]
    for i in range(1, n):
        v = vms[i]
        k = keys[i]
        j = i - 1
        while j >= 0 and keys[j] < k:
            vms[j + 1] = vms[j]
            keys[j + 1] = keys[j]
            j -= 1
        vms[j + 1] = v
        keys[j + 1] = k


@allocating
def _round(t, source, hf, hi, hv, hreq, halloc, hmig, watts, vf, vi, vhist, options,
           parameters, awake, result, plan_vm, plan_host, series_row, scratch_hosts,
           scratch_saves):
    """One consolidation round at t: returns the number of planned migrations in
    plan_vm / plan_host. Host lists are restored before it returns (the plan is carried out
    by starting migrations)."""
    n_hosts = hf.shape[0]
    n_vms = vf.shape[0]
    capacity = hv.shape[1]
    cloudsim = options[O_CLOUDSIM] == 1
    history = np.empty(HISTORY_LENGTH)
    scratch = np.empty(HISTORY_LENGTH)
    candidates = np.empty(capacity, np.int64)
    mc_x = np.empty((HISTORY_LENGTH, capacity))
    mc_y = np.empty(HISTORY_LENGTH)
    mc_gram = np.empty((capacity, capacity))
    mc_rhs = np.empty(capacity)
    (cand, pristine, saved, order_hosts, fit_host) = scratch_hosts
    (save_i, save_f, save_v, save_req, save_alloc, save_mig, base_power, fit_diff,
     cache) = scratch_saves
    n_classes = hi[:, H_CLASS].max() + 1
    class_ptr = np.empty(n_classes, np.int64)
    class_end = np.empty(n_classes, np.int64)
    counts = np.zeros(1, np.int64)
    dirty = np.zeros(n_hosts, np.bool_)
    n_saved = 0
    for h in range(n_hosts):
        hi[h, H_N0] = hi[h, H_N]
        hi[h, H_TOUCHED] = 0
        hi[h, H_CACHED] = 0     # the VMs' histories have grown
        if hf[h, H_UTIL] == 0:
            base_power[h] = watts[h, 0]
        else:
            base_power[h] = _power(h, hi, watts, min(_fraction(hf, h, hf[h, H_UTIL]), 1.0))
    _build_candidates(hi, cand, counts, pristine, class_ptr, class_end, dirty)
    dirty[:] = False
    overloaded = np.zeros(n_hosts, np.bool_)
    n_over = 0
    for h in range(n_hosts):
        # An empty host is never overloaded (thresholds and fallback are >= 0).
        if hi[h, H_N] > 0 and _overloaded(h, -1, hf, hi, hv, vf, vi, vhist, options,
                                          parameters, history, scratch, cache):
            overloaded[h] = True
            n_over += 1
    series_row[S_OVERLOADED] = n_over
    to_move = np.empty(n_vms, np.int64)
    n_move = 0
    for h in range(n_hosts):
        if not overloaded[h]:
            continue
        while True:
            v = _select(h, t, hf, hi, hv, hmig, vf, vi, vhist, source, options, parameters,
                        candidates, mc_x, mc_y, mc_gram, mc_rhs)
            if v < 0:
                break
            if n_move >= to_move.shape[0]:
                result[R_ERROR] = ERR_QUEUE_FULL
                break
            to_move[n_move] = v
            n_move += 1
            n_saved = _save_host(h, saved, n_saved, dirty, hi, hf, hv, hreq, halloc, hmig,
                                 save_i, save_f, save_v, save_req, save_alloc, save_mig)
            _remove(h, v, False, hf, hi, hv, hreq, halloc, hmig, vf, vi, cloudsim)
            if not _overloaded(h, -1, hf, hi, hv, vf, vi, vhist, options, parameters, history,
                               scratch, cache):
                break
    keys = np.empty(max(n_move, capacity))
    _sort_by_demand(to_move, n_move, t, source, vf, parameters, keys)
    n_plan = 0
    received = np.zeros(n_hosts, np.bool_)
    for k in range(n_move):
        v = to_move[k]
        h = _find_host(v, overloaded, hf, hi, hv, hreq, halloc, hmig, watts, vf, vi, vhist,
                       options, parameters, history, scratch, cand, counts, base_power, cache,
                       fit_diff, fit_host, result)
        if h >= 0:
            n_saved = _save_host(h, saved, n_saved, dirty, hi, hf, hv, hreq, halloc, hmig,
                                 save_i, save_f, save_v, save_req, save_alloc, save_mig)
            _append(h, v, vf[v, V_REQ], False, hf, hi, hv, hreq, halloc, hmig, vf, vi,
                    cloudsim, awake, result)
            _planned_onto(h, hi, cand, counts, pristine, class_ptr, class_end)
            received[h] = True
            plan_vm[n_plan] = v
            plan_host[n_plan] = h
            n_plan += 1
    # Underload: from the least utilised host (at the round's start) up. `tried` are the
    # hosts no longer to be emptied, `placing` those that may not receive.
    tried = overloaded.copy()
    placing = overloaded.copy()
    n_under = 0
    for k in range(counts[0]):
        h = cand[k]
        u = _fraction(hf, h, hf[h, H_UTIL])
        if u > 0 and u < 1:
            order_hosts[n_under] = h
            n_under += 1
    util_now = np.empty(n_under)
    for k in range(n_under):
        util_now[k] = _fraction(hf, order_hosts[k], hf[order_hosts[k], H_UTIL])
    order = np.argsort(util_now, kind="mergesort")
    for h in range(n_hosts):
        if _fraction(hf, h, hf[h, H_UTIL]) == 0:
            tried[h] = True
            placing[h] = True
        if not cloudsim and received[h]:
            tried[h] = True
    group = np.empty(capacity, np.int64)
    group_host = np.empty(capacity, np.int64)
    first = 0
    while True:
        chosen = -1
        while first < n_under and tried[order_hosts[order[first]]]:
            first += 1
        for idx in range(first, n_under):
            h = order_hosts[order[idx]]
            if tried[h]:
                continue
            movable = False
            for i in range(hi[h, H_N]):
                if hmig[h, i]:
                    break
                if vi[hv[h, i], V_IN_MIG] == 0:
                    movable = True
                    break
            if not movable:
                continue
            chosen = h
            break
        if chosen < 0:
            break
        tried[chosen] = True
        placing[chosen] = True
        n_group = 0
        for i in range(hi[chosen, H_N]):
            v = hv[chosen, i]
            if not hmig[chosen, i] and vi[v, V_IN_MIG] == 0:
                group[n_group] = v
                n_group += 1
        if n_group == 0:
            continue
        _sort_by_demand(group, n_group, t, source, vf, parameters, keys)
        n_placed = 0
        for k in range(n_group):
            v = group[k]
            target = _find_host(v, placing, hf, hi, hv, hreq, halloc, hmig, watts, vf, vi,
                                vhist, options, parameters, history, scratch, cand, counts,
                                base_power, cache, fit_diff, fit_host, result)
            if target < 0:
                for j in range(n_placed):
                    _remove(group_host[j], group[j], False, hf, hi, hv, hreq, halloc, hmig,
                            vf, vi, cloudsim)
                n_placed = 0
                break
            n_saved = _save_host(target, saved, n_saved, dirty, hi, hf, hv, hreq, halloc,
                                 hmig, save_i, save_f, save_v, save_req, save_alloc, save_mig)
            _append(target, v, vf[v, V_REQ], False, hf, hi, hv, hreq, halloc, hmig, vf, vi,
                    cloudsim, awake, result)
            _planned_onto(target, hi, cand, counts, pristine, class_ptr, class_end)
            group_host[n_placed] = target
            n_placed += 1
        for j in range(n_placed):
            tried[group_host[j]] = True
            plan_vm[n_plan] = group[j]
            plan_host[n_plan] = group_host[j]
            n_plan += 1
    for k in range(n_saved):
        h = saved[k]
        hi[h] = save_i[k]
        for j in range(H_PREV_UTIL):
            hf[h, j] = save_f[k, j]
        hf[h, H_PLANNED] = save_f[k, H_PREV_UTIL]
        for j in range(hi[h, H_N]):
            hv[h, j] = save_v[k, j]
            hreq[h, j] = save_req[k, j]
            halloc[h, j] = save_alloc[k, j]
            hmig[h, j] = save_mig[k, j]
    return n_plan


@scalar_helper
def _migrating_in_after_another(h, hi, hmig):
    """Host h's list has a VM migrating in after one that is not."""
    other = False
    for i in range(hi[h, H_N]):
        if not hmig[h, i]:
            other = True
        elif other:
            return True
    return False


@kernel
def _migrating_in_first(h, hf, hi, hv, hreq, halloc, hmig, vf, vi, tmp_v, tmp_req):
    """CloudSim's restoreAllocation rebuilds every host's list after a round: the VMs
    migrating in first (in the order they came), then the others in their order, each
    granted again in that order. (A no-op while no migration outlasts a round.)"""
    n = hi[h, H_N]
    k = 0
    for i in range(n):
        if hmig[h, i]:
            tmp_v[k] = hv[h, i]
            tmp_req[k] = hreq[h, i]
            k += 1
    n_in = k
    for i in range(n):
        if not hmig[h, i]:
            tmp_v[k] = hv[h, i]
            tmp_req[k] = hreq[h, i]
            k += 1
    for i in range(n):
        hv[h, i] = tmp_v[i]
        hreq[h, i] = tmp_req[i]
        hmig[h, i] = i < n_in
    hi[h, H_CACHED] = 0
    _reallocate(h, hf, hi, hv, hreq, halloc, hmig, vf, vi)


@kernel
def _queue_completion(pending_time, pending_vm, pending_host, n, time, v, x):
    """Insert a migration completion, keeping (time, order of insertion); -1 when full."""
    if n >= pending_time.shape[0]:
        return -1
    j = n
    while j > 0 and pending_time[j - 1] > time:
        pending_time[j] = pending_time[j - 1]
        pending_vm[j] = pending_vm[j - 1]
        pending_host[j] = pending_host[j - 1]
        j -= 1
    pending_time[j] = time
    pending_vm[j] = v
    pending_host[j] = x
    return n + 1


@kernel
def _complete_migrations(limit, pending_time, pending_vm, pending_host, n, involved, marks,
                         source, hf, hi, hv, hreq, halloc, hmig, watts, vf, vi, vhist, options,
                         parameters, awake, result):
    """Complete the queued migrations due by `limit`, an instant at a time
    (PowerDatacenter.processVmMigrate): the datacenter is updated at that instant if time
    has passed, each VM leaves its source and is created on its target, then the hosts they
    changed are measured again. Returns how many remain queued."""
    cloudsim = options[O_CLOUDSIM] == 1
    done = 0
    while done < n and pending_time[done] <= limit and result[R_ERROR] == ERR_NONE:
        tc = pending_time[done]
        if tc > result[R_END_S]:
            _update(tc, False, source, hf, hi, hv, hreq, halloc, hmig, watts, vf, vi, vhist,
                    options, parameters, awake, result)
        n_involved = 0
        while done < n and pending_time[done] == tc:
            v = pending_vm[done]
            x = pending_host[done]
            origin = vi[v, V_HOST]
            involved[n_involved] = x
            n_involved += 1
            if origin >= 0:
                involved[n_involved] = origin
                n_involved += 1
                _take_out(origin, v, False, hf, hi, hv, hreq, halloc, hmig, vf, vi, cloudsim)
            _take_out(x, v, True, hf, hi, hv, hreq, halloc, hmig, vf, vi, cloudsim)
            vi[v, V_IN_MIG] = 0
            if vi[v, V_STATUS] != DESTROYED:
                _append(x, v, vf[v, V_REQ], False, hf, hi, hv, hreq, halloc, hmig, vf, vi,
                        cloudsim, awake, result)
                vi[v, V_HOST] = x
            done += 1
        # CloudSim updates the whole datacenter again at tc; only the hosts the migrations
        # changed can measure differently at the same instant.
        _update_hosts(tc, involved, n_involved, marks, source, hf, hi, hv, hreq, halloc, hmig,
                      vf, vi, vhist, options, parameters, result, True)
    for j in range(done, n):
        pending_time[j - done] = pending_time[j]
        pending_vm[j - done] = pending_vm[j]
        pending_host[j - done] = pending_host[j]
    return n - done


# --- placement at creation -----------------------------------------------------------------

@allocating
def _place(vms, n, hf, hi, hv, hreq, halloc, hmig, watts, vf, vi, vhist, options, parameters,
           awake, result, scratch_hosts, scratch_saves, unplaced):
    """Create VMs vms[0..n-1], in that order, each at its full speed: first fit (NPA, DVFS)
    or the power-aware rule (migration policies). The VMs that fit nowhere are written to
    unplaced (status NOT_PLACED); returns how many."""
    n_hosts = hf.shape[0]
    cloudsim = options[O_CLOUDSIM] == 1
    history = np.empty(HISTORY_LENGTH)
    scratch = np.empty(HISTORY_LENGTH)
    (cand, pristine, saved, order_hosts, fit_host) = scratch_hosts
    base_power = scratch_saves[6]
    fit_diff = scratch_saves[7]
    cache = scratch_saves[8]
    n_classes = hi[:, H_CLASS].max() + 1
    class_ptr = np.empty(n_classes, np.int64)
    class_end = np.empty(n_classes, np.int64)
    counts = np.zeros(1, np.int64)
    nothing = np.zeros(n_hosts, np.bool_)
    for h in range(n_hosts):
        hi[h, H_N0] = hi[h, H_N]
        hi[h, H_TOUCHED] = 0
        hi[h, H_CACHED] = 0
        base_power[h] = watts[h, 0]
    _build_candidates(hi, cand, counts, pristine, class_ptr, class_end, nothing)
    nothing[:] = False
    n_unplaced = 0
    for j in range(n):
        v = vms[j]
        vi[v, V_INST] = 1
        vf[v, V_REQ] = vf[v, V_MIPS]
        target = -1
        if options[O_POLICY] == MIGRATE:
            target = _find_host(v, nothing, hf, hi, hv, hreq, halloc, hmig, watts, vf, vi,
                                vhist, options, parameters, history, scratch, cand, counts,
                                base_power, cache, fit_diff, fit_host, result)
        else:
            for k in range(counts[0]):
                if _suitable(cand[k], v, hf, hi, hv, vf, vi, cloudsim):
                    target = cand[k]
                    break
        if target >= 0:
            _append(target, v, vf[v, V_MIPS], False, hf, hi, hv, hreq, halloc, hmig, vf, vi,
                    cloudsim, awake, result)
            _planned_onto(target, hi, cand, counts, pristine, class_ptr, class_end)
            vi[v, V_HOST] = target
            vi[v, V_STATUS] = RUNNING
        else:
            vi[v, V_STATUS] = NOT_PLACED
            unplaced[n_unplaced] = v
            n_unplaced += 1
        vi[v, V_INST] = 0
        # A created VM has no cloudlet yet: it requests nothing until its first update.
        vf[v, V_REQ] = 0.0
    return n_unplaced


@kernel
def _depart(v, t, hf, hi, hv, hreq, halloc, hmig, vf, vi, result, pending_time, pending_vm,
            pending_host, n_pending):
    """Running VM v leaves at t: out of its host's list and, while it migrates, out of its
    target's too (the migration is dropped); its last state entry requests and gets nothing
    from t on. Returns how many migrations remain queued. Only vmsched's rules have departures
    (CloudSim's VMs stay to the end), hence cloudsim=False below."""
    if vi[v, V_IN_MIG] == 1:
        for j in range(n_pending):
            if pending_vm[j] == v:
                _remove(pending_host[j], v, True, hf, hi, hv, hreq, halloc, hmig, vf, vi,
                        False)
                for k in range(j, n_pending - 1):
                    pending_time[k] = pending_time[k + 1]
                    pending_vm[k] = pending_vm[k + 1]
                    pending_host[k] = pending_host[k + 1]
                n_pending -= 1
                break
    if vi[v, V_HOST] >= 0:
        _remove(vi[v, V_HOST], v, False, hf, hi, hv, hreq, halloc, hmig, vf, vi, False)
    _vm_entry(vf, v, t, 0.0, 0.0, vi[v, V_IN_MIG] == 1)
    vi[v, V_IN_MIG] = 0
    vi[v, V_HOST] = -1
    vi[v, V_STATUS] = FINISHED
    vf[v, V_END_S] = t
    result[R_FINISHED] += 1
    return n_pending


# --- the run --------------------------------------------------------------------------------

@allocating
def run_consolidation(source, hf, hi, watts, vf, vi, options, parameters, list_capacity,
                      series):
    """Run a day (or any span). Inputs are filled by the caller (host capacities, pCPUs and
    classes; VM speeds (V_MIPS: vCPUs x speed), vCPUs, sizes, V_START_S and V_END_S; options
    and parameters); the per-host and per-VM totals are left in hf and vf. source: the VMs'
    utilisation (_sample). CloudSim's rules create every VM at 0; vmsched's place a VM at the
    first update at or after its start (power-aware, full speed), retry it at every update
    while it fits nowhere, and take it out at the first update at or after its end (if
    before the run's end).
    Returns (results: float64 [N_RESULTS], rows of `series` filled: one per round)."""
    n_hosts = hf.shape[0]
    n_vms = vf.shape[0]
    result = np.zeros(N_RESULTS)
    # The power models with their divisions done once (every kernel below takes these).
    power = np.empty((n_hosts, N_PREPARED))
    for h in range(n_hosts):
        prepare_power(hi[h, H_KIND], watts[h], power[h])
    if options[O_SEED] >= 0:
        np.random.seed(options[O_SEED])
    hv = np.full((n_hosts, list_capacity), -1, np.int64)
    awake = np.zeros((n_hosts + 63) // 64, np.uint64)
    for h in range(n_hosts):
        _wake(awake, h)     # (every host is measured at its first update)
    hreq = np.zeros((n_hosts, list_capacity))
    halloc = np.zeros((n_hosts, list_capacity))
    hmig = np.zeros((n_hosts, list_capacity), np.bool_)
    vhist = np.zeros((n_vms, HISTORY_LENGTH))
    for h in range(n_hosts):
        hf[h, H_AVAIL] = hf[h, H_TOTAL]
        hf[h, H_P_TIME] = -1
        hf[h, H_Q_TIME] = -1
        hf[h, H_Q_ACTIVE] = 1
    for v in range(n_vms):
        vf[v, V_P_TIME] = -1
        vf[v, V_Q_TIME] = -1
        vf[v, V_HIST_T] = 0.0 if options[O_CLOUDSIM] == 1 else -1.0
        # Leaving at the run's end or later: running at the end.
        if options[O_CLOUDSIM] == 1 or vf[v, V_END_S] > parameters[P_END]:
            vf[v, V_END_S] = parameters[P_END]
        vf[v, V_REQ_T] = -1.0
        vf[v, V_FIRST_TRY] = -1.0
        vi[v, V_HOST] = -1
        vi[v, V_STATUS] = NOT_ARRIVED
        if options[O_GROUPS] == 0:
            vi[v, V_GROUP] = -1
    scratch_hosts = (np.empty(n_hosts, np.int64), np.empty(n_hosts, np.int64),
                     np.empty(n_hosts, np.int64), np.empty(n_hosts, np.int64),
                     np.empty(n_hosts, np.int64))
    scratch_saves = (np.empty((n_hosts, N_HI), np.int64), np.empty((n_hosts, H_PREV_UTIL + 1)),
                     np.empty((n_hosts, list_capacity), np.int64),
                     np.empty((n_hosts, list_capacity)), np.empty((n_hosts, list_capacity)),
                     np.empty((n_hosts, list_capacity), np.bool_), np.empty(n_hosts),
                     np.empty(n_hosts), np.empty((n_hosts, N_CACHE)))
    interval = parameters[P_INTERVAL]
    end = parameters[P_END]
    cloudsim = options[O_CLOUDSIM] == 1
    trying = np.empty(n_vms, np.int64)
    tmp_v = np.empty(list_capacity, np.int64)
    tmp_req = np.empty(list_capacity)
    waiting = np.empty(n_vms, np.int64)
    n_waiting = 0
    by_start = np.argsort(vf[:, V_START_S].copy(), kind="mergesort")
    by_end = np.argsort(vf[:, V_END_S].copy(), kind="mergesort")
    next_start = 0
    next_end = 0
    if cloudsim:
        # CloudSim creates every VM at t = 0, in id order.
        result[R_NOT_PLACED] += _place(np.arange(n_vms), n_vms, hf, hi, hv, hreq, halloc,
                                       hmig, power, vf, vi, vhist, options, parameters, awake,
                                       result, scratch_hosts, scratch_saves, waiting)
        next_start = n_vms
        next_end = n_vms
        # Running VMs request no memory or bandwidth in CloudSim (null utilisation models).
        for h in range(n_hosts):
            hf[h, H_RAM_USED] = 0.0
            hf[h, H_BW_USED] = 0.0
    involved = np.empty(8 * n_vms + 32, np.int64)
    marks = np.zeros((n_hosts + 63) // 64, np.uint64)
    pending_time = np.empty(4 * n_vms + 16)
    pending_vm = np.empty(4 * n_vms + 16, np.int64)
    pending_host = np.empty(4 * n_vms + 16, np.int64)
    sharing = np.zeros(n_hosts, np.int64)
    copy_out = np.zeros(3)
    plan_vm = np.empty(4 * n_vms + 16, np.int64)
    plan_host = np.empty(4 * n_vms + 16, np.int64)
    done_at = np.empty(4 * n_vms + 16)
    t = parameters[P_FIRST]
    if cloudsim:
        t = t + interval
    row = 0
    n_pending = 0
    while t <= end and result[R_ERROR] == ERR_NONE:
        # Migrations that complete by t run first (their events were scheduled before this
        # update's).
        n_pending = _complete_migrations(t, pending_time, pending_vm, pending_host, n_pending,
                                         involved, marks, source, hf, hi, hv, hreq, halloc, hmig,
                                         power, vf, vi, vhist, options, parameters, awake,
                                         result)
        # vmsched: VMs present in updates with start_s <= t < end_s. Departures first, then
        # the VMs waiting for a host (in the order they came) and the new arrivals are placed.
        while (next_end < n_vms and vf[by_end[next_end], V_END_S] <= t
               and vf[by_end[next_end], V_END_S] < end):   # the rest run to the end
            v = by_end[next_end]
            next_end += 1
            status = vi[v, V_STATUS]
            if status == RUNNING:
                n_pending = _depart(v, t, hf, hi, hv, hreq, halloc, hmig, vf, vi, result,
                                    pending_time, pending_vm, pending_host, n_pending)
            elif status == WAITING:
                vi[v, V_STATUS] = NOT_PLACED
                result[R_NOT_PLACED] += 1
            elif status == NOT_ARRIVED:
                vi[v, V_STATUS] = FINISHED     # came and went between two updates
                result[R_FINISHED] += 1
        n_trying = 0
        for j in range(n_waiting):
            if vi[waiting[j], V_STATUS] == WAITING:
                trying[n_trying] = waiting[j]
                n_trying += 1
        while next_start < n_vms and vf[by_start[next_start], V_START_S] <= t:
            v = by_start[next_start]
            next_start += 1
            if vi[v, V_STATUS] == NOT_ARRIVED:
                vf[v, V_FIRST_TRY] = t
                trying[n_trying] = v
                n_trying += 1
        if n_trying > 0:
            n_waiting = _place(trying, n_trying, hf, hi, hv, hreq, halloc, hmig, power, vf,
                               vi, vhist, options, parameters, awake, result, scratch_hosts,
                               scratch_saves, waiting)
            for j in range(n_waiting):
                vi[waiting[j], V_STATUS] = WAITING
            for j in range(n_trying):
                v = trying[j]
                if vi[v, V_STATUS] == RUNNING and vf[v, V_FIRST_TRY] < t:
                    result[R_DELAYED] += 1
                    result[R_DELAY_S] += t - vf[v, V_FIRST_TRY]
        _update(t, True, source, hf, hi, hv, hreq, halloc, hmig, power, vf, vi, vhist, options,
                parameters, awake, result)
        granting = result[R_GRANTING] == 1
        n_plan = 0
        if options[O_POLICY] == MIGRATE:
            n_plan = _round(t, source, hf, hi, hv, hreq, halloc, hmig, power, vf, vi, vhist,
                            options, parameters, awake, result, plan_vm, plan_host,
                            series[row], scratch_hosts, scratch_saves)
            result[R_ROUNDS] += 1
            for h in range(n_hosts):
                if _migrating_in_after_another(h, hi, hmig):
                    _migrating_in_first(h, hf, hi, hv, hreq, halloc, hmig, vf, vi, tmp_v,
                                        tmp_req)
        # Start the planned migrations (Host.addMigratingInVm): CloudSim measures the target
        # and the source again after each; all at t, so each host's last measurement is
        # what remains, and measuring every involved host once afterwards leaves the same.
        n_involved = 0
        for k in range(n_plan):
            v = plan_vm[k]
            x = plan_host[k]
            vi[v, V_IN_MIG] = 1
            already = False
            for i in range(hi[x, H_N]):
                if hv[x, i] == v and hmig[x, i]:
                    already = True
            if not already:
                _append(x, v, vf[v, V_REQ], True, hf, hi, hv, hreq, halloc, hmig, vf, vi,
                        cloudsim, awake, result)
                involved[n_involved] = x
                n_involved += 1
                if vi[v, V_HOST] >= 0:
                    involved[n_involved] = vi[v, V_HOST]
                    n_involved += 1
            result[R_MIGRATIONS] += 1
            if options[O_MIGRATION] == CLOUDSIM_MIGRATION:
                # CloudSim: the memory once, over half the target's link, no downtime.
                done_at[k] = t + vf[v, V_RAM] / (hf[x, H_BW] / parameters[P_BANDWIDTH_DIVISOR])
                result[R_TRANSFERRED_MIB] += vf[v, V_RAM]
        if options[O_MIGRATION] == PRECOPY and n_plan > 0:
            # Concurrent migrations share a host's migration bandwidth (the share of its link
            # CloudSim gives them: bandwidth / P_BANDWIDTH_DIVISOR MB/s).
            for k in range(n_plan):
                sharing[plan_host[k]] += 1
                if vi[plan_vm[k], V_HOST] >= 0:
                    sharing[vi[plan_vm[k], V_HOST]] += 1
            for k in range(n_plan):
                v = plan_vm[k]
                x = plan_host[k]
                origin = vi[v, V_HOST]
                link = hf[x, H_BW]
                ways = sharing[x]
                if origin >= 0:
                    link = min(link, hf[origin, H_BW])
                    ways = max(ways, sharing[origin])
                bandwidth = link / parameters[P_BANDWIDTH_DIVISOR] / ways
                duration = precopy(vf[v, V_RAM], vf[v, V_RAM] * vf[v, V_ACTIVE],
                                   parameters[P_DIRTY_RATE], bandwidth,
                                   parameters[P_MAX_DOWNTIME], parameters[P_MAX_ROUNDS],
                                   copy_out)
                done_at[k] = t + duration
                result[R_TRANSFERRED_MIB] += copy_out[0]
                result[R_DOWNTIME_S] += copy_out[1]
                result[R_COPY_ROUNDS] += copy_out[2]
            for k in range(n_plan):
                sharing[plan_host[k]] = 0
                if vi[plan_vm[k], V_HOST] >= 0:
                    sharing[vi[plan_vm[k], V_HOST]] = 0
        _update_hosts(t, involved, n_involved, marks, source, hf, hi, hv, hreq, halloc, hmig,
                      vf, vi, vhist, options, parameters, result, False)
        # Queue the migrations' completions, in time order (ties: in the order they started,
        # which is the order CloudSim's events run in).
        for k in range(n_plan):
            n_pending = _queue_completion(pending_time, pending_vm, pending_host, n_pending,
                                          done_at[k], plan_vm[k], plan_host[k])
            if n_pending < 0:
                result[R_ERROR] = ERR_QUEUE_FULL
                n_pending = 0
                break
        if row < series.shape[0]:
            active = 0
            fleet_w = 0.0
            for h in range(n_hosts):
                if hf[h, H_UTIL] > 0:
                    active += 1
                    fleet_w += _power(h, hi, power, min(_fraction(hf, h, hf[h, H_UTIL]), 1.0))
            series[row, S_TIME] = t
            series[row, S_ACTIVE_HOSTS] = active
            series[row, S_ENERGY_J] = result[R_ENERGY_J]
            series[row, S_MIGRATIONS] = result[R_MIGRATIONS]
            series[row, S_POWER_W] = fleet_w
            row += 1
        if cloudsim and not granting:
            # No cloudlet gets CPU any more (every VM's demand or share is 0): CloudSim
            # schedules no further update (PowerDatacenter: minTime == Double.MAX_VALUE).
            break
        t = t + interval
    n_pending = _complete_migrations(end, pending_time, pending_vm, pending_host, n_pending,
                                     involved, marks, source, hf, hi, hv, hreq, halloc, hmig,
                                     power, vf, vi, vhist, options, parameters, awake, result)
    if not cloudsim and result[R_END_S] < end and result[R_ERROR] == ERR_NONE:
        _update(end, False, source, hf, hi, hv, hreq, halloc, hmig, power, vf, vi, vhist,
                options, parameters, awake, result)
    for j in range(n_waiting):
        if vi[waiting[j], V_STATUS] == WAITING:
            vi[waiting[j], V_STATUS] = NOT_PLACED
            result[R_NOT_PLACED] += 1
    # Close the state histories.
    for h in range(n_hosts):
        if hf[h, H_P_TIME] != -1:
            _host_entry_final(hf, h)
        result[R_SLA_S] += hf[h, H_SLA_S]
        result[R_ACTIVE_S] += hf[h, H_ACTIVE_S]
        result[R_SHUTDOWNS] += hf[h, H_SHUTDOWNS]
        result[R_SHUTDOWN_S] += hf[h, H_SHUTDOWN_S]
    for v in range(n_vms):
        if vf[v, V_P_TIME] != -1:
            _vm_entry_final(vf, v)
        result[R_REQ_S] += vf[v, V_REQ_S]
        result[R_ALLOC_S] += vf[v, V_ALLOC_S]
        result[R_MIG_LOSS] += vf[v, V_MIG_LOSS]
        result[R_SLA_SUM] += vf[v, V_SLA_SUM]
        result[R_SLA_N] += vf[v, V_SLA_N]
        result[R_MIG_S] += vf[v, V_MIG_S]
        result[R_MIG_N] += vf[v, V_MIG_N]
    return result, row
