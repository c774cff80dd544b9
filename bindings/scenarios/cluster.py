"""The Dask cluster a sweep runs on: a LocalCluster sized to this machine, or a scheduler's.

`local_cluster(workers)` starts `workers` worker processes (default: one per core) of one
thread each, and gives each scenario `cores // workers` kernel threads, so that workers x
threads x kernel threads <= cores. Where the platform has it, workers are forked from a
forkserver that has imported vmsched and run a tiny scenario once (`vmsched.scenarios.preload`),
so every worker starts with its compiled kernels loaded (but for the few parallel ones, which
the forkserver must not run: see vmsched.scenarios.preload). Elsewhere workers are spawned
and warmed one by one.
"""

import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os

#: What the workers' forkserver imports before it forks any.
PRELOAD = ["distributed", "vmsched.scenarios.preload"]


def cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def kernel_threads_for(workers, threads_per_worker=1):
    """Kernel threads per scenario so that workers x threads x kernel threads <= cores."""
    return max(1, cores() // (workers * threads_per_worker))


@contextlib.contextmanager
def local_cluster(workers=None):
    """(client, kernel threads) of a LocalCluster of `workers` one-thread processes, closed
    on exit."""
    workers = workers or cores()
    forkserver = "forkserver" in multiprocessing.get_all_start_methods()
    if forkserver:
        # Started first, so that its imports overlap this process's own start of the
        # cluster (its first sweep; later sweeps find it running).
        multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
        multiprocessing.forkserver.ensure_running()
    import dask
    from distributed import Client, LocalCluster

    method = "forkserver" if forkserver else "spawn"
    with dask.config.set({"distributed.worker.multiprocessing-method": method}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
    try:
        with Client(cluster) as client:
            if not forkserver:
                from vmsched.scenarios.worker import warm

                client.run(warm)
            yield client, kernel_threads_for(workers)
    finally:
        cluster.close()
