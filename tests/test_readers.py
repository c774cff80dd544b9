"""Every trace reader on a shipped fixture, and on the real samples when they are there: the
folder VMSCHED_DATA names, else ../shared/data beside the clone (skipped, saying where they
were looked for and how to point at them, when they are not)."""

import os
from pathlib import Path

import numpy as np
import pytest

from vmsched import Fleet, errors
from vmsched.workload.readers import (
    read_alibaba_machines,
    read_alibaba_openb,
    read_azure_flavor_sequences,
    read_azure_packing,
    read_azure_vmtable,
    read_bitbrains,
    read_planetlab,
    read_table,
)
from vmsched.simulation import run_placement_only

FIXTURES = Path(__file__).parent / "fixtures"
DATA = Path(os.environ.get("VMSCHED_DATA")
            or Path(__file__).resolve().parents[2] / "shared" / "data")
real = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real trace samples not found at {DATA}: set VMSCHED_DATA to "
                              f"the folder that holds them (azure2017-cpu, planetlab, ...)")


def check(workload):
    """Invariants of any workload: sorted starts, ends after starts, whole requests."""
    table = workload.table
    assert len(table) > 0
    assert (np.diff(table["start_s"].to_numpy()) >= 0).all()
    end = table["end_s"].to_numpy()
    assert (end[np.isfinite(end)] >= table["start_s"].to_numpy()[np.isfinite(end)]).all()
    for name in workload.resources:
        assert table[name].dtype.kind == "i" and (table[name] >= 0).all()
    fractions = workload.cpu.sample(np.arange(len(table)), 600.0)
    assert ((fractions >= 0) & (fractions <= 1)).all()
    return table


# ---------------------------------------------------------------- fixtures

def test_azure_vmtable_fixture():
    with pytest.warns(errors.DataWarning, match="vm"):       # vm-c has no readings
        workload = read_azure_vmtable(FIXTURES / "azure_vmtable.csv",
                                      FIXTURES / "azure_cpu_readings.csv")
    table = check(workload)
    assert table["vm_id"].tolist() == ["vm-a", "vm-b", "vm-c"]
    assert table["VCPU"].tolist() == [2, 1, 32]               # V2 bucket ">24" -> 32
    assert table["MEMORY_MB"].tolist() == [3584, 1792, 131072]
    assert workload.cpu.sample(np.array([0]), 600.0)[0] == pytest.approx(0.22)
    constant = read_azure_vmtable(FIXTURES / "azure_vmtable.csv")
    assert constant.cpu.sample(np.array([2]), 0.0)[0] == pytest.approx(0.45)


def test_azure_packing_fixture():
    workload = read_azure_packing(FIXTURES / "azure_packing.sqlite", machine_vcpus=64,
                                  machine_memory_mib=262144)
    table = check(workload)
    assert table["VCPU"].tolist() == [8, 32, 8]
    assert table["start_s"].tolist()[:2] == [0.0, 0.0]          # started before the trace
    assert np.isnan(table.set_index("vm_id").loc[2, "end_s"])   # still running
    with pytest.raises(errors.InvalidRequest, match="vmTypeId 1"):
        read_azure_packing(FIXTURES / "azure_packing.sqlite", machine_id=1)


def test_azure_flavor_sequences_fixture():
    folder = FIXTURES / "azure_flavors"
    workload = read_azure_flavor_sequences(folder / "v1.dev.txt", folder / "v1.dev.c2100000.txt",
                                           folder / "flav_map.txt",
                                           folder / "v1.interval_map.txt", seed=1)
    table = check(workload)
    assert len(table) == 7
    assert table["VCPU"].tolist().count(2) == 4
    assert np.isnan(table["end_s"]).sum() == 1                  # the C (censored) token
    assert table.groupby("tenant").size().max() == 3            # a batch shares a tenant


def test_planetlab_fixture():
    workload = read_planetlab(FIXTURES / "planetlab" / "20110303")
    table = check(workload)
    assert table["vm_id"].tolist() == sorted(table["vm_id"].tolist())
    assert table["MEMORY_MB"].tolist() == [870, 1740, 1740]
    assert (table["end_s"] == 86400.0).all()


def test_bitbrains_fixture():
    workload = read_bitbrains(FIXTURES / "bitbrains")
    table = check(workload)
    assert table["VCPU"].tolist() == [2, 1]
    assert table["MEMORY_MB"].tolist() == [4096, 1024]
    assert table["start_s"].tolist() == [0.0, 600.0]
    assert workload.cpu.sample(np.array([0]), 900.0)[0] == pytest.approx(1.0)


def test_alibaba_openb_fixture():
    fleet, workload = read_alibaba_openb(FIXTURES / "alibaba_openb")
    table = check(workload)
    assert fleet.resources == ("VCPU", "MEMORY_MB", "GPU")
    assert fleet.total.tolist() == [[32, 262144, 0], [96, 786432, 8]]
    assert table["VCPU"].tolist() == [12, 1, 88]                # ceil(500 milli) = 1
    assert run_placement_only(fleet, "first_fit", workload) == 1  # 88 vCPUs fit nowhere


def test_alibaba_machines_fixture():
    fleet, domains = read_alibaba_machines(FIXTURES / "alibaba_machine_meta.csv.gz",
                                           memory_mib_at_100=262144)
    assert isinstance(fleet, Fleet)
    assert fleet.total[:, :2].tolist() == [[96, 262144], [64, 131072]]
    assert domains == [10, 11]


def test_plain_table_fixture():
    workload = read_table(FIXTURES / "workload.csv")
    table = check(workload)
    assert np.isnan(table.set_index("vm_id").loc["b", "end_s"])
    assert workload.cpu.sample(np.array([0, 1]), 0.0).tolist() == [0.5, 0.25]


@pytest.mark.parametrize("reader, argument", [
    (read_planetlab, FIXTURES / "nothing"), (read_bitbrains, FIXTURES / "nothing"),
    (read_alibaba_openb, FIXTURES / "nothing"), (read_azure_packing, FIXTURES / "nothing.db"),
])
def test_missing_input_is_a_clear_error(reader, argument):
    with pytest.raises(errors.InvalidRequest):
        reader(argument)


# ---------------------------------------------------------------- real samples

@real
def test_azure_vmtable_real_sample():
    folder = DATA / "azure2017-cpu"
    assert len(check(read_azure_vmtable(folder / "azure_v1_vmtable_sample.csv"))) == 10
    # The two samples were cut from the trace separately and share no vmid: refused.
    with pytest.raises(errors.InvalidRequest, match="share no vmid"):
        read_azure_vmtable(folder / "azure_v1_vmtable_sample.csv",
                           folder / "azure_v1_vm_cpu_readings_sample.csv")


@real
def test_azure_flavor_sequences_real_sample():
    folder = DATA / "azure2017-flavors"
    workload = read_azure_flavor_sequences(folder / "v1.dev.txt", folder / "v1.dev.c2100000.txt",
                                           folder / "flav_map.txt", folder / "v1.interval_map.txt")
    table = check(workload)
    assert len(table) > 200_000
    assert set(table["VCPU"]) <= {1, 2, 4, 8, 16}


@real
def test_planetlab_real_sample():
    assert len(check(read_planetlab(DATA / "planetlab" / "20110303"))) == 1052
    assert len(check(read_planetlab(DATA / "planetlab" / "20110306"))) == 898


@real
def test_bitbrains_real_sample():
    assert len(check(read_bitbrains(DATA / "bitbrains-small"))) == 50


@real
def test_alibaba_openb_real_sample():
    fleet, workload = read_alibaba_openb(DATA / "alibaba-openb-2023")
    assert fleet.n_hosts == 1523
    assert len(check(workload)) == 8152
    assert run_placement_only(fleet, "best_fit", workload) == 0


@real
def test_alibaba_machines_real_sample():
    fleet, domains = read_alibaba_machines(DATA / "alibaba-2018-machines" / "machine_meta.csv.gz")
    assert fleet.n_hosts == 4034 and len(domains) == 4034
