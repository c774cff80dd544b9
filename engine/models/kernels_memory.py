"""Memory on one host for one tick (Numba kernels). Units: MiB.

Host guest memory M = memory - reserved. minFree = 899 MiB for the first 28 GiB of host
memory plus 1% of the rest. The host's state compares free memory F with minFree:
high (F >= 4 minFree), clear (>= 1), soft (>= 0.64), hard (>= 0.32), low (< 0.32); below
0.16 minFree the host blocks allocations.

`esxi`, per tick:

1. touched_i = min(memory_i, max(touched_i, active_i)): memory a guest touched stays
   consumed until it leaves. want_i = min(touched_i, limit_i) may be resident; the rest
   (above the limit) is always reclaimed.
2. F0 = M - (1 - sharing) * sum want: page sharing saves a fraction of resident memory. The
   state from F0 decides the mechanisms: none in high or clear; ballooning (at most
   max_balloon x memory_i per VM) in soft; ballooning, then compression (a cache of at most
   compression_cache x memory_i, pages stored at compression_ratio : 1), then host swapping
   in hard and low.
3. In soft, hard and low the host reclaims until F = minFree (the clear threshold), taking
   memory from the VMs with the fewest shares per active page first, idle pages taxed
   (Waldspurger): VM i holding P MiB, a_i of them active, counts as
   A_i(P) = a_i + k (P - a_i) MiB (P >= a_i; P below), k = 1 / (1 - idle_tax). At the water
   level x every VM that gives memory holds P_i = A_i^-1(shares_i x), never below its
   reservation (nor, in soft, below what ballooning can take). x is the largest level that
   meets the target (safeguarded Newton on the piecewise-linear footprint; if even the floors
   miss it, they are taken).
4. Always: sum resident <= M (more reclamation, floors at reservations, when sharing would
   let it exceed); if the reservations alone exceed M they are held in proportion.
5. Each VM's non-resident memory touched - resident goes to its balloon first (up to its
   cap), then (hard and low) to the compression cache, then to swap.
   shared = sharing x resident; stall = max(0, min(active, touched) - resident), the active
   memory that is not resident.

`none`: no reclamation: resident = touched, every other quantity 0 (the state is reported).
"""

import numpy as np
from vmsched.engine.jit import kernel, scalar_helper

HIGH, CLEAR, SOFT, HARD, LOW = 0, 1, 2, 3, 4
STATE_NAMES = ("high", "clear", "soft", "hard", "low")

#: Parameter vector layout (float64): see vmsched.models.host_models.MEMORY_PARAMETERS.
SHARING, IDLE_TAX, MAX_BALLOON, COMPRESSION_CACHE, COMPRESSION_RATIO = 0, 1, 2, 3, 4
HIGH_AT, CLEAR_AT, SOFT_AT, HARD_AT, BLOCK_AT = 5, 6, 7, 8, 9
MIN_FREE_BASE, MIN_FREE_KNEE, MIN_FREE_REST = 10, 11, 12
N_PARAMETERS = 13

#: Relative accuracy of the reclamation level (in MiB of the host's memory).
LEVEL_TOLERANCE = 1e-9


@scalar_helper
def min_free_mib(host_memory_mib, params):
    """minFree: base MiB for the first `knee` MiB of host memory plus `rest` of the remainder."""
    return params[MIN_FREE_BASE] + params[MIN_FREE_REST] * max(
        0.0, host_memory_mib - params[MIN_FREE_KNEE])


@scalar_helper
def classify(free, min_free, params):
    """The ESXi state of a host with `free` MiB free."""
    if free >= params[HIGH_AT] * min_free:
        return HIGH
    if free >= params[CLEAR_AT] * min_free:
        return CLEAR
    if free >= params[SOFT_AT] * min_free:
        return SOFT
    if free >= params[HARD_AT] * min_free:
        return HARD
    return LOW


@scalar_helper
def _held(x, i, shares, active, floor, want, idle_weight):
    """P_i(x) = clamp(A_i^-1(shares_i x), floor_i, want_i) and its derivative in x.
    idle_weight = 1 - idle_tax: idle pages count 1 / idle_weight times in A_i."""
    y = shares[i] * x
    if y >= active[i]:
        level = active[i] + (y - active[i]) * idle_weight
        slope = shares[i] * idle_weight
    else:
        level = y
        slope = shares[i]
    if level <= floor[i]:
        return floor[i], 0.0
    if level >= want[i]:
        return want[i], 0.0
    return level, slope


@kernel
def _compressed(non_resident, balloon_cap, compression_cap):
    """Compression-cache MiB for `non_resident` MiB (after the balloon), and d/d(non_resident)."""
    beyond = non_resident - balloon_cap
    if beyond <= 0:
        return 0.0, 0.0
    if beyond >= compression_cap:
        return compression_cap, 0.0
    return beyond, 1.0


@kernel
def _resident_total(x, shares, active, floor, want, ceiling, idle_weight):
    """sum min(ceiling_i, P_i(x)) and its slope (the resident-cap solve)."""
    total = 0.0
    slope = 0.0
    for i in range(shares.shape[0]):
        held, d_held = _held(x, i, shares, active, floor, want, idle_weight)
        if held >= ceiling[i]:
            total += ceiling[i]
        else:
            total += held
            slope += d_held
    return total, slope


@kernel
def _top_level(shares, active, want, idle_weight):
    """The level at which every VM holds all it wants."""
    top = 0.0
    for i in range(shares.shape[0]):
        adjusted = (want[i] if want[i] <= active[i]
                    else active[i] + (want[i] - active[i]) / idle_weight)
        top = max(top, adjusted / shares[i])
    return top


@kernel
def split_non_resident(touched, resident, memory, compress, params):
    """Where a VM's touched - resident MiB are: (ballooned, compressed, swapped). The balloon
    takes up to max_balloon x memory, then (if compress) the compression cache up to
    compression_cache x memory, then swap the rest."""
    away = touched - resident
    ballooned = min(away, params[MAX_BALLOON] * memory)
    rest = away - ballooned
    compressed = min(rest, params[COMPRESSION_CACHE] * memory) if compress else 0.0
    return ballooned, compressed, rest - compressed


@kernel
def esxi(guest_memory, host_memory, params, memory, active, reservation, limit, shares,
         share_scale, touched_before, touched, resident, scratch, level):
    """ESXi-style reclamation on one host (module doc). Reads touched_before, writes touched
    (after this tick) and resident; the other quantities follow from them
    (split_non_resident, derive_memory). Shares: shares[i], or share_scale * limit[i] when
    share_scale > 0 (the default settings). scratch: float64 [7, n]. level[0]: the host's
    water level of the last tick, a first guess (updated; it changes no result, only how fast
    the solve converges). Returns (state, free MiB after reclamation, blocked)."""
    n = memory.shape[0]
    keep = 1.0 - params[SHARING]
    min_free = min_free_mib(host_memory, params)
    total_want = 0.0
    for i in range(n):
        touched[i] = min(memory[i], max(touched_before[i], active[i]))
        want = min(touched[i], limit[i])
        resident[i] = want
        total_want += want
    free0 = guest_memory - keep * total_want
    state = classify(free0, min_free, params)
    blocked = free0 < params[BLOCK_AT] * min_free
    if state < SOFT and total_want <= guest_memory:
        # No pressure: everything wanted stays resident (above a limit: balloon, then swap).
        return state, free0, blocked
    return _reclaim(guest_memory, params, memory, active, reservation, limit, shares,
                    share_scale, touched, resident, scratch, state, min_free, blocked, level)


@kernel
def _reclaim(guest_memory, params, memory, active, reservation, limit, shares, share_scale,
             touched, resident, scratch, state, min_free, blocked, level):
    """Steps 3 to 5 of the module doc for a host under pressure (resident holds want)."""
    n = memory.shape[0]
    keep = 1.0 - params[SHARING]
    idle_weight = 1.0 - params[IDLE_TAX]
    want = scratch[0]
    hot = scratch[1]
    floor = scratch[2]
    balloon_cap = scratch[3]
    compression_cap = scratch[4]
    held = scratch[5]
    weight = scratch[6]
    for i in range(n):
        want[i] = resident[i]
        hot[i] = min(active[i], want[i])
        floor[i] = min(reservation[i], want[i])
        balloon_cap[i] = params[MAX_BALLOON] * memory[i]
        compression_cap[i] = params[COMPRESSION_CACHE] * memory[i]
        held[i] = want[i]
        weight[i] = share_scale * limit[i] if share_scale > 0 else shares[i]
    compress = state >= HARD
    if compress:
        # Hard and low: the pressure target and the resident cap share the floors (the
        # reservations), so one solve finds the largest level that meets both.
        total_reserved = 0.0
        for i in range(n):
            total_reserved += floor[i]
        if total_reserved < guest_memory:
            level[0] = _solve(guest_memory - min_free, weight, hot, floor, want, touched,
                              balloon_cap, compression_cap, compress, params, idle_weight,
                              guest_memory, level[0])
            for i in range(n):
                held[i] = _held(level[0], i, weight, hot, floor, want, idle_weight)[0]
    elif state == SOFT:
        # Ballooning only: a VM keeps what its balloon cannot take.
        for i in range(n):
            room = max(0.0, balloon_cap[i] - (touched[i] - want[i]))
            floor[i] = max(floor[i], want[i] - room)
        level[0] = _solve(guest_memory - min_free, weight, hot, floor, want, touched,
                          balloon_cap, compression_cap, compress, params, idle_weight, np.inf,
                          level[0])
        for i in range(n):
            held[i] = _held(level[0], i, weight, hot, floor, want, idle_weight)[0]
    # Resident memory never exceeds M: floors at the reservations.
    total_held = 0.0
    for i in range(n):
        total_held += held[i]
    if total_held > guest_memory:
        total_reserved = 0.0
        for i in range(n):
            floor[i] = min(reservation[i], want[i])
            total_reserved += floor[i]
        if total_reserved >= guest_memory:
            scale = guest_memory / total_reserved if total_reserved > 0 else 0.0
            for i in range(n):
                held[i] = floor[i] * scale
        else:
            level[0] = _solve_resident(guest_memory, weight, hot, floor, want, held,
                                       idle_weight, level[0])
            for i in range(n):
                held[i] = min(held[i],
                              _held(level[0], i, weight, hot, floor, want, idle_weight)[0])
    physical = 0.0
    for i in range(n):
        resident[i] = held[i]
        compressed = split_non_resident(touched[i], held[i], memory[i], compress, params)[1]
        physical += keep * held[i] + compressed / params[COMPRESSION_RATIO]
    return state, guest_memory - physical, blocked


@kernel
def _solve(target, shares, hot, floor, want, touched, balloon_cap, compression_cap, compress,
           params, idle_weight, resident_cap, guess):
    """The largest level x with footprint(x) <= target and sum P(x) <= resident_cap (0 if
    even the floors miss them). Both are piecewise linear and non-decreasing in x: Newton
    steps on the larger excess, bisection when a step leaves the bracket."""
    low = 0.0
    top = high = _top_level(shares, hot, want, idle_weight)
    if 0 < guess < top:
        # Last tick's level: usually one or two Newton steps from the answer, so the ends of
        # the bracket are only looked at if the search gets there.
        x = guess
    else:
        at_low, _ = _excess(low, target, shares, hot, floor, want, touched, balloon_cap,
                            compression_cap, compress, params, idle_weight, resident_cap)
        if at_low >= 0:
            return 0.0
        at_high, _ = _excess(high, target, shares, hot, floor, want, touched, balloon_cap,
                             compression_cap, compress, params, idle_weight, resident_cap)
        if at_high <= 0:
            return high
        x = high * (-at_low) / (at_high - at_low)  # the secant through the bracket's ends
    scale = max(target, 1.0)
    for _ in range(200):
        excess, slope = _excess(x, target, shares, hot, floor, want, touched, balloon_cap,
                                compression_cap, compress, params, idle_weight, resident_cap)
        if excess <= 0:
            low = x
            if -excess <= LEVEL_TOLERANCE * scale:
                break
        else:
            high = x
        step = x - excess / slope if slope > 0 else -1.0
        x = step if low < step < high else 0.5 * (low + high)
        if high - low <= 1e-15 * high:
            break
    if high == top and low < top and _excess(top, target, shares, hot, floor, want, touched,
                                             balloon_cap, compression_cap, compress, params,
                                             idle_weight, resident_cap)[0] <= 0:
        return top  # nothing to reclaim after all
    return low


@kernel
def _excess(x, target, shares, hot, floor, want, touched, balloon_cap, compression_cap,
            compress, params, idle_weight, resident_cap):
    """max(footprint(x) - target, sum P(x) - resident_cap) and its slope in x."""
    keep = 1.0 - params[SHARING]
    per_compressed = 1.0 / params[COMPRESSION_RATIO]
    footprint = 0.0
    footprint_slope = 0.0
    held_total = 0.0
    held_slope = 0.0
    for i in range(shares.shape[0]):
        held, d_held = _held(x, i, shares, hot, floor, want, idle_weight)
        held_total += held
        held_slope += d_held
        footprint += keep * held
        factor = keep
        if compress:
            cached, d_cached = _compressed(touched[i] - held, balloon_cap[i], compression_cap[i])
            footprint += cached * per_compressed
            factor -= d_cached * per_compressed
        footprint_slope += factor * d_held
    if held_total - resident_cap > footprint - target:
        return held_total - resident_cap, held_slope
    return footprint - target, footprint_slope


@kernel
def _solve_resident(capacity, shares, hot, floor, want, ceiling, idle_weight, guess):
    """The largest level x with sum min(ceiling, P(x)) <= capacity."""
    low = 0.0
    top = high = _top_level(shares, hot, want, idle_weight)
    if 0 < guess < top:
        x = guess  # last tick's level (see _solve)
    else:
        at_low = _resident_total(low, shares, hot, floor, want, ceiling, idle_weight)[0]
        at_high = _resident_total(high, shares, hot, floor, want, ceiling, idle_weight)[0]
        if at_low >= capacity:
            return 0.0
        if at_high <= capacity:
            return high
        x = high * (capacity - at_low) / (at_high - at_low)
    for _ in range(200):
        value, slope = _resident_total(x, shares, hot, floor, want, ceiling, idle_weight)
        if value <= capacity:
            low = x
            if capacity - value <= LEVEL_TOLERANCE * max(capacity, 1.0):
                break
        else:
            high = x
        step = x - (value - capacity) / slope if slope > 0 else -1.0
        x = step if low < step < high else 0.5 * (low + high)
        if high - low <= 1e-15 * high:
            break
    if high == top and low < top and _resident_total(
            top, shares, hot, floor, want, ceiling, idle_weight)[0] <= capacity:
        return top
    return low


@kernel
def no_reclamation(guest_memory, host_memory, params, memory, active, reservation, limit,
                   shares, share_scale, touched_before, touched, resident, scratch, level):
    """The `none` model: everything touched stays resident; the state is still reported."""
    total = 0.0
    for i in range(memory.shape[0]):
        touched[i] = min(memory[i], max(touched_before[i], active[i]))
        resident[i] = touched[i]
        total += touched[i]
    free = guest_memory - total
    min_free = min_free_mib(host_memory, params)
    return classify(free, min_free, params), free, free < params[BLOCK_AT] * min_free


MEMORY_KERNELS = {"esxi": esxi, "none": no_reclamation}
