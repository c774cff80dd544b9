"""Azure Public Dataset readers (V1/V2 vmtable and CPU readings, the 2020 packing trace, the
V1 flavor/lifetime sequences)."""

import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from vmsched.errors import DataWarning, InvalidRequest, shown
from vmsched.workload.utilization import ConstantUtilization, TraceUtilization
from vmsched.workload.workload import Workload

VMTABLE_COLUMNS = ("vmid", "subscriptionid", "deploymentid", "vmcreated", "vmdeleted", "maxcpu",
                   "avgcpu", "p95maxcpu", "vmcategory", "vmcorecount", "vmmemory")
#: V2 reports sizes above these as buckets (">24" cores, ">64" GB); they become these values.
OPEN_BUCKETS = {">24": 32, ">64": 128}


def _bucket(values, name):
    out = pd.to_numeric(values.astype(str).str.strip().replace(OPEN_BUCKETS), errors="coerce")
    if out.isna().any():
        raise InvalidRequest(f"vmtable column {name} has unreadable values such as "
                             f"{shown(values[out.isna()].iloc[0])}")
    return out.to_numpy(np.float64)


def read_azure_vmtable(vmtable, cpu_readings=None):
    """Azure V1 or V2 `vmtable.csv`: no header, 11 columns: vmid, subscriptionid,
    deploymentid, vmcreated (s), vmdeleted (s), maxcpu, avgcpu, p95maxcpu (%), vmcategory,
    vmcorecount, vmmemory (GB; V2 buckets ">24" cores and ">64" GB read as 32 and 128).

    cpu_readings (optional): `vm_cpu_readings-file-*.csv`, no header: timestamp (s), vmid, min,
    max, avg (%): each VM's avg readings, in time order from its start, every 300 s. Without
    them a VM's CPU utilisation is its constant avgcpu (also for a VM the readings miss: a
    DataWarning counts those; readings that match no VM at all raise InvalidRequest).
    Tenant = subscription.
    """
    table = pd.read_csv(vmtable, header=None, names=VMTABLE_COLUMNS)
    if table.empty:
        raise InvalidRequest(f"{vmtable}: no VMs")
    workload_table = pd.DataFrame({
        "vm_id": table["vmid"], "tenant": table["subscriptionid"],
        "start_s": table["vmcreated"].astype(float), "end_s": table["vmdeleted"].astype(float),
        "VCPU": _bucket(table["vmcorecount"], "vmcorecount").astype(np.int64),
        "MEMORY_MB": np.round(_bucket(table["vmmemory"], "vmmemory") * 1024).astype(np.int64),
    })
    if cpu_readings is None:
        cpu = ConstantUtilization(np.clip(table["avgcpu"].to_numpy(float) / 100, 0, 1))
    else:
        readings = pd.read_csv(cpu_readings, header=None,
                               names=("timestamp", "vmid", "min", "max", "avg"))
        readings = readings.sort_values(["vmid", "timestamp"], kind="stable")
        grouped = {vm: group["avg"].to_numpy(float) / 100
                   for vm, group in readings.groupby("vmid", sort=False)}
        matched = int(table["vmid"].isin(grouped).sum())
        if matched == 0:
            raise InvalidRequest(f"cpu_readings {cpu_readings}: none of its {len(grouped)} VMs "
                                 f"is in the vmtable {vmtable} ({len(table)} VMs): they share "
                                 f"no vmid")
        if matched < len(table):
            warnings.warn(f"cpu_readings {cpu_readings}: {len(table) - matched} of the "
                          f"vmtable's {len(table)} VMs have no readings (they use their "
                          f"avgcpu); {len(grouped) - matched} of its {len(grouped)} VMs are "
                          f"not in the vmtable", DataWarning, stacklevel=2)
        series = [np.clip(grouped.get(vm, np.array([avg / 100])), 0, 1)
                  for vm, avg in zip(table["vmid"], table["avgcpu"])]
        cpu = TraceUtilization.from_series(series, workload_table["start_s"].to_numpy())
    return Workload(workload_table, cpu=cpu, name=f"azure vmtable {Path(str(vmtable)).name}")


def read_azure_packing(path, machine_id=None, machine_vcpus=64, machine_memory_mib=262144):
    """The Azure 2020 VM packing trace (`packing_trace_zone_a_v1.sqlite`), tables
    `vm(vmId, tenantId, vmTypeId, priority, starttime, endtime)` (days from the trace start;
    endtime NULL = still running) and `vmType(id, vmTypeId, machineId, core, memory, hdd, ssd,
    nic)` (each a fraction of one machine). Sizes come from one machine type (machine_id,
    default the lowest id listed for each vmTypeId) scaled to machine_vcpus and
    machine_memory_mib; VMs that started before the trace start at 0.
    """
    if not Path(path).exists():
        raise InvalidRequest(f"{path}: no such file")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        vms = pd.read_sql_query("SELECT vmId, tenantId, vmTypeId, priority, starttime, endtime "
                                "FROM vm", db)
        types = pd.read_sql_query("SELECT vmTypeId, machineId, core, memory FROM vmType", db)
    if machine_id is not None:
        types = types[types["machineId"] == machine_id]
    types = types.sort_values(["vmTypeId", "machineId"]).drop_duplicates("vmTypeId")
    merged = vms.merge(types, on="vmTypeId", how="left")
    if merged["core"].isna().any():
        missing = merged.loc[merged["core"].isna(), "vmTypeId"].iloc[0]
        raise InvalidRequest(f"vmTypeId {missing} has no vmType row (machine {machine_id})")
    start = np.maximum(merged["starttime"].to_numpy(float), 0.0) * 86400.0
    end = merged["endtime"].to_numpy(float) * 86400.0
    table = pd.DataFrame({
        "vm_id": merged["vmId"], "tenant": merged["tenantId"], "start_s": start,
        "end_s": np.where(np.isnan(end), np.nan, np.maximum(end, start)),
        "VCPU": np.maximum(1, np.round(merged["core"].to_numpy() * machine_vcpus)).astype(np.int64),
        "MEMORY_MB": np.maximum(1, np.round(merged["memory"].to_numpy() * machine_memory_mib)
                                ).astype(np.int64),
    })
    return Workload(table, name=f"azure packing {Path(path).name}")


def read_azure_flavor_sequences(flavors, lifetimes, flavor_map, interval_map, seed=0):
    """The Azure V1 arrivals as flavor and lifetime sequences (huaweicloud/
    trace_generation_rnn): `flavors` has one line per 300 s: `<t_seconds> <tokens>`, tokens
    separated by `,`, a token a flavor letter and `|` between batches (a batch: one tenant, one
    moment); `lifetimes` is aligned token for token: `U<bin>` a VM that ended, `C<bin>` one
    still running at the cutoff (open-ended here); `flavor_map` lines `vcpus,memory_GB letter`;
    `interval_map` lines `seconds bin`. A VM starts at its line's time (minus the first line's)
    and lives a time drawn uniformly (seeded) within its bin.
    """
    letters = {}
    for line in Path(flavor_map).read_text().split("\n"):
        if line.strip():
            size, letter = line.split()
            vcpus, memory = size.split(",")
            letters[letter] = (int(vcpus), float(memory))
    bins = {}
    for line in Path(interval_map).read_text().split("\n"):
        if line.strip():
            seconds, bin_ = map(int, line.split())
            low, high = bins.get(bin_, (seconds, seconds))
            bins[bin_] = (min(low, seconds), max(high, seconds) + 300)
    rng = np.random.default_rng(seed)
    rows = []
    flavor_lines = Path(flavors).read_text().strip().split("\n")
    life_lines = Path(lifetimes).read_text().strip().split("\n")
    if len(flavor_lines) != len(life_lines):
        raise InvalidRequest("flavor and lifetime files differ in length")
    origin = None
    batch = 0
    for number, (line, life) in enumerate(zip(flavor_lines, life_lines)):
        time, _, tokens = line.partition(" ")
        _, _, life_tokens = life.partition(" ")
        tokens = [t for t in tokens.strip().split(",") if t]
        life_tokens = [t for t in life_tokens.strip().split(",") if t]
        if len(tokens) != len(life_tokens):
            raise InvalidRequest(f"line {number + 1}: flavors and lifetimes do not align")
        time = float(time)
        origin = time if origin is None else origin
        for token, life_token in zip(tokens, life_tokens):
            if token == "|":
                batch += 1
                continue
            if token not in letters:
                raise InvalidRequest(f"line {number + 1}: unknown flavor {shown(token)}")
            low, high = bins[int(life_token[1:])]
            lifetime = np.nan if life_token.startswith("C") else low + rng.random() * (high - low)
            vcpus, memory = letters[token]
            rows.append((len(rows), batch, time - origin, time - origin + max(lifetime, 60.0),
                         vcpus, int(round(memory * 1024))))
        batch += 1
    table = pd.DataFrame(rows, columns=["vm_id", "tenant", "start_s", "end_s", "VCPU",
                                        "MEMORY_MB"])
    return Workload(table, name=f"azure flavors {Path(flavors).name}")
