"""Alibaba cluster traces: the openb GPU cluster (2023) and cluster-trace-v2018 machines."""

from pathlib import Path

import numpy as np
import pandas as pd

from vmsched.errors import InvalidRequest
from vmsched.fleet import Fleet
from vmsched.workload.workload import Workload


def read_alibaba_openb(folder, pods="openb_pod_list_default.csv",
                       nodes="openb_node_list_all_node.csv"):
    """Alibaba's openb GPU cluster (clusterdata cluster-trace-gpu-v2023). In `folder`:
    `openb_node_list_all_node.csv` (sn, cpu_milli, memory_mib, gpu, model) becomes the fleet
    (VCPU = cpu_milli / 1000, MEMORY_MB, GPU = gpu, no overcommit), and the pod list (name,
    cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos, pod_phase, creation_time,
    deletion_time, scheduled_time; seconds) the workload: VCPU = ceil(cpu_milli / 1000),
    GPU = num_gpu (a shared GPU, gpu_milli < 1000, still takes one), from creation to deletion
    (missing deletion = still running). Returns (fleet, workload)."""
    folder = Path(folder)
    if not ((folder / nodes).is_file() and (folder / pods).is_file()):
        raise InvalidRequest(f"{folder}: the alibaba-openb reader needs a folder with {nodes} "
                             f"and {pods}")
    node_table = pd.read_csv(folder / nodes)
    pod_table = pd.read_csv(folder / pods)
    for name, frame, columns in (("nodes", node_table, ("sn", "cpu_milli", "memory_mib", "gpu")),
                                 ("pods", pod_table, ("name", "cpu_milli", "memory_mib",
                                                      "num_gpu", "creation_time",
                                                      "deletion_time"))):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InvalidRequest(f"openb {name} file lacks columns {missing}")
    total = np.stack([node_table["cpu_milli"].to_numpy() // 1000,
                      node_table["memory_mib"].to_numpy(),
                      node_table["gpu"].fillna(0).to_numpy()], axis=1).astype(np.int64)
    fleet = Fleet(total, resources=("VCPU", "MEMORY_MB", "GPU"),
                  host_names=node_table["sn"].tolist())
    origin = pod_table["creation_time"].min()
    table = pd.DataFrame({
        "vm_id": pod_table["name"], "tenant": pod_table.get("qos", pd.Series(0)).fillna("none"),
        "start_s": (pod_table["creation_time"] - origin).astype(float),
        "end_s": (pod_table["deletion_time"] - origin).astype(float),
        "VCPU": np.ceil(pod_table["cpu_milli"].to_numpy(float) / 1000).astype(np.int64),
        "MEMORY_MB": pod_table["memory_mib"].astype(np.int64),
        "GPU": pod_table["num_gpu"].fillna(0).astype(np.int64),
    })
    table = table[(table[["VCPU", "MEMORY_MB", "GPU"]] > 0).any(axis=1)]
    return fleet, Workload(table, name=f"alibaba openb {folder.name}")


def read_alibaba_machines(path, memory_mib_at_100=262144, overcommit="none"):
    """cluster-trace-v2018 `machine_meta.csv` (gzipped or not), no header: machine_id,
    time_stamp, failure_domain_1, failure_domain_2, cpu_num, mem_size (0-100, normalised),
    status. The latest row of each machine becomes a host: VCPU = cpu_num, MEMORY_MB =
    mem_size / 100 x memory_mib_at_100. Returns (fleet, host_domains) with failure_domain_1
    as each host's domain."""
    columns = ("machine_id", "time_stamp", "failure_domain_1", "failure_domain_2", "cpu_num",
               "mem_size", "status")
    try:
        table = pd.read_csv(path, header=None, names=columns)
    except (FileNotFoundError, OSError) as error:
        raise InvalidRequest(f"{path}: {error}") from None
    if table.empty:
        raise InvalidRequest(f"{path}: no machines")
    latest = table.sort_values(["machine_id", "time_stamp"]).drop_duplicates("machine_id",
                                                                             keep="last")
    total = np.stack([latest["cpu_num"].to_numpy(),
                      np.round(latest["mem_size"].to_numpy(float) / 100 * memory_mib_at_100),
                      np.zeros(len(latest))], axis=1).astype(np.int64)
    fleet = Fleet(total, resources=("VCPU", "MEMORY_MB", "DISK_GB"),
                  host_names=latest["machine_id"].tolist())
    if overcommit != "none":
        fleet.set_overcommit(overcommit)
    return fleet, latest["failure_domain_1"].tolist()
