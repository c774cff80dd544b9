"""vmsched: fast, exact simulation of virtualized hosts under overcommit.

Public API: `Fleet` (Placement-exact inventories and accounting), overcommit `PRESETS`, and the
errors in `vmsched.errors`. See the README for the semantics and units.
"""

from vmsched import errors
from vmsched.engine import DEBUG_BUILD
from vmsched.placement.filters import (
    FILTERS,
    DomainSpread,
    Filter,
    FunctionFilter,
    MaxVMsPerHost,
    RequiredLabels,
    ResourceFit,
    ServerGroupAffinity,
    ServerGroupAntiAffinity,
)
from vmsched.fleet import DEFAULT_RESOURCES, Fleet
from vmsched.models.host_models import MEMORY_PARAMETERS, HostModels, TickResult
from vmsched.placement.placer import Placement, PlacementBatch, Placer
from vmsched.placement.policy import POLICIES, Policy
from vmsched.presets import PRESETS, OvercommitPreset
from vmsched.placement.weighers import (
    WEIGHERS,
    BalancedAllocation,
    DotProduct,
    FreeAfterPlacement,
    FreeCPU,
    FreeRAM,
    FunctionWeigher,
    LeastAllocated,
    MostAllocated,
    SoftAffinity,
    SoftAntiAffinity,
    Weigher,
)

__version__ = "0.1.0"

__all__ = [
    "DEBUG_BUILD", "DEFAULT_RESOURCES", "FILTERS", "POLICIES", "PRESETS", "WEIGHERS",
    "BalancedAllocation", "DomainSpread", "DotProduct", "Filter", "Fleet", "FreeAfterPlacement",
    "FreeCPU", "FreeRAM", "FunctionFilter", "FunctionWeigher", "HostModels", "LeastAllocated",
    "MEMORY_PARAMETERS", "TickResult",
    "MaxVMsPerHost", "MostAllocated", "OvercommitPreset", "Placement", "PlacementBatch",
    "Placer", "Policy", "RequiredLabels", "ResourceFit", "ServerGroupAffinity",
    "ServerGroupAntiAffinity", "SoftAffinity", "SoftAntiAffinity", "Weigher", "errors",
]
