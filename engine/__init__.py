"""vmsched.engine: the native core, by layer.

- `state`: the fleet's Placement state (Cython).
- `placement`: fast-policy scores, the index over hosts, the filter/weigher pipeline (Cython).
- `simulation`: the event queue and lifecycle runner (Cython), the VM table, and the per-tick
  sampling, host-model and accounting kernels (Numba).
- `models`: the vCPU scheduling and memory kernels of one host (Numba).

Everything here trusts its inputs' meaning but never its shapes: the public API in `vmsched`
validates values once, and the engine checks only what it needs to stay memory-safe.
"""

from vmsched.engine.state import DEBUG_BUILD, FleetState

__all__ = ["DEBUG_BUILD", "FleetState"]
