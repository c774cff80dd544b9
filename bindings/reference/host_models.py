"""Reference host models: one host, plain Python, the models' formulas written out.

Water levels are found by plain bisection (a different method from the engine's safeguarded
Newton steps), so tests compare engine and reference with a stated float tolerance.
"""

HIGH, CLEAR, SOFT, HARD, LOW = range(5)


def _bisect(predicate, low, high, iterations=200):
    """The largest x in [low, high] with predicate(x) true (predicate(low) true, monotone)."""
    if predicate(high):
        return high
    for _ in range(iterations):
        middle = (low + high) / 2
        if predicate(middle):
            low = middle
        else:
            high = middle
    return low


def fair_share(capacity, demand, shares, reservation, limit):
    """Granted cores per VM: g = min(D, max(R, lam * shares)) with sum g = C."""
    wanted = [min(d, lim) for d, lim in zip(demand, limit)]
    floor = [min(r, w) for r, w in zip(reservation, wanted)]
    if sum(wanted) <= capacity:
        return wanted
    if sum(floor) >= capacity:
        total = sum(floor)
        return [f * capacity / total if total > 0 else 0.0 for f in floor]

    def grants(lam):
        return [min(w, max(f, lam * s)) for w, f, s in zip(wanted, floor, shares)]

    top = max(w / s for w, s in zip(wanted, shares))
    lam = _bisect(lambda lam: sum(grants(lam)) <= capacity, 0.0, top)
    return grants(lam)


def proportional(capacity, demand, shares, reservation, limit):
    """CloudSim: g = D * min(1, C / sum D)."""
    wanted = [min(d, lim) for d, lim in zip(demand, limit)]
    total = sum(wanted)
    if total <= capacity:
        return wanted
    return [w * (capacity / total) for w in wanted]


def min_free(host_memory, p):
    return p["min_free_base_mib"] + p["min_free_rest"] * max(0.0, host_memory - p["min_free_knee_mib"])


def classify(free, minimum, p):
    for state, name in ((HIGH, "high_at"), (CLEAR, "clear_at"), (SOFT, "soft_at"),
                        (HARD, "hard_at")):
        if free >= p[name] * minimum:
            return state
    return LOW


def split(away, memory, compress, p):
    """(ballooned, compressed, swapped) of away MiB: balloon, then compression, then swap."""
    ballooned = min(away, p["max_balloon"] * memory)
    rest = away - ballooned
    compressed = min(rest, p["compression_cache"] * memory) if compress else 0.0
    return ballooned, compressed, rest - compressed


def esxi(guest_memory, host_memory, p, memory, active, reservation, limit, shares, touched):
    """One host, one tick of the esxi model (engine/kernels_memory.py's doc).

    Returns (touched, resident, state, free after, blocked) with per-VM lists."""
    n = len(memory)
    touched = [min(m, max(t, a)) for m, t, a in zip(memory, touched, active)]
    want = [min(t, lim) for t, lim in zip(touched, limit)]
    hot = [min(a, w) for a, w in zip(active, want)]
    keep = 1 - p["sharing"]
    k = 1 / (1 - p["idle_tax"])
    minimum = min_free(host_memory, p)
    free0 = guest_memory - keep * sum(want)
    state = classify(free0, minimum, p)
    compress = state >= HARD

    def held(x, floors):
        """What each VM holds at water level x: A_i^-1(shares_i x), within its bounds."""
        out = []
        for i in range(n):
            y = shares[i] * x
            level = hot[i] + (y - hot[i]) / k if y >= hot[i] else y
            out.append(min(want[i], max(floors[i], level)))
        return out

    def footprint(amounts):
        total = 0.0
        for i in range(n):
            compressed = split(touched[i] - amounts[i], memory[i], compress, p)[1]
            total += keep * amounts[i] + compressed / p["compression_ratio"]
        return total

    def top():
        return max((w if w <= a else a + k * (w - a)) / s for w, a, s in zip(want, hot, shares))

    floors = [min(r, w) for r, w in zip(reservation, want)]
    amounts = list(want)
    if state >= SOFT:
        pressure_floors = list(floors)
        if state == SOFT:
            for i in range(n):
                room = max(0.0, p["max_balloon"] * memory[i] - (touched[i] - want[i]))
                pressure_floors[i] = max(pressure_floors[i], want[i] - room)
        target = guest_memory - minimum
        if footprint(held(0.0, pressure_floors)) >= target:
            level = 0.0
        else:
            level = _bisect(lambda x: footprint(held(x, pressure_floors)) <= target, 0.0, top())
        amounts = held(level, pressure_floors)
    if sum(amounts) > guest_memory:
        if sum(floors) >= guest_memory:
            total = sum(floors)
            amounts = [f * guest_memory / total if total > 0 else 0.0 for f in floors]
        else:
            ceiling = list(amounts)
            level = _bisect(lambda x: sum(min(c, h) for c, h in zip(ceiling, held(x, floors)))
                            <= guest_memory, 0.0, top())
            amounts = [min(c, h) for c, h in zip(ceiling, held(level, floors))]
    free = guest_memory - footprint(amounts)
    return touched, amounts, state, free, free0 < p["block_at"] * minimum


def no_reclamation(guest_memory, host_memory, p, memory, active, reservation, limit, shares,
                   touched):
    touched = [min(m, max(t, a)) for m, t, a in zip(memory, touched, active)]
    free = guest_memory - sum(touched)
    minimum = min_free(host_memory, p)
    return touched, list(touched), classify(free, minimum, p), free, free < p["block_at"] * minimum


CPU = {"fair_share": fair_share, "proportional": proportional}
MEMORY = {"esxi": esxi, "none": no_reclamation}
