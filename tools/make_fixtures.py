"""Write the small trace fixtures in tests/fixtures (made up, in each reader's format), so the
default test run covers every reader without ../shared/data. Run: python tools/make_fixtures.py
"""

import gzip
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def main():
    OUT.mkdir(exist_ok=True)
    # Azure V1/V2 vmtable (no header) and CPU readings; one V2 bucket row.
    (OUT / "azure_vmtable.csv").write_text(
        "vm-a,sub-1,dep-1,0,3600,90.0,20.0,60.0,Interactive,2,3.5\n"
        "vm-b,sub-1,dep-1,300,7200,50.0,10.0,30.0,Delay-insensitive,1,1.75\n"
        "vm-c,sub-2,dep-2,600,86400,99.0,45.0,80.0,Unknown,>24,>64\n")
    readings = []
    for vm, start, level in (("vm-a", 0, 20.0), ("vm-b", 300, 10.0)):
        for k in range(6):
            readings.append(f"{start + 300 * k},{vm},{level - 5},{level + 5},{level + k}")
    (OUT / "azure_cpu_readings.csv").write_text("\n".join(readings) + "\n")
    # Azure 2020 packing trace (sqlite, the documented schema).
    path = OUT / "azure_packing.sqlite"
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE vm (vmId INTEGER, tenantId INTEGER, vmTypeId INTEGER, "
                   "priority INTEGER, starttime REAL, endtime REAL)")
        db.execute("CREATE TABLE vmType (id INTEGER, vmTypeId INTEGER, machineId INTEGER, "
                   "core REAL, memory REAL, hdd REAL, ssd REAL, nic REAL)")
        db.executemany("INSERT INTO vm VALUES (?, ?, ?, ?, ?, ?)",
                       [(1, 10, 0, 0, -0.5, 0.25), (2, 10, 1, 1, 0.0, None),
                        (3, 11, 0, 0, 0.1, 0.2)])
        db.executemany("INSERT INTO vmType VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(0, 0, 0, 0.125, 0.0625, 0, 0, 0), (1, 0, 1, 0.25, 0.125, 0, 0, 0),
                        (2, 1, 0, 0.5, 0.25, 0, 0, 0)])
    # Azure V1 flavor and lifetime sequences.
    flavors = OUT / "azure_flavors"
    flavors.mkdir(exist_ok=True)
    (flavors / "flav_map.txt").write_text("1,0.75 a\n1,1.75 b\n2,3.5 g\n")
    (flavors / "v1.interval_map.txt").write_text(
        "".join(f"{300 * k} {min(k, 3)}\n" for k in range(8)))
    (flavors / "v1.dev.txt").write_text("1800000 b,b,|,g,|\n1800300 a,|\n1800600 g,g,g,|\n")
    (flavors / "v1.dev.c2100000.txt").write_text("1800000 U1,U2,|,C3,|\n1800300 U0,|\n"
                                                 "1800600 U3,U3,U1,|\n")
    # PlanetLab: a day folder, one file per VM, 288 percentages.
    day = OUT / "planetlab" / "20110303"
    day.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in ("vm one", "vm_two", "vm_three"):
        (day / name).write_text("\n".join(str(v) for v in rng.integers(0, 100, 288)) + "\n")
    # Bitbrains (OpenDC's Parquet layout).
    bitbrains = OUT / "bitbrains"
    bitbrains.mkdir(exist_ok=True)
    pd.DataFrame({"id": ["1", "2"], "submission_time": [1_000_000, 1_600_000],
                  "duration": [1_200_000, 900_000], "cpu_count": [2, 1],
                  "cpu_capacity": [5200.0, 2600.0], "mem_capacity": [4_194_304, 1_048_576]}
                 ).to_parquet(bitbrains / "tasks.parquet")
    pd.DataFrame({"id": ["1"] * 4 + ["2"] * 3, "duration": [300_000] * 7,
                  "cpu_usage": [520.0, 1040.0, 2600.0, 5200.0, 260.0, 0.0, 2600.0]}
                 ).to_parquet(bitbrains / "fragments.parquet")
    # Alibaba openb: nodes and pods.
    openb = OUT / "alibaba_openb"
    openb.mkdir(exist_ok=True)
    (openb / "openb_node_list_all_node.csv").write_text(
        "sn,cpu_milli,memory_mib,gpu,model\nnode-0,32000,262144,0,\nnode-1,96000,786432,8,V100\n")
    (openb / "openb_pod_list_default.csv").write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\n"
        "pod-0,12000,16384,1,1000,,LS,Running,100,5000,100\n"
        "pod-1,500,1024,0,0,,BE,Succeeded,200,400,200\n"
        "pod-2,88000,327680,8,1000,,Burstable,Running,300,9000,300\n")
    # Alibaba cluster-trace-v2018 machine_meta (gzipped, no header).
    with gzip.open(OUT / "alibaba_machine_meta.csv.gz", "wt") as handle:
        handle.write("m_1,0,10,1,96,100,USING\nm_1,500,10,1,96,100,USING\n"
                     "m_2,0,11,2,64,50,USING\n")
    # The plain workload table.
    (OUT / "workload.csv").write_text(
        "vm_id,tenant,start_s,end_s,VCPU,MEMORY_MB,cpu_util\n"
        "a,t1,0,600,2,4096,0.5\nb,t2,0,,4,8192,0.25\nc,t1,300,900,1,1024,1.0\n")
    print(f"wrote fixtures to {OUT}")


if __name__ == "__main__":
    main()
