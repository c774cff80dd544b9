"""Host power at a CPU utilisation (Numba kernels). Units: watts; utilisation u in [0, 1] is
CPU granted / capacity.

A model is a kind and 11 watt values `watts[0..10]`:

- TABLE (SPECpower): the power at 0, 10, ..., 100 % utilisation, linear in between;
- LINEAR, SQRT, SQUARE, CUBIC: idle = watts[0], max = watts[10] (the others unused), and
  P(u) = idle + (max - idle) * f(u) with f(u) = u, sqrt(u), u**2, u**3.

Both are computed as CloudSim's power models compute them (PowerModelSpecPower,
PowerModelLinear, PowerModelSqrt, PowerModelSquare, PowerModelCubic), operation for operation,
so that energies can match it to the last digit it prints: the table's exact points
(u a multiple of 0.1), its delta per percent point, the curves' constant (max - idle) / f(100)
applied to 100 u. One difference is deliberate: CloudSim's curves return 0 W at u = 0; here a
host that is on draws its idle power (switched off, it draws 0 W: the simulation's rule).
"""

import math

import numpy as np

from vmsched.engine.jit import kernel, scalar_helper

TABLE, LINEAR, SQRT, SQUARE, CUBIC = 0, 1, 2, 3, 4
KIND_NAMES = ("table", "linear", "sqrt", "square", "cubic")
N_POINTS = 11


@scalar_helper
def power_at(kind, watts, u):
    """Watts drawn at utilisation u (0 <= u <= 1) by the model (kind, watts[11])."""
    if kind == TABLE:
        # An exact multiple of 0.1 (u % 0.1 == 0, as C and Java compute it for u >= 0) is
        # within rounding of a whole u * 10; the test spares the fmod of other values.
        tenths = u * 10
        if abs(tenths - math.floor(tenths + 0.5)) < 1e-9 and u % 0.1 == 0:
            return watts[int(u * 10)]
        low = int(math.floor(u * 10))
        high = int(math.ceil(u * 10))
        delta = (watts[high] - watts[low]) / 10
        return watts[low] + delta * (u - low / 10) * 100
    idle = watts[0]
    span = watts[N_POINTS - 1] - idle
    if kind == LINEAR:
        return idle + span / 100 * u * 100
    if kind == SQRT:
        return idle + span / math.sqrt(100) * math.sqrt(u * 100)
    if kind == SQUARE:
        return idle + span / 100.0 ** 2 * (u * 100) ** 2
    return idle + span / 100.0 ** 3 * (u * 100) ** 3


#: k / 10 for k = 0..10 (as an int over 10 computes it).
TENTHS = np.arange(N_POINTS) / 10

#: Values of a prepared model (prepare_power): the 11 watt values, then for TABLE the slope
#: of each of its 10 segments (watts per percent point), for a curve its constant.
N_PREPARED = 2 * N_POINTS - 1


@kernel
def prepare_power(kind, watts, out):
    """out[0..N_PREPARED-1]: the model (kind, watts[11]) with its divisions done once, for
    prepared_power_at: the watt values, then the table's deltas (watts[k + 1] - watts[k]) / 10
    or the curve's (max - idle) / f(100)."""
    for k in range(N_POINTS):
        out[k] = watts[k]
    for k in range(N_POINTS, N_PREPARED):
        out[k] = 0.0
    if kind == TABLE:
        for k in range(N_POINTS - 1):
            out[N_POINTS + k] = (watts[k + 1] - watts[k]) / 10
        return
    span = watts[N_POINTS - 1] - watts[0]
    if kind == LINEAR:
        out[N_POINTS] = span / 100
    elif kind == SQRT:
        out[N_POINTS] = span / math.sqrt(100)
    elif kind == SQUARE:
        out[N_POINTS] = span / 100.0 ** 2
    else:
        out[N_POINTS] = span / 100.0 ** 3


@scalar_helper
def prepared_power_at(kind, prepared, u):
    """power_at(kind, watts, u), bit for bit, from the model prepared by prepare_power (the
    same operations less the divisions, which were done there)."""
    if kind == TABLE:
        tenths = u * 10
        if abs(tenths - math.floor(tenths + 0.5)) < 1e-9 and u % 0.1 == 0:
            return prepared[int(u * 10)]
        low = int(math.floor(u * 10))
        if math.ceil(u * 10) == low:       # a delta of 0, added as power_at adds it (its sign)
            return prepared[low] + 0.0 * (u - TENTHS[low]) * 100
        return prepared[low] + prepared[N_POINTS + low] * (u - TENTHS[low]) * 100
    idle = prepared[0]
    constant = prepared[N_POINTS]
    if kind == LINEAR:
        return idle + constant * u * 100
    if kind == SQRT:
        return idle + constant * math.sqrt(u * 100)
    if kind == SQUARE:
        return idle + constant * (u * 100) ** 2
    return idle + constant * (u * 100) ** 3


@kernel
def power_of_model(kind, watts, utilisation, out):
    """out[i] = power_at(kind, watts, utilisation[i]): one model, many utilisations."""
    for i in range(utilisation.shape[0]):
        out[i] = power_at(kind, watts, utilisation[i])
