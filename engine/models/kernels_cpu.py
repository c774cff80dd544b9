"""vCPU scheduling on one host for one tick (Numba kernels).

Units: cores (a fraction of one pCPU per second, 0..vcpus). Every function takes the VMs of one
host as arrays, writes the granted cores into `granted` and returns (sum granted, sum D).
Shares: `shares[i]`, or `share_scale * limit[i]` when share_scale > 0 (the default settings:
1000 shares per vCPU with limit = vCPUs), so the default path needs no shares array.

fair_share (ESXi and cgroups proportional share with reservations and limits)::

    D_i = min(d_i, limit_i)       R_i = min(reservation_i, D_i)
    sum D <= C:  g_i = D_i
    otherwise:   g_i = min(D_i, max(R_i, lam * shares_i))   with lam such that sum g = C

If the reservations alone exceed C they are granted in proportion, g_i = R_i * C / sum R.
Water-filling: lam is found by safeguarded Newton steps on the piecewise-linear, non-decreasing
f(lam) = sum clamp(lam * shares_i, R_i, D_i); inside the right linear piece one step is exact.

proportional (CloudSim's time-shared oversubscription): g_i = D_i * min(1, C / sum D).
"""

from vmsched.engine.jit import kernel, scalar_helper

#: Relative accuracy of fair_share's water level: sum g is C within this relative error.
WATER_LEVEL_TOLERANCE = 1e-10


@scalar_helper
def _share(i, shares, share_scale, limit):
    return share_scale * limit[i] if share_scale > 0 else shares[i]


@kernel
def fair_share(capacity, demand, shares, share_scale, reservation, limit, granted, level):
    """Weighted max-min water-filling with reservations and limits; see the module doc.
    level[0]: the host's water level of the last tick, a first guess (updated)."""
    n = demand.shape[0]
    total_demand = 0.0
    total_reserved = 0.0
    for i in range(n):
        wanted = min(demand[i], limit[i])
        granted[i] = wanted
        total_demand += wanted
        total_reserved += min(reservation[i], wanted)
    if total_demand <= capacity:
        return total_demand, total_demand
    if total_reserved >= capacity:
        scale = capacity / total_reserved if total_reserved > 0 else 0.0
        used = 0.0
        for i in range(n):
            granted[i] = min(reservation[i], granted[i]) * scale
            used += granted[i]
        return used, total_demand
    # Bracket the water level: f(low) <= C < f(high).
    low = 0.0
    high = 0.0
    total_shares = 0.0
    for i in range(n):
        share = _share(i, shares, share_scale, limit)
        total_shares += share
        high = max(high, granted[i] / share)
    lam = level[0] if 0 < level[0] < high else capacity / total_shares
    for _ in range(100):
        total, slope = _water(lam, shares, share_scale, reservation, limit, demand)
        error = total - capacity
        if abs(error) <= WATER_LEVEL_TOLERANCE * capacity:
            break
        if error > 0:
            high = lam
        else:
            low = lam
        step = lam - error / slope if slope > 0 else -1.0
        lam = step if low < step < high else 0.5 * (low + high)
    level[0] = lam
    used = 0.0
    for i in range(n):
        wanted = min(demand[i], limit[i])
        granted[i] = min(wanted, max(min(reservation[i], wanted),
                                     lam * _share(i, shares, share_scale, limit)))
        used += granted[i]
    return used, total_demand


@kernel
def _water(lam, shares, share_scale, reservation, limit, demand):
    """f(lam) = sum clamp(lam * shares, R, D) and its slope (sum of shares strictly inside)."""
    total = 0.0
    slope = 0.0
    for i in range(demand.shape[0]):
        wanted = min(demand[i], limit[i])
        floor = min(reservation[i], wanted)
        share = _share(i, shares, share_scale, limit)
        level = lam * share
        if level <= floor:
            total += floor
        elif level >= wanted:
            total += wanted
        else:
            total += level
            slope += share
    return total, slope


@kernel
def proportional(capacity, demand, shares, share_scale, reservation, limit, granted, level):
    """CloudSim's time-shared scaling: g_i = D_i * min(1, C / sum D) (shares and reservations
    are ignored, limits cap the demand)."""
    total_demand = 0.0
    for i in range(demand.shape[0]):
        granted[i] = min(demand[i], limit[i])
        total_demand += granted[i]
    if total_demand <= capacity:
        return total_demand, total_demand
    scale = capacity / total_demand
    used = 0.0
    for i in range(demand.shape[0]):
        granted[i] *= scale
        used += granted[i]
    return used, total_demand


CPU_KERNELS = {"fair_share": fair_share, "proportional": proportional}
