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


@kernel
def power_of_model(kind, watts, utilisation, out):
    """out[i] = power_at(kind, watts, utilisation[i]): one model, many utilisations."""
    for i in range(utilisation.shape[0]):
        out[i] = power_at(kind, watts, utilisation[i])
