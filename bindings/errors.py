"""Exceptions raised by vmsched. Catch exactly what you mean.

Every message names the parameter and the bad value. An operation that raises leaves the state
exactly as it was.
"""

import numpy as np


class VmschedError(Exception):
    """Base class of every error vmsched raises on purpose."""


class InvalidRequest(VmschedError, ValueError):
    """A request or argument is malformed: wrong type, shape, sign, NaN, out of range."""


class InvalidInventory(VmschedError, ValueError):
    """An inventory record breaks Placement's rules (e.g. reserved > total, ratio <= 0)."""


class UnknownKey(VmschedError, KeyError):
    """Base of the "no such thing" errors; str() is the plain message (not KeyError's repr)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownHost(UnknownKey):
    """A host index or name that the fleet does not have."""


class UnknownVM(UnknownKey):
    """A VM handle that is not allocated (never was, or already released)."""


class UnknownResource(UnknownKey):
    """A resource class name that the fleet does not track."""


class UnknownGroup(UnknownKey):
    """A server group that the placer was not told about (Placer.create_group)."""


class DoesNotFit(VmschedError):
    """A well-formed request that the capacity rules refuse. A result, not a malfunction."""


class InsufficientCapacity(DoesNotFit):
    """The request does not fit on the host it was sent to.

    Attributes: host, resource (class name), rule ("capacity", "min_unit", "max_unit",
    "step_size"), amount (requested), limit (the bound it broke).
    """

    def __init__(self, message, *, host=None, resource=None, rule=None, amount=None, limit=None):
        super().__init__(message)
        self.host = host
        self.resource = resource
        self.rule = rule
        self.amount = amount
        self.limit = limit


class NoValidHost(DoesNotFit):
    """No host passes every filter. `eliminated` maps filter name to hosts it removed."""

    def __init__(self, message, *, eliminated=None):
        super().__init__(message)
        self.eliminated = dict(eliminated or {})


class InvariantViolation(VmschedError, AssertionError):
    """check_invariants() found engine state that breaks a documented invariant (a bug)."""


class ResourceLimit(VmschedError, MemoryError):
    """A run would need more memory than this process may use (vmsched.limits); refused
    before it starts, with the estimate and the limit in the message."""


class ScenarioError(InvalidRequest):
    """A scenario or a sweep is malformed or cannot run as given: an unknown table or key, a
    bad value, a setting given twice, settings that cannot go together, a missing trace."""


class SweepError(VmschedError):
    """A sweep cannot run on the cluster it was given (e.g. a worker with another vmsched
    version); the message names the workers."""


class DataWarning(UserWarning):
    """The input is usable but not all of it was used as given (e.g. trace rows that match
    nothing); the message counts what."""


def shown(value):
    """A value as an error message shows it: repr(), but NumPy scalars as plain numbers
    (1, not np.int64(1)), also inside tuples and lists."""
    if isinstance(value, np.generic):
        return repr(value.item())
    if isinstance(value, tuple):
        items = [shown(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return repr(value)
