"""Reference overload detectors and the MC selector of dynamic consolidation, as textbook
formulas in plain Python (statistics and numpy's least squares), to test the engine's
kernels (vmsched.engine.models.kernels_detectors) against.

history: a host's utilisation history, most recent first (fractions of the host); current:
its requested CPU now / capacity. A history's length ignores its trailing zeros, except that
an all-zero history counts as one value (as CloudSim counts it).
"""

import math
import statistics

import numpy as np

FALLBACK = 0.7


def length(history):
    """Values up to the last nonzero one (at least 1)."""
    n = len(history)
    while n > 0 and history[n - 1] == 0:
        n -= 1
    return max(n, 1)


def quartile_spread(values):
    """IQR with the quartiles at positions round(0.25 (n + 1)) and round(0.75 (n + 1))
    (1-based, halves rounded up) of the sorted values."""
    s = sorted(values)
    n = len(s)
    q1 = math.floor(0.25 * (n + 1) + 0.5)
    q3 = math.floor(0.75 * (n + 1) + 0.5)
    return s[q3 - 1] - s[q1 - 1]


def median_absolute_deviation(values):
    m = statistics.median(values)
    return statistics.median([abs(x - m) for x in values])


def lr_prediction(history, intervals):
    """Least squares line through (1, h[9]), ..., (10, h[0]), evaluated at 10 + intervals."""
    y = np.array(history[:10][::-1], float)
    slope, intercept = np.polyfit(np.arange(1, 11, dtype=float), y, 1)
    return intercept + slope * (10 + intervals)


def decision(detector, parameter, current, history, intervals, fallback=FALLBACK):
    """(overloaded, margin): the decision and how far its quantity is from the threshold
    (a test ignores decisions within rounding of the threshold)."""
    n = length(history)
    values = list(history[:n])
    if detector == "thr":
        return current > parameter, current - parameter
    if detector in ("iqr", "mad"):
        if n < 12:
            return current > fallback, current - fallback
        spread = (quartile_spread(values) if detector == "iqr"
                  else median_absolute_deviation(values))
        upper = 1 - parameter * spread
        return current > upper, current - upper
    if n < 10:
        return current > fallback, current - fallback
    predicted = lr_prediction(values, intervals) * parameter
    return predicted >= 1, predicted - 1


def most_correlated(histories):
    """MC: the index of the history best explained (R^2 of least squares with an intercept)
    by the others over their common length, and the margin of R^2 over the runner-up; None
    when there are fewer than two or no degrees of freedom."""
    k = len(histories)
    m = min(len(h) for h in histories)
    if k < 2 or m - k <= 0:
        return None, math.inf
    scores = []
    for i in range(k):
        y = np.array(histories[i][:m], float)
        x = np.column_stack([np.ones(m)] + [np.array(histories[j][:m], float)
                                            for j in range(k) if j != i])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        residual = y - x @ coef
        total = ((y - y.mean()) ** 2).sum()
        scores.append(1 - (residual ** 2).sum() / total if total > 0 else -math.inf)
    order = sorted(range(k), key=lambda i: (-scores[i], i))
    margin = scores[order[0]] - scores[order[1]]
    return order[0], margin
