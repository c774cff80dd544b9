"""Controllers: plugins that act on a running simulation (a registry of built-ins, or any
Controller subclass). Built-ins: `maintenance` (drains) and `failures`."""

from vmsched.simulation.controllers.actions import Drain, Fail, Migrate
from vmsched.simulation.controllers.base import (
    CONTROLLERS,
    Controller,
    register,
    resolve_controllers,
)
from vmsched.simulation.controllers.failures import Failures
from vmsched.simulation.controllers.maintenance import Maintenance

__all__ = ["CONTROLLERS", "Controller", "Drain", "Fail", "Failures", "Maintenance", "Migrate",
           "register", "resolve_controllers"]
