"""Overload detectors of dynamic consolidation (Beloglazov and Buyya, CCPE 2012), as Numba
helpers over one host's CPU utilisation history.

A host's history is `history[0..length-1]`, most recent first: entry i is the sum over its
VMs of (VM utilisation i steps ago) * (VM speed) / (host capacity), a fraction of the host.
`current` is the host's requested CPU now / its capacity. Each detector says whether the
host is overloaded:

- THR: current > threshold (static);
- IQR: current > 1 - s * IQR(history), needs length >= 12;
- MAD: current > 1 - s * MAD(history), needs length >= 12;
- LR (and LRR): least squares over the last 10 values (x = 1 oldest .. 10 newest), predicted
  at x = 10 + (migration intervals), times s: overloaded when the prediction >= 1; needs
  length >= 10.

With too short a history IQR, MAD and LR fall back to THR at `fallback` (0.7). The statistics
are computed as CloudSim computes them (commons-math's legacy percentile for medians, its
SimpleRegression's running sums, IQR's quartile index round(0.25 (n + 1)) - 1), so that
decisions match it exactly. LRR's robust weights never apply in CloudSim's code (its
weighted fit falls back to the unweighted one for these weights), so LRR decides as LR does.
"""

import math

from vmsched.engine.jit import kernel

THR, IQR, MAD, LR, LRR = 0, 1, 2, 3, 4
DETECTOR_NAMES = ("thr", "iqr", "mad", "lr", "lrr")
#: Values of history a host keeps (CloudSim's PowerVm.HISTORY_LENGTH).
HISTORY_LENGTH = 30
#: Values LR regresses over.
LR_LENGTH = 10
#: Values IQR and MAD need.
ROBUST_MIN_LENGTH = 12


@kernel
def trimmed_length(history):
    """CloudSim's countNonZeroBeginning: the length without the trailing zeros (at least 1,
    as CloudSim counts an all-zero history)."""
    i = history.shape[0] - 1
    while i >= 0:
        x = history[i]
        i -= 1
        if x != 0:
            break
    return i + 2


@kernel
def legacy_median(sorted_values, n):
    """Median of sorted_values[0..n-1], as commons-math's Percentile(50) (legacy estimate)."""
    pos = 0.5 * (n + 1)
    fpos = math.floor(pos)
    int_pos = int(fpos)
    dif = pos - fpos
    if pos < 1:
        return sorted_values[0]
    if pos >= n:
        return sorted_values[n - 1]
    lower = sorted_values[int_pos - 1]
    upper = sorted_values[int_pos]
    return lower + dif * (upper - lower)


@kernel
def insertion_sort(values, n):
    for i in range(1, n):
        x = values[i]
        j = i - 1
        while j >= 0 and values[j] > x:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = x


@kernel
def java_round(x):
    """Java's Math.round for the small positive values used here: floor(x + 0.5)."""
    return int(math.floor(x + 0.5))


@kernel
def iqr_of(history, n, scratch):
    for i in range(n):
        scratch[i] = history[i]
    insertion_sort(scratch, n)
    q1 = java_round(0.25 * (n + 1)) - 1
    q3 = java_round(0.75 * (n + 1)) - 1
    return scratch[q3] - scratch[q1]


@kernel
def mad_of(history, n, scratch):
    for i in range(n):
        scratch[i] = history[i]
    insertion_sort(scratch, n)
    median = legacy_median(scratch, n)
    for i in range(n):
        scratch[i] = abs(median - history[i])
    insertion_sort(scratch, n)
    return legacy_median(scratch, n)


@kernel
def lr_prediction(history, migration_intervals):
    """Least squares over x = 1..10 (y = history[9], ..., history[0]) predicted at
    x = 10 + migration_intervals, with commons-math SimpleRegression's running sums."""
    n = 0.0
    xbar = 0.0
    ybar = 0.0
    sum_xx = 0.0
    sum_xy = 0.0
    sum_x = 0.0
    sum_y = 0.0
    for i in range(LR_LENGTH):
        x = i + 1.0
        y = history[LR_LENGTH - i - 1]
        if n == 0:
            xbar = x
            ybar = y
        else:
            fact1 = 1.0 + n
            fact2 = n / (1.0 + n)
            dx = x - xbar
            dy = y - ybar
            sum_xx += dx * dx * fact2
            sum_xy += dx * dy * fact2
            xbar += dx / fact1
            ybar += dy / fact1
        sum_x += x
        sum_y += y
        n += 1.0
    slope = sum_xy / sum_xx
    intercept = (sum_y - slope * sum_x) / n
    return intercept + slope * (LR_LENGTH + migration_intervals)


@kernel
def is_overloaded(detector, parameter, fallback, current, history, length,
                  migration_intervals, scratch):
    """Whether a host with utilisation `current` now and `history[0..length-1]` is
    overloaded under `detector` (THR..LRR) with its `parameter` (threshold or s)."""
    if detector == THR:
        return current > parameter
    if detector == IQR or detector == MAD:
        if length < ROBUST_MIN_LENGTH:
            return current > fallback
        if detector == IQR:
            spread = iqr_of(history, length, scratch)
        else:
            spread = mad_of(history, length, scratch)
        return current > 1 - parameter * spread
    if length < LR_LENGTH:
        return current > fallback
    predicted = lr_prediction(history, migration_intervals) * parameter
    return predicted >= 1

