"""Controllers: plugins that watch a running simulation and act on it.

A controller is a class with a `name`; `start(view)` runs once when the simulation is set up
and `act(view)` every `period_s` seconds from `first_s` (at controller priority: after the
instant's departures, host changes, migration completions and arrivals, before its tick).
Both return a list of actions (vmsched.simulation.controllers.actions) or None. The view is
read-only: controllers change the run only through actions.
"""

from vmsched.errors import InvalidRequest, shown


class Controller:
    """Base class. period_s: seconds between act() calls (None: start() only)."""

    name = None
    period_s = None
    first_s = 0.0

    def start(self, view):
        return []

    def act(self, view):
        return []

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


#: name -> controller class (filled by the built-ins' modules).
CONTROLLERS = {}


def register(cls):
    """Class decorator: make a controller known by its name."""
    CONTROLLERS[cls.name] = cls
    return cls


def resolve_controllers(specs):
    """Controller instances from names, classes or instances."""
    out = []
    for spec in specs or ():
        if isinstance(spec, str) and spec in CONTROLLERS:
            spec = CONTROLLERS[spec]()
        elif isinstance(spec, type) and issubclass(spec, Controller):
            spec = spec()
        if not isinstance(spec, Controller):
            raise InvalidRequest(f"controller {shown(spec)} is unknown; known: "
                                 f"{', '.join(CONTROLLERS)} (or a Controller instance)")
        if spec.period_s is not None and not spec.period_s > 0:
            raise InvalidRequest(f"controller {shown(spec.name)} has period_s = {spec.period_s}; "
                                 f"it must be > 0")
        out.append(spec)
    return out
