"""What a controller may ask of a running simulation (returned from Controller.start/act).

Units: seconds; hosts are fleet host indices; VMs are workload rows (SimulationView gives
them). An action with `at_s` happens then (a host event), else at once.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Migrate:
    """Live-migrate running VM `vm` to `host` over duration_s seconds (allocated on both
    hosts meanwhile; the target must admit it now)."""

    vm: int
    host: int
    duration_s: float


@dataclass(frozen=True)
class Drain:
    """Drain `hosts` (a tuple) together: they admit nothing; their running VMs (ascending
    workload row) migrate (migration_s each) to hosts the placement policy picks; each host,
    once empty, is down for downtime_s, then admits again."""

    hosts: tuple
    downtime_s: float
    migration_s: float = 60.0
    at_s: float | None = None


@dataclass(frozen=True)
class Fail:
    """`host` fails: down for repair_s; its VMs are lost (restart: placed again as arrivals
    restart_delay_s later)."""

    host: int
    repair_s: float
    restart: bool = False
    restart_delay_s: float = 0.0
    at_s: float | None = None
