"""Utilisation of VMs at a time t (Numba kernels): fractions in [0, 1] of a VM's vCPUs (or
memory), for the rows of a workload table.

- trace: values[offsets[row] + k] is the fraction in the k-th step of step_s seconds since the
  VM started; past the end of its series a VM repeats it from the start.
- synthetic: level x (1 + daily_profile[slot of t]) + level x noise_cv x noise, clipped to
  [0, 1]; the noise (mean 0, variance 1, triangular) is a counter-based hash of (seed, row,
  tick), so a VM's value at a tick does not depend on which other VMs are sampled, nor in
  which order.
"""

import numpy as np
from numba import prange

from vmsched.engine.jit import parallel_kernel, scalar_helper

SLOTS_PER_DAY = 288
SECONDS_PER_SLOT = 300.0


@scalar_helper
def _mix(x):
    """splitmix64's finaliser: a well-mixed 64-bit hash of x."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@scalar_helper
def unit_noise(seed, row, tick):
    """Mean 0, variance 1 noise for (seed, row, tick): the sum of two uniforms (a triangular
    distribution on [-sqrt(6), sqrt(6)]) taken from the two halves of one 64-bit hash; cheap,
    bounded, and the fitted standard deviation once scaled."""
    key = _mix(np.uint64(seed) ^ _mix(np.uint64(row) * np.uint64(0x9E3779B97F4A7C15)
                                      ^ np.uint64(tick) * np.uint64(0xD1B54A32D192ED03)))
    # (Each half is below 2**32, so converting it as a signed integer is exact, and cheaper:
    # x86-64 converts signed 64-bit integers to doubles in one instruction, unsigned ones not.)
    u1 = np.float64(np.int64(key >> np.uint64(32))) * (1.0 / 4294967296.0)
    u2 = np.float64(np.int64(key & np.uint64(0xFFFFFFFF))) * (1.0 / 4294967296.0)
    return (u1 + u2 - 1.0) * 2.449489742783178


@parallel_kernel
def sample_trace(values, offsets, step_s, start_s, rows, t, out):
    """out[i] = the trace value of rows[i] at time t (see the module doc)."""
    for i in prange(rows.shape[0]):
        row = rows[i]
        length = offsets[row + 1] - offsets[row]
        if length <= 0:
            out[i] = 0.0
            continue
        k = int(max(0.0, t - start_s[row]) // step_s) % length
        out[i] = values[offsets[row] + k]


@scalar_helper
def synthetic_value(level, daily_profile, noise_cv, seed, row, tick):
    """The synthetic utilisation of `row` at `tick` (the tick-th 300 s slot since 0 s)."""
    pattern = 1.0 + daily_profile[tick % SLOTS_PER_DAY]
    value = level[row] * (pattern + noise_cv * unit_noise(seed, row, tick))
    return min(1.0, max(0.0, value))


@parallel_kernel
def sample_synthetic(level, daily_profile, noise_cv, seed, rows, t, out):
    """out[i] = the synthetic utilisation of rows[i] at time t (see the module doc)."""
    tick = np.int64(t // SECONDS_PER_SLOT)
    for i in prange(rows.shape[0]):
        out[i] = synthetic_value(level, daily_profile, noise_cv, seed, rows[i], tick)
