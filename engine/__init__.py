"""vmsched.engine: the native core (Cython state and accounting, Numba host kernels).

Everything here trusts its inputs' meaning but never its shapes: the public API in `vmsched`
validates values once, and the engine checks only what it needs to stay memory-safe.
"""

from vmsched.engine._fleet import DEBUG_BUILD, FleetState

__all__ = ["DEBUG_BUILD", "FleetState"]
