"""vmsched: fast, exact simulation of virtualized hosts under overcommit.

Public API: `Fleet` (Placement-exact inventories and accounting), overcommit `PRESETS`, and the
errors in `vmsched.errors`. See the README for the semantics and units.
"""

from vmsched import errors
from vmsched.engine import DEBUG_BUILD
from vmsched.fleet import DEFAULT_RESOURCES, Fleet
from vmsched.presets import PRESETS, OvercommitPreset

__version__ = "0.1.0"

__all__ = ["DEBUG_BUILD", "DEFAULT_RESOURCES", "PRESETS", "Fleet", "OvercommitPreset", "errors"]
