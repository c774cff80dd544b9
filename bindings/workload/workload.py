"""vmsched.Workload: the VMs to simulate.

A workload is a table with one row per VM:

| column | meaning |
|---|---|
| `vm_id` | user-facing id (int or str), unique |
| `tenant` | tenant id (int or str; default 0) |
| `start_s`, `end_s` | seconds since the start of the run; `end_s` NaN = never leaves |
| resource class names (`VCPU`, `MEMORY_MB`, `DISK_GB`, `GPU`, ...) | the request, whole units |
| `cpu_shares`, `cpu_reservation`, `cpu_limit`, `memory_shares`, `memory_reservation`, `memory_limit` | optional scheduling settings (NaN = default) |
| `group` | optional server group (see `groups`) |
| `labels` | optional labels the host must carry ("a,b" or a tuple) |

plus a CPU utilisation source and an optional memory one (fractions of the VM's vCPUs and MiB,
see vmsched.workload.utilization; default for memory: a constant 0.4), and `groups`: {group: policy or
(policy, max_per_host, max_skew)} for the placer.
"""

import numpy as np
import pandas as pd

from vmsched.errors import InvalidRequest, shown
from vmsched.workload.utilization import ConstantUtilization, UtilizationSource
from vmsched.models.vm_settings import FIELDS as SETTINGS

REQUIRED = ("vm_id", "start_s", "end_s")
OPTIONAL = ("tenant", "group", "labels") + SETTINGS
DEFAULT_MEMORY_ACTIVE = 0.4


class Workload:
    """A VM table and its utilisation sources; validated on construction (rows sorted by
    start_s, then by their order in the table)."""

    def __init__(self, table, cpu=None, memory=None, groups=None, name="workload",
                 horizon_s=None):
        if not isinstance(table, pd.DataFrame):
            raise InvalidRequest("a workload table must be a pandas DataFrame")
        missing = [c for c in REQUIRED if c not in table.columns]
        if missing:
            raise InvalidRequest(f"the workload table lacks columns {missing}")
        if table.empty:
            raise InvalidRequest("the workload table is empty")
        if not table["vm_id"].is_unique:
            raise InvalidRequest("vm_id values are not unique")
        table = table.reset_index(drop=True)
        start = pd.to_numeric(table["start_s"], errors="coerce").to_numpy(np.float64)
        end = pd.to_numeric(table["end_s"], errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(start) | (start < 0)
        if bad.any():
            raise InvalidRequest(f"start_s of vm {shown(table['vm_id'][np.argmax(bad)])} = "
                                 f"{start[np.argmax(bad)]} must be a finite time >= 0")
        bad = end < start
        if bad.any():
            raise InvalidRequest(f"end_s of vm {shown(table['vm_id'][np.argmax(bad)])} is before "
                                 f"its start")
        self.resources = tuple(c for c in table.columns
                               if c not in REQUIRED + OPTIONAL and c.isupper())
        if not self.resources:
            raise InvalidRequest("the workload requests no resource class (columns such as "
                                 "VCPU, MEMORY_MB)")
        for name_ in self.resources:
            column = table[name_]
            if column.dtype.kind not in "iu" or (column < 0).any():
                raise InvalidRequest(f"request column {name_} must hold whole numbers >= 0")
        order = np.lexsort((np.arange(len(table)), start))
        self.table = table.iloc[order].reset_index(drop=True)
        self.table["start_s"] = start[order]
        self.table["end_s"] = end[order]
        if "tenant" not in self.table:
            self.table["tenant"] = 0
        self.cpu = self._source("cpu", cpu, 0.5, order)
        self.memory = self._source("memory", memory, DEFAULT_MEMORY_ACTIVE, order)
        self.groups = dict(groups or {})
        self.name = name
        #: How long the workload is meant to be watched (synthetic: its days), or None.
        self.horizon_s = None if horizon_s is None else float(horizon_s)

    def _source(self, kind, source, default, order):
        n = len(self.table)
        if source is None:
            return ConstantUtilization(default, n_vms=n)
        if isinstance(source, (int, float, np.floating)):
            return ConstantUtilization(float(source), n_vms=n)
        if not isinstance(source, UtilizationSource):
            raise InvalidRequest(f"{kind} must be a utilisation source or a fraction")
        if source.n_vms != n:
            raise InvalidRequest(f"the {kind} source covers {source.n_vms} VMs, the table {n}")
        return source if np.array_equal(order, np.arange(n)) else source.subset(order)

    def __len__(self):
        return len(self.table)

    @property
    def duration_s(self):
        """From 0 to the last arrival or departure."""
        end = self.table["end_s"].to_numpy()
        return float(max(self.table["start_s"].max(), np.nanmax(end) if np.isfinite(end).any()
                         else 0.0))

    def requests(self, resources):
        """int64 [n, len(resources)] requests in a fleet's class order (absent classes: 0)."""
        unknown = set(self.resources) - set(resources)
        if unknown:
            raise InvalidRequest(f"the workload requests {sorted(unknown)}, which the fleet "
                                 f"does not have ({', '.join(resources)})")
        out = np.zeros((len(self.table), len(resources)), np.int64)
        for r, name in enumerate(resources):
            if name in self.table:
                out[:, r] = self.table[name].to_numpy(np.int64)
        empty = ~out.any(axis=1)
        if empty.any():
            raise InvalidRequest(f"vm {shown(self.table['vm_id'][np.argmax(empty)])} requests nothing")
        return out

    def head(self, n):
        """The first n VMs (by start), with their sources."""
        rows = np.arange(min(n, len(self.table)))
        return Workload(self.table.iloc[rows].copy(), self.cpu.subset(rows),
                        self.memory.subset(rows), self.groups, self.name, self.horizon_s)

    def __repr__(self):
        return (f"<Workload {self.name}: {len(self)} VMs, classes {self.resources}, cpu "
                f"{self.cpu.name}, memory {self.memory.name}>")


def read_table(path, **kwargs):
    """A workload from a CSV or Parquet file in the table layout above (constant CPU 0.5 unless
    a `cpu_util` column gives one fraction per VM)."""
    path = str(path)
    table = pd.read_parquet(path) if path.endswith((".parquet", ".pq")) else pd.read_csv(path)
    cpu = None
    if "cpu_util" in table.columns:
        cpu = ConstantUtilization(table.pop("cpu_util").to_numpy(np.float64))
    return Workload(table, cpu=cpu, name=path, **kwargs)
