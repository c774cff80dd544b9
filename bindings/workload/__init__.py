"""Workloads: the VM table, utilisation sources, the synthetic generator and trace readers."""

from vmsched.workload.workload import Workload, read_table

__all__ = ["Workload", "read_table"]
