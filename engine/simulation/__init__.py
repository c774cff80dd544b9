"""vmsched.engine.simulation: the event queue, the lifecycle runner, the VM table and the
per-tick kernels."""

from vmsched.engine.simulation._event_queue import EventKind, EventQueue, Priority
from vmsched.engine.simulation._lifecycle import Status, run_lifecycle
from vmsched.engine.simulation.vm_table import LIVE, STATUS_NAMES, VMTable

__all__ = ["LIVE", "STATUS_NAMES", "EventKind", "EventQueue", "Priority", "Status", "VMTable",
           "run_lifecycle"]
