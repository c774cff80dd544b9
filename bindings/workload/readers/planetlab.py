"""PlanetLab CPU traces as bundled with CloudSim."""

from pathlib import Path

import numpy as np
import pandas as pd

from vmsched.errors import InvalidRequest
from vmsched.workload.utilization import TraceUtilization
from vmsched.workload.workload import Workload

#: CloudSim's PlanetLab experiments' four VM types: memory MiB and speed (MIPS of their one
#: vCPU). A VM's type is its block among four equal contiguous blocks of the sorted files.
CLOUDSIM_VM_MEMORY_MIB = (870, 1740, 1740, 613)
CLOUDSIM_VM_MIPS = (2500, 2000, 1000, 500)


def cloudsim_vm_types(n):
    """The type (0..3) of each of n VMs by position: i // ceil(n / 4), as CloudSim's
    Helper.createVmList assigns them."""
    block = -(-n // len(CLOUDSIM_VM_MEMORY_MIB))
    return np.arange(n) // max(block, 1)


def read_planetlab(folder):
    """A folder of one day (e.g. `20110303/`): one file per VM, 288 lines, one integer CPU
    utilisation percent (0-99) per 5 minutes. As in CloudSim, files are sorted by name and the
    VMs get CloudSim's four types in four contiguous blocks (cloudsim_vm_types: memory 870,
    1740, 1740 and 613 MiB, 1 vCPU each); every VM runs the whole day (0 to 86,400 s)."""
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
        "MEMORY_MB": np.array(CLOUDSIM_VM_MEMORY_MIB, np.int64)[cloudsim_vm_types(n)],
    })
    cpu = TraceUtilization.from_series(series, np.zeros(n))
    return Workload(table, cpu=cpu, name=f"planetlab {folder.name}")
