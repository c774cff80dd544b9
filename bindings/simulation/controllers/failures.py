"""The `failures` controller: host failures at given times, or drawn from seeded
time-between-failures and repair-time distributions."""

import numpy as np

from vmsched import _validate
from vmsched.errors import InvalidRequest, shown
from vmsched.simulation.controllers.actions import Fail
from vmsched.simulation.controllers.base import Controller, register

DISTRIBUTIONS = ("exponential", "weibull")


@register
class Failures(Controller):
    """events: [(time_s, host), ...] failures at given times (each down for mttr_s); or, with
    mtbf_s, failures drawn per host (per failure domain when `domains` gives one per host:
    every host of the domain fails together) from a numpy Generator(seed): time between
    failures exponential with mean mtbf_s, or Weibull with that mean and `shape`; repair
    time exponential with mean mttr_s (repair="fixed": exactly mttr_s). A failed host's VMs
    are lost; restart=True places each again as an arrival restart_delay_s later."""

    name = "failures"

    def __init__(self, events=None, *, mtbf_s=None, mttr_s=3600.0, distribution="exponential",
                 shape=1.5, repair="exponential", domains=None, restart=False,
                 restart_delay_s=0.0, seed=0):
        if (events is None) == (mtbf_s is None):
            raise InvalidRequest("give failures either as events or as mtbf_s, not both")
        if distribution not in DISTRIBUTIONS:
            raise InvalidRequest(f"distribution {shown(distribution)} is unknown; known: "
                                 f"{', '.join(DISTRIBUTIONS)}")
        if repair not in ("exponential", "fixed"):
            raise InvalidRequest(f"repair {shown(repair)} is neither 'exponential' nor 'fixed'")
        self.events = None if events is None else [
            (_validate.nonnegative_real("time_s", t), _validate.integer("host", h, minimum=0))
            for t, h in events]
        self.mtbf_s = None if mtbf_s is None else _validate.positive_real("mtbf_s", mtbf_s)
        self.mttr_s = _validate.nonnegative_real("mttr_s", mttr_s)
        self.distribution, self.repair = distribution, repair
        self.shape = _validate.positive_real("shape", shape)
        self.domains = None if domains is None else list(domains)
        self.restart = bool(restart)
        self.restart_delay_s = _validate.nonnegative_real("restart_delay_s", restart_delay_s)
        self.seed = _validate.integer("seed", seed, minimum=0)

    def schedule(self, n_hosts, duration_s):
        """[(time_s, host, repair_s)] in time order (then host order): the failures of a run."""
        if self.events is not None:
            out = [(t, h, self.mttr_s) for t, h in self.events]
            for _, h, _ in out:
                if h >= n_hosts:
                    raise InvalidRequest(f"a failure names host {h}; the fleet has {n_hosts}")
            return sorted(out)
        rng = np.random.default_rng(self.seed)
        if self.domains is not None:
            if len(self.domains) != n_hosts:
                raise InvalidRequest(f"domains has {len(self.domains)} entries for {n_hosts} "
                                     f"hosts")
            units = {}
            for h, d in enumerate(self.domains):
                units.setdefault(d, []).append(h)
            units = list(units.values())
        else:
            units = [[h] for h in range(n_hosts)]
        out = []
        for hosts in units:
            t = 0.0
            while True:
                t += self._between(rng)
                if t >= duration_s:
                    break
                repair = self.mttr_s if self.repair == "fixed" else rng.exponential(self.mttr_s)
                out.extend((t, h, repair) for h in hosts)
                t += repair
        return sorted(out)

    def _between(self, rng):
        if self.distribution == "exponential":
            return rng.exponential(self.mtbf_s)
        from math import gamma
        scale = self.mtbf_s / gamma(1.0 + 1.0 / self.shape)
        return scale * rng.weibull(self.shape)

    def start(self, view):
        return [Fail(host, repair_s, self.restart, self.restart_delay_s, at_s=time_s)
                for time_s, host, repair_s in self.schedule(view.n_hosts, view.duration_s)]
