"""Reference power models: watts at CPU utilisation u, the textbook formulas in plain Python
(interpolation between the two nearest of 11 points; idle + (max - idle) f(u))."""

import math


def power_w(kind, watts, u):
    """kind 'table' (watts: 11 points at 0, 10, ..., 100 %) or a curve (watts: idle, max)."""
    if not 0 <= u <= 1:
        raise ValueError(f"utilisation {u} is not in [0, 1]")
    if kind == "table":
        position = u * 10
        k = min(int(position), 9)
        return watts[k] + (watts[k + 1] - watts[k]) * (position - k)
    idle, peak = watts
    shape = {"linear": u, "sqrt": math.sqrt(u), "square": u * u, "cubic": u * u * u}[kind]
    return idle + (peak - idle) * shape
