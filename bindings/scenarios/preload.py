"""Imported by the forkserver that a sweep's LocalCluster forks its workers from: imports
vmsched and runs a tiny scenario, so that each worker starts with the compiled kernels loaded
(the forkserver is started with Numba's fork-safe workqueue threading layer, see
vmsched.scenarios.cluster)."""

from vmsched.scenarios.worker import warm

warm()
