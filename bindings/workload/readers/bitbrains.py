"""Bitbrains GWA-T-12 in the Parquet layout used by OpenDC (bitbrains-small)."""

from pathlib import Path

import numpy as np
import pandas as pd

from vmsched.errors import InvalidRequest
from vmsched.workload.utilization import TraceUtilization
from vmsched.workload.workload import Workload


def read_bitbrains(folder, tick_s=300.0):
    """A folder with `tasks.parquet` (id, submission_time ms, duration ms, cpu_count,
    cpu_capacity MHz, mem_capacity KB) and `fragments.parquet` (id, duration ms, cpu_usage
    MHz; in time order per id). A VM's utilisation is cpu_usage / cpu_capacity per fragment,
    resampled to tick_s steps; memory MiB = KB / 1024 (rounded up)."""
    folder = Path(folder)
    if not ((folder / "tasks.parquet").is_file() and (folder / "fragments.parquet").is_file()):
        raise InvalidRequest(f"{folder}: the bitbrains reader needs a folder with "
                             f"tasks.parquet and fragments.parquet")
    tasks = pd.read_parquet(folder / "tasks.parquet")
    fragments = pd.read_parquet(folder / "fragments.parquet")
    origin = tasks["submission_time"].min()
    start = (tasks["submission_time"] - origin).to_numpy(np.float64) / 1000.0
    table = pd.DataFrame({
        "vm_id": tasks["id"], "tenant": 0, "start_s": start,
        "end_s": start + tasks["duration"].to_numpy(np.float64) / 1000.0,
        "VCPU": tasks["cpu_count"].astype(np.int64),
        "MEMORY_MB": np.ceil(tasks["mem_capacity"].to_numpy(np.float64) / 1024).astype(np.int64),
    })
    capacity = dict(zip(tasks["id"], tasks["cpu_capacity"].astype(float)))
    series = []
    grouped = {vm: group for vm, group in fragments.groupby("id", sort=False)}
    for vm in tasks["id"]:
        group = grouped.get(vm)
        if group is None or capacity[vm] <= 0:
            series.append(np.zeros(1))
            continue
        usage = np.clip(group["cpu_usage"].to_numpy(float) / capacity[vm], 0, 1)
        ends = np.cumsum(group["duration"].to_numpy(float) / 1000.0)
        steps = np.arange(0.0, max(ends[-1], tick_s), tick_s)
        series.append(usage[np.minimum(np.searchsorted(ends, steps, side="right"),
                                       len(usage) - 1)])
    cpu = TraceUtilization.from_series(series, start, step_s=tick_s)
    return Workload(table, cpu=cpu, name=f"bitbrains {folder.name}")
