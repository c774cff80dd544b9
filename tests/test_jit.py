"""How vmsched's kernels are compiled (vmsched.engine.jit)."""

import numba
import pytest

from vmsched.engine.jit import jit

# Not cached: the test looks at what a compilation in this process compiles.
kernel = jit(cache=False, nogil=True, _nrt=False)


@kernel
def _add(a, b):
    return a + b


@kernel
def _calls_with_constants(x):
    count = 0                 # a literal 0 until Numba has typed the loop below
    for _ in range(x):
        count += 1
    return _add(x, False) + _add(count, True) + _add(-1, x > 2)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: nothing compiles")
def test_constant_arguments_do_not_compile_more_copies_of_a_kernel():
    """A kernel called from another with constants compiles once, for the arguments' types
    (Numba alone compiles a copy per literal: 3 here)."""
    assert _calls_with_constants(3) == 3 + 4 + 0
    assert [str(t) for t in _add.signatures[0]] == ["int64", "bool"]
    assert len(_add.signatures) == 1


def _trace_workload(n_vms, n_samples, writable):
    import numpy as np
    import pandas as pd

    from vmsched.workload.utilization import TraceUtilization
    from vmsched.workload.workload import Workload

    values = np.linspace(0.1, 0.6, n_vms * n_samples)
    values.flags.writeable = writable     # as arrays read from Arrow or a memory map are
    offsets = np.arange(n_vms + 1) * n_samples
    table = pd.DataFrame({"vm_id": [f"v{i}" for i in range(n_vms)], "tenant": 0,
                          "start_s": 0.0, "end_s": n_samples * 300.0, "VCPU": 1,
                          "MEMORY_MB": 1024})
    return Workload(table, cpu=TraceUtilization(values, offsets, np.zeros(n_vms)))


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: nothing compiles")
def test_kernels_compile_once_whatever_arrays_the_caller_passes():
    """A one-host fleet (whose host arrays are C- and F-contiguous at once), read-only or
    writable traces, a pickled workload and a simulation resumed from a pickle reach the
    kernels as one array type each: no
    kernel compiles a second copy (a second copy of the consolidation kernels took a minute)."""
    import pickle

    from vmsched import Fleet, HostModels, Placer
    from vmsched.engine.models import kernels_host
    from vmsched.engine.simulation import kernels_consolidation, kernels_sim
    from vmsched.simulation import Simulation, consolidate

    for n_hosts, writable in [(1, True), (3, False), (2, True)]:
        workload = _trace_workload(2 * n_hosts, 6, writable)
        if n_hosts == 2:
            workload = pickle.loads(pickle.dumps(workload))
        host = dict(vcpus=4, memory_mib=8192, disk_gib=0, overcommit="none")
        consolidate(workload, "thr-mmt-0.8", fleet=Fleet.uniform(n_hosts, **host))
        fleet = Fleet.uniform(n_hosts, **host)
        simulation = Simulation(fleet, Placer(fleet, "best_fit"), HostModels(), workload,
                                tick_s=300.0)
        simulation.run(until_s=900.0)
        if n_hosts == 2:   # resumed from a pickle: its cached kernel arguments are rebuilt
            simulation = pickle.loads(pickle.dumps(simulation))
        simulation.run()
    compiled = {name: len(kernel.signatures) for module in
                (kernels_consolidation, kernels_sim, kernels_host)
                for name, kernel in vars(module).items() if hasattr(kernel, "signatures")}
    assert compiled["run_consolidation"] == 1 and compiled["measure_piece"] == 1
    assert {name: n for name, n in compiled.items() if n > 1} == {}
