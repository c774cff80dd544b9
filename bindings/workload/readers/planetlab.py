"""PlanetLab CPU traces as bundled with CloudSim."""

from pathlib import Path

import numpy as np
import pandas as pd

from vmsched.errors import InvalidRequest
from vmsched.workload.utilization import TraceUtilization
from vmsched.workload.workload import Workload

#: CloudSim's PlanetLab experiments' VM types (by file position after sorting): memory MiB.
#: Their MIPS (2500, 2000, 1000, 500) have no vCPU meaning here: every VM has 1 vCPU.
CLOUDSIM_VM_MEMORY_MIB = (870, 1740, 1740, 613)


def read_planetlab(folder):
    """A folder of one day (e.g. `20110303/`): one file per VM, 288 lines, one integer CPU
    utilisation percent (0-99) per 5 minutes. As in CloudSim, files are sorted by name and VM
    i gets type i mod 4 (memory 870, 1740, 1740 or 613 MiB, 1 vCPU); every VM runs the whole
    day (0 to 86,400 s)."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    if not files:
        raise InvalidRequest(f"{folder}: no PlanetLab files")
    series = []
    for path in files:
        values = np.array([int(x) for x in path.read_text().split()], dtype=np.float64)
        if values.size == 0 or values.min() < 0 or values.max() > 100:
            raise InvalidRequest(f"{path}: expected percentages 0-100, one per line")
        series.append(values / 100.0)
    n = len(files)
    table = pd.DataFrame({
        "vm_id": [p.name for p in files], "tenant": 0, "start_s": 0.0,
        "end_s": [len(s) * 300.0 for s in series],
        "VCPU": np.ones(n, np.int64),
        "MEMORY_MB": np.array([CLOUDSIM_VM_MEMORY_MIB[i % 4] for i in range(n)], np.int64),
    })
    cpu = TraceUtilization.from_series(series, np.zeros(n))
    return Workload(table, cpu=cpu, name=f"planetlab {folder.name}")
