"""SimulationView: what a controller sees of a running simulation (read-only copies)."""

import numpy as np

from vmsched.engine.simulation import STATUS_NAMES

#: Ticks of per-host CPU history kept for controllers.
HISTORY_TICKS = 30


class SimulationView:
    """Now, the hosts and the VMs of a simulation; arrays are read-only views.

    now_s, tick_s, duration_s; n_hosts; host_state (0 up, 1 draining, 2 down) and admitting
    per host; vm_status (codes of STATUS_NAMES), vm_host, vm_request per workload row;
    cpu_history(n): the last n ticks' per-host granted and demanded cores; vms_on(host)."""

    status_names = STATUS_NAMES

    def __init__(self, sim):
        self._sim = sim

    now_s = property(lambda self: self._sim.now)
    tick_s = property(lambda self: self._sim.tick_s)
    duration_s = property(lambda self: self._sim.duration_s)
    n_hosts = property(lambda self: self._sim.fleet.n_hosts)

    @property
    def host_state(self):
        return _readonly(self._sim.host_state)

    @property
    def admitting(self):
        return self._sim.fleet.admitting

    @property
    def vm_status(self):
        return _readonly(self._sim.vm.status)

    @property
    def vm_host(self):
        return _readonly(self._sim.vm.host)

    @property
    def vm_request(self):
        return _readonly(self._sim.requests)

    def vms_on(self, host):
        """Rows of the VMs on `host` (running, or migrating away), ascending."""
        return self._sim.vm.rows_on_host(host)

    def cpu_history(self, n=HISTORY_TICKS):
        """float64 [min(n, ticks measured), 2, n_hosts]: per tick (oldest first) each host's
        granted and demanded cores (time-weighted over the tick)."""
        sim = self._sim
        done = sim.ticks_closed
        n = min(n, done, HISTORY_TICKS)
        ticks = [(done - n + i) % HISTORY_TICKS for i in range(n)]
        return sim.cpu_history[ticks].copy() if n else np.zeros((0, 2, self.n_hosts))


def _readonly(array):
    view = array.view()
    view.flags.writeable = False
    return view
