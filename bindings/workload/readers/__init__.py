"""Trace readers: public trace formats onto the workload table (and, where a trace lists
machines, onto a fleet). Each reader's docstring gives the exact file layout it expects.

READERS maps a format name to a function path -> Workload (or (Fleet, Workload) for formats
that describe machines too, flagged in FLEET_FORMATS).
"""

from vmsched.workload.readers.alibaba import read_alibaba_machines, read_alibaba_openb
from vmsched.workload.readers.azure import (
    read_azure_flavor_sequences,
    read_azure_packing,
    read_azure_vmtable,
)
from vmsched.workload.readers.bitbrains import read_bitbrains
from vmsched.workload.readers.planetlab import read_planetlab
from vmsched.workload.workload import read_table

READERS = {
    "table": read_table,
    "azure-vmtable": read_azure_vmtable,
    "azure-packing": read_azure_packing,
    "azure-flavors": read_azure_flavor_sequences,
    "planetlab": read_planetlab,
    "bitbrains": read_bitbrains,
    "alibaba-openb": read_alibaba_openb,
}
#: Formats whose reader returns (fleet, workload).
FLEET_FORMATS = {"alibaba-openb"}

__all__ = ["FLEET_FORMATS", "READERS", "read_alibaba_machines", "read_alibaba_openb",
           "read_azure_flavor_sequences", "read_azure_packing", "read_azure_vmtable",
           "read_bitbrains", "read_planetlab", "read_table"]
