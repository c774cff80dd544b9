"""vmsched.engine.state: the fleet's Placement state (inventories, allocations, tenants, groups)."""

from vmsched.engine.state._fleet import DEBUG_BUILD, FleetState

__all__ = ["DEBUG_BUILD", "FleetState"]
