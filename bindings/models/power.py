"""Host power models: the watts a host draws at a CPU utilisation u (CPU granted / capacity,
0 to 1). A host that is switched off draws 0 W; an empty host that is on draws its idle power.

Models (POWER_MODELS, by name):

- `table(watts)`: SPECpower's 11 points, at 0, 10, ..., 100 % utilisation, linear in between;
- `linear(idle_w, max_w)`, `sqrt(...)`, `square(...)`, `cubic(...)`:
  idle + (max - idle) * f(u) with f(u) = u, sqrt(u), u**2, u**3.

Presets (POWER_PRESETS): CloudSim's two PlanetLab hosts, from SPECpower,
`hp_proliant_ml110_g4` (Xeon 3040: 86 ... 117 W) and `hp_proliant_ml110_g5` (Xeon 3075:
93.7 ... 135 W), and `server_2s`, the default for hosts that are given none: a two-socket
server drawing 150 W idle and 400 W at full load, linear in between (a typical SPECpower
result for the 64-pCPU class of `Fleet.uniform`'s default host; give your own).

The formulas are the engine's (vmsched.engine.models.kernels_power), computed as CloudSim
computes them.
"""

from dataclasses import dataclass

import numpy as np

from vmsched.engine.models import kernels_power
from vmsched.errors import InvalidRequest, UnknownKey, shown

N_POINTS = kernels_power.N_POINTS


@dataclass(frozen=True)
class PowerModel:
    """kind: 'table', 'linear', 'sqrt', 'square' or 'cubic'; watts: the 11 table points, or
    for the curves (idle_w, max_w); name: what reports call it."""

    kind: str
    watts: tuple
    name: str = ""

    def __post_init__(self):
        if self.kind not in kernels_power.KIND_NAMES:
            raise InvalidRequest(f"power model kind {shown(self.kind)} is unknown; known: "
                                 f"{', '.join(kernels_power.KIND_NAMES)}")
        expected = N_POINTS if self.kind == "table" else 2
        try:
            watts = tuple(float(w) for w in self.watts)
        except (TypeError, ValueError):
            raise InvalidRequest(f"power model watts = {shown(self.watts)} are not numbers") \
                from None
        if len(watts) != expected:
            raise InvalidRequest(f"a {self.kind} power model takes {expected} watt values, "
                                 f"not {len(watts)}")
        bad = [w for w in watts if not (np.isfinite(w) and w >= 0)]
        if bad:
            raise InvalidRequest(f"power model watts = {shown(bad[0])} must be finite and >= 0")
        if self.kind != "table" and watts[0] > watts[1]:
            raise InvalidRequest(f"idle power {watts[0]:g} W is above max power {watts[1]:g} W")
        object.__setattr__(self, "watts", watts)

    @property
    def code(self):
        """The engine's kind code."""
        return kernels_power.KIND_NAMES.index(self.kind)

    @property
    def points(self):
        """The 11 watt values the engine takes (for a curve: idle, then max last)."""
        if self.kind == "table":
            return np.array(self.watts)
        points = np.zeros(N_POINTS)
        points[0], points[-1] = self.watts
        return points

    @property
    def idle_w(self):
        return self.watts[0]

    @property
    def max_w(self):
        return self.watts[-1]

    def power_w(self, utilisation):
        """Watts at each utilisation (a scalar or an array of values in [0, 1])."""
        u = np.atleast_1d(np.asarray(utilisation, dtype=np.float64))
        bad = ~((u >= 0) & (u <= 1))
        if bad.any():
            raise InvalidRequest(f"utilisation = {shown(u[bad][0])} is not in [0, 1]")
        flat = np.ascontiguousarray(u.ravel())
        out = np.empty_like(flat)
        kernels_power.power_of_model(self.code, self.points, flat, out)
        out = out.reshape(u.shape)
        return out if np.ndim(utilisation) else float(out[0])


def table(watts, name="table"):
    """SPECpower's 11 points at 0, 10, ..., 100 % (W)."""
    return PowerModel("table", tuple(watts), name)


def linear(idle_w, max_w, name="linear"):
    return PowerModel("linear", (idle_w, max_w), name)


def sqrt(idle_w, max_w, name="sqrt"):
    return PowerModel("sqrt", (idle_w, max_w), name)


def square(idle_w, max_w, name="square"):
    return PowerModel("square", (idle_w, max_w), name)


def cubic(idle_w, max_w, name="cubic"):
    return PowerModel("cubic", (idle_w, max_w), name)


POWER_MODELS = {"table": table, "linear": linear, "sqrt": sqrt, "square": square,
                "cubic": cubic}

POWER_PRESETS = {
    "hp_proliant_ml110_g4": table((86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117),
                                  "hp_proliant_ml110_g4"),
    "hp_proliant_ml110_g5": table((93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135),
                                  "hp_proliant_ml110_g5"),
    "server_2s": linear(150.0, 400.0, "server_2s"),
}

#: The power model of hosts given none.
DEFAULT_POWER_MODEL = POWER_PRESETS["server_2s"]


def resolve_power_model(spec):
    """A PowerModel from itself or a preset name."""
    if isinstance(spec, PowerModel):
        return spec
    if isinstance(spec, str):
        if spec not in POWER_PRESETS:
            raise UnknownKey(f"power model {shown(spec)} is unknown; presets: "
                             f"{', '.join(POWER_PRESETS)} (or build one: "
                             f"{', '.join(POWER_MODELS)})")
        return POWER_PRESETS[spec]
    raise InvalidRequest(f"power model {shown(spec)} is neither a PowerModel nor a preset name")
