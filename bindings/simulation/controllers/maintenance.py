"""The `maintenance` controller: drains given hosts at given times."""

from vmsched import _validate
from vmsched.errors import InvalidRequest, shown
from vmsched.simulation.controllers.actions import Drain
from vmsched.simulation.controllers.base import Controller, register


@register
class Maintenance(Controller):
    """windows: [(start_s, hosts, downtime_s), ...]: at start_s each host of `hosts` drains
    (admits nothing; its running VMs migrate, migration_s seconds each, to hosts the policy
    picks; a VM that fits nowhere stays and is reported), goes down once empty, and admits
    again downtime_s later. The simulation's `drain_log` reports each drain."""

    name = "maintenance"

    def __init__(self, windows=(), migration_s=60.0):
        self.windows = []
        for i, window in enumerate(windows):
            try:
                start_s, hosts, downtime_s = window
            except (TypeError, ValueError):
                raise InvalidRequest(f"windows[{i}] = {shown(window)} is not (start_s, hosts, "
                                     f"downtime_s)") from None
            hosts = [hosts] if isinstance(hosts, int) else list(hosts)
            self.windows.append((_validate.nonnegative_real("start_s", start_s),
                                 [_validate.integer("host", h, minimum=0) for h in hosts],
                                 _validate.nonnegative_real("downtime_s", downtime_s)))
        self.migration_s = _validate.nonnegative_real("migration_s", migration_s)

    def start(self, view):
        return [Drain(tuple(hosts), downtime_s, self.migration_s, at_s=start_s)
                for start_s, hosts, downtime_s in self.windows]
