"""Utilisation sources: what fraction of its vCPUs (or memory) a VM uses at a time t.

A source is indexed by workload row. `ConstantUtilization` (one fraction per VM),
`TraceUtilization` (a series per VM, e.g. the 5-minute readings of a public trace) and
`SyntheticUtilization` (seeded level x daily pattern + noise, fitted to Azure) all answer
`sample(rows, t) -> float64 fractions in [0, 1]`.
"""

import numpy as np

from vmsched import _validate
from vmsched.engine.jit import frozen
from vmsched.engine.simulation import kernels_utilization as kernels
from vmsched.errors import InvalidRequest


class UtilizationSource:
    """Base class. n_vms: how many workload rows the source covers. A source's arrays are
    read-only (sources are shared between runs)."""

    name = None
    n_vms = 0

    def sample(self, rows, t):
        raise NotImplementedError

    def __setstate__(self, state):
        """Unpickled arrays come back writable: a source's are frozen again (jit.frozen)."""
        self.__dict__.update({name: frozen(value, value.dtype)
                              if isinstance(value, np.ndarray) else value
                              for name, value in state.items()})

    def subset(self, rows):
        """The source for a subset of the rows (in that order)."""
        raise NotImplementedError


def _fractions(name, values):
    array = np.asarray(values, dtype=np.float64)
    if array.size and (not np.isfinite(array).all() or array.min() < 0 or array.max() > 1):
        bad = array[~np.isfinite(array) | (array < 0) | (array > 1)][0]
        raise InvalidRequest(f"{name} has {bad}; utilisation fractions are in [0, 1]")
    return array


class ConstantUtilization(UtilizationSource):
    """A fixed fraction per VM (or one for all)."""

    name = "constant"

    def __init__(self, values, n_vms=None):
        values = _fractions("values", values)
        if values.ndim == 0:
            if n_vms is None:
                raise InvalidRequest("a single constant needs n_vms")
            values = np.full(n_vms, float(values))
        self.values = frozen(values)
        self.n_vms = len(values)

    def sample(self, rows, t):
        return self.values[rows]

    def subset(self, rows):
        return ConstantUtilization(self.values[rows])


class TraceUtilization(UtilizationSource):
    """Per-VM series: values[offsets[row]:offsets[row + 1]] every step_s seconds from the VM's
    start (start_s per row), repeated past its end."""

    name = "trace"

    def __init__(self, values, offsets, start_s, step_s=300.0):
        self.values = _fractions("values", values)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.start_s = np.asarray(start_s, dtype=np.float64)
        self.step_s = float(step_s)
        if (self.offsets.ndim != 1 or len(self.offsets) != len(self.start_s) + 1
                or self.offsets[0] != 0 or self.offsets[-1] != len(self.values)
                or (np.diff(self.offsets) < 0).any()):
            raise InvalidRequest("offsets must rise from 0 to len(values), one more than VMs")
        if not self.step_s > 0:
            raise InvalidRequest(f"step_s = {step_s} must be > 0")
        self.n_vms = len(self.start_s)
        self.values, self.offsets = frozen(self.values), frozen(self.offsets, np.int64)
        self.start_s = frozen(self.start_s)

    @classmethod
    def from_series(cls, series, start_s, step_s=300.0):
        """From a list of per-VM arrays of fractions."""
        lengths = np.array([len(s) for s in series], dtype=np.int64)
        offsets = np.zeros(len(series) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.concatenate([np.asarray(s, np.float64) for s in series]) if series \
            else np.zeros(0)
        return cls(values, offsets, start_s, step_s)

    def sample(self, rows, t):
        out = np.empty(len(rows))
        kernels.sample_trace(self.values, self.offsets, self.step_s, self.start_s,
                             frozen(rows, np.int64), float(t), out)
        return out

    def subset(self, rows):
        return TraceUtilization.from_series(
            [self.values[self.offsets[r]:self.offsets[r + 1]] for r in rows],
            self.start_s[rows], self.step_s)


class SyntheticUtilization(UtilizationSource):
    """level x (1 + daily_profile[5-minute slot of the day]) + level x noise_cv x noise (mean
    0, variance 1, triangular), clipped to [0, 1]; noise from a hash of (seed, row, tick):
    reproducible and independent of sampling order."""

    name = "synthetic"

    def __init__(self, level, daily_profile, noise_cv, seed):
        self.level = _fractions("level", level)
        self.daily_profile = np.asarray(daily_profile, dtype=np.float64)
        if self.daily_profile.shape != (kernels.SLOTS_PER_DAY,):
            raise InvalidRequest(f"daily_profile needs {kernels.SLOTS_PER_DAY} values")
        self.level, self.daily_profile = frozen(self.level), frozen(self.daily_profile)
        self.noise_cv = float(noise_cv)
        self.seed = _validate.integer("seed", seed, minimum=0, maximum=2**64 - 1)
        self.n_vms = len(self.level)
        self._rows = None

    def sample(self, rows, t):
        out = np.empty(len(rows))
        kernels.sample_synthetic(self.level, self.daily_profile, self.noise_cv,
                                 np.uint64(self.seed), frozen(rows, np.int64), float(t), out)
        return out

    def subset(self, rows):
        return SyntheticUtilization(self.level[rows], self.daily_profile, self.noise_cv,
                                    self.seed)
