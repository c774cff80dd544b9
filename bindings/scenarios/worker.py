"""What a sweep runs on each Dask worker: a batch of scenarios, the checks before a sweep
starts (vmsched's version, the trace files), and the warm-up of the compiled kernels.

Each worker process keeps its own WorkloadCache: scenarios that share a workload build it
once per worker from its settings (a synthetic spec or a trace path), never shipped per task.
"""

import time
import traceback
from pathlib import Path

import pandas as pd

from vmsched.errors import ScenarioError, SweepError
from vmsched.scenarios.run import WorkloadCache, run_scenario
from vmsched.scenarios.scenario import Scenario

#: This process's workloads (a worker's, or the client's for an in-process sweep).
WORKLOADS = WorkloadCache()


def version():
    """vmsched's version in this process."""
    import vmsched

    return vmsched.__version__


def missing_paths(paths):
    """The given trace paths that this process cannot read."""
    return [path for path in paths if not Path(path).exists()]


def warm(parallel=True):
    """Run a tiny scenario, so that the kernels a simulation uses are compiled or loaded from
    Numba's cache in this process (once per worker, not in the first scenario's time).
    parallel=False: only its placement (sizing and a placement-only replay), which runs no
    parallel kernel, so that Numba's threading layer is not started (a process that forks
    workers must not have started OpenMP's)."""
    if parallel:
        run_scenario(Scenario({"workload": {"vms": 200, "days": 0.5}}))
        return True
    from vmsched import Fleet, Placer
    from vmsched.simulation import Simulation
    from vmsched.simulation.sizing import find_min_hosts
    from vmsched.workload.synthetic import synthetic_workload

    workload = synthetic_workload(200, 0.5, seed=0)
    host = dict(vcpus=64, memory_mib=262144, disk_gib=0)
    fleet = Fleet.uniform(find_min_hosts(workload, **host).n_hosts, **host)
    Simulation(fleet, Placer(fleet, "best_fit"), None, workload).run().summary()
    return True


def where():
    """This worker's address (or 'this process' outside a worker)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "this process"


def plain(frame):
    """A table as Parquet gives it back: a plain index, text and categories as pandas' string
    type (so tables from memory and from a sweep folder compare equal)."""
    frame = frame.reset_index(drop=True)
    text = [name for name, dtype in frame.dtypes.items()
            if dtype == object or isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype))]
    if text:
        frame = frame.copy()
        for name in text:
            frame[name] = frame[name].astype(str)
    return frame


def run_batch(batch, expected_version, kernel_threads, workloads=None):
    """Run [(index, scenario tables)] one after another; returns, for each, (index, tables
    as DataFrames or None, error text or None, compute seconds). A failing scenario is
    recorded with its error and the next one runs. workloads: the WorkloadCache to use
    (default: this process's)."""
    workloads = WORKLOADS if workloads is None else workloads
    from vmsched.engine.jit import using_threads

    if version() != expected_version:
        raise SweepError(f"worker {where()} runs vmsched {version()}, the sweep "
                         f"{expected_version}: install the same version on every worker")
    outcomes = []
    with using_threads(kernel_threads):
        for index, tables in batch:
            started = time.perf_counter()
            try:
                result = run_scenario(Scenario(tables), workloads=workloads).tables()
                result = {kind: plain(frame) for kind, frame in result.items()}
                outcomes.append((index, result, None, time.perf_counter() - started))
            except Exception as error:     # recorded; the sweep goes on
                text = f"{type(error).__name__}: {error}"
                if isinstance(error, ScenarioError) and "does not exist" in str(error):
                    text += (f" on worker {where()} (trace files must be readable where the "
                             f"workers run)")
                if not isinstance(error, (ValueError, KeyError, MemoryError)):
                    text += "\n" + "".join(traceback.format_exception(error)[-3:])
                outcomes.append((index, None, text, time.perf_counter() - started))
    return outcomes
