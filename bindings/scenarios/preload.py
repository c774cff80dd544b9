"""Imported by the forkserver that a sweep's LocalCluster forks its workers from: imports
vmsched and runs a tiny placement-only scenario, so that each worker starts with most compiled
kernels loaded. No parallel kernel runs here: a process that has started OpenMP's threads
must not fork, so each worker starts Numba's threading layer itself (its first tick loads the
few parallel kernels)."""

from vmsched.scenarios.worker import warm

warm(parallel=False)
