"""What a new user runs into with the library: each test names the defect it guards against.
Bad input raises a vmsched.errors class whose message names the value, as a person would
write it (1, not np.int64(1))."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vmsched import Fleet, HostModels, Placer, errors
from vmsched.errors import shown
from vmsched.simulation import Simulation
from vmsched.workload.readers import read_azure_vmtable

FIXTURES = Path(__file__).parent / "fixtures"


def small_fleet():
    return Fleet.uniform(2, vcpus=4, memory_mib=4096, disk_gib=0)


# ---------------------------------------------------------------- requests (item 13)

def test_a_request_may_be_a_mapping_of_classes():
    """Was: a request had to be a positional tuple."""
    fleet = small_fleet()
    placer = Placer(fleet, "best_fit")
    by_name = placer.place({"MEMORY_MB": 512, "VCPU": 1})
    assert list(fleet.usage().iloc[by_name.host][["VCPU", "MEMORY_MB", "DISK_GB"]]) == [1, 512, 0]
    assert placer.select({"VCPU": 2}) == placer.select((2, 0, 0))


def test_a_mapping_naming_an_unknown_class_is_refused_and_changes_nothing():
    fleet = small_fleet()
    before = fleet.usage().copy()
    with pytest.raises(errors.UnknownResource, match="GPU"):
        Placer(fleet, "best_fit").place({"VCPU": 1, "GPU": 1})
    pd.testing.assert_frame_equal(fleet.usage(), before)


# ---------------------------------------------------------------- messages (item 13)

@pytest.mark.parametrize("call, text", [
    (lambda f: f.release(np.int64(99)), "vm 99 is not allocated"),
    (lambda f: f.allocate(np.int64(5), (1, 512, 0)), "host 5 is not in this fleet"),
    (lambda f: f.allocate(0, (np.float64(1.5), 512, 0)), "= 1.5 is not a whole number"),
])
def test_messages_show_numpy_values_as_plain_numbers(call, text):
    """Was: error texts printed np.int64(1)."""
    with pytest.raises(errors.VmschedError) as raised:
        call(small_fleet())
    assert text in str(raised.value) and "np." not in str(raised.value)


def test_shown_is_repr_without_numpy_wrappers():
    assert shown(np.int64(3)) == "3" and shown(np.float64(0.5)) == "0.5"
    assert shown((np.int64(1), "a")) == "(1, 'a')" and shown([np.int32(2)]) == "[2]"
    assert shown((np.int64(1),)) == "(1,)" and shown("x") == "'x'"


# ---------------------------------------------------------------- host models (item 13)

def test_host_models_step_refuses_arrays_that_are_too_long():
    """Was: step rejected arrays too short but accepted ones too long."""
    fleet = small_fleet()
    Placer(fleet, "first_fit").place((1, 512, 0))
    models = HostModels()
    models.step(fleet, np.array([0.5]), np.array([100.0]))
    for demand, active in ((np.array([0.5, 0.5]), np.array([100.0])),
                           (np.array([0.5]), np.array([100.0, 100.0]))):
        with pytest.raises(errors.InvalidRequest, match=r"shape \(2,\)"):
            models.step(fleet, demand, active)


# ---------------------------------------------------------------- simulation (item 13)

def _table():
    return pd.DataFrame({"vm_id": ["a", "b"], "tenant": ["t", "t"], "start_s": [0.0, 300.0],
                         "end_s": [900.0, 1200.0], "VCPU": [1, 2], "MEMORY_MB": [512, 1024],
                         "DISK_GB": [0, 0]})


def test_a_simulation_takes_a_plain_table():
    """Was: Simulation(fleet, placer, models, a_plain_DataFrame) gave AttributeError:
    horizon_s."""
    fleet = small_fleet()
    results = Simulation(fleet, "best_fit", HostModels(), _table(), duration_s=1500).run()
    assert results.summary()["VMs done at the end"] == 2


def test_a_simulation_refuses_what_is_not_a_workload():
    with pytest.raises(errors.InvalidRequest, match="list"):
        Simulation(small_fleet(), "best_fit", None, [("a", 0, 1)])


@pytest.mark.parametrize("until", [float("nan"), float("inf"), -1.0, "noon"])
def test_run_until_a_bad_time_is_refused_and_changes_nothing(until):
    """Was: run(until_s=nan) gave "cannot convert float NaN to integer"."""
    sim = Simulation(small_fleet(), "best_fit", HostModels(), _table(), duration_s=1500)
    with pytest.raises(errors.InvalidRequest, match="until_s"):
        sim.run(until_s=until)
    assert sim.tick == 0 and sim.run().summary()["VMs done at the end"] == 2


# ---------------------------------------------------------------- CPU readings (item 6)

def test_cpu_readings_that_match_no_vm_are_refused(tmp_path):
    """Was: readings that match none of the VMs were silently ignored (the sample vmtable and
    readings share no ids)."""
    readings = tmp_path / "readings.csv"
    readings.write_text("0,other-vm,1,2,3\n300,other-vm,1,2,3\n")
    with pytest.raises(errors.InvalidRequest, match="share no vmid"):
        read_azure_vmtable(FIXTURES / "azure_vmtable.csv", readings)


def test_cpu_readings_that_miss_some_vms_warn_with_counts():
    """Was: VMs without readings were silently given their avgcpu."""
    with pytest.warns(errors.DataWarning, match="1 of the vmtable's 3 VMs have no readings"):
        workload = read_azure_vmtable(FIXTURES / "azure_vmtable.csv",
                                      FIXTURES / "azure_cpu_readings.csv")
    assert len(workload) == 3


def test_cpu_readings_that_match_every_vm_say_nothing(tmp_path):
    readings = tmp_path / "readings.csv"
    readings.write_text("".join(f"{t},vm-{v},1,2,{10 + t // 300}\n" for v in "abc"
                                for t in (0, 300)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_azure_vmtable(FIXTURES / "azure_vmtable.csv", readings)


# ---------------------------------------------------------------- real data (item 16)

def test_real_data_tests_say_where_they_looked_and_how_to_point_them(tmp_path):
    """Was: the real-data tests looked only beside the clone and skipped without saying how
    to point them at a data folder."""
    env = {"VMSCHED_DATA": str(tmp_path / "nowhere"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p",
                             "no:cacheprovider", str(Path(__file__).parent / "test_readers.py"),
                             "-k", "real_sample"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert "skipped" in result.stdout, result.stdout
    assert f"not found at {tmp_path / 'nowhere'}: set VMSCHED_DATA" in result.stdout


# ---------------------------------------------------------------- Kubernetes scores (item 14)

def test_balanced_allocation_with_no_class_of_capacity_scores_as_kubernetes_does():
    """Kubernetes' balancedResourceScorer skips classes with no allocatable capacity; with
    none left the standard deviation is 0 and the score MaxNodeScore (100). Was: the engine
    scored 100, the reference 0 (engine host 1, reference host 0 below)."""
    from vmsched.placement.policy import Policy
    from vmsched.placement.weighers import BalancedAllocation, LeastAllocated
    from vmsched.reference import ReferenceFleet
    from vmsched.reference.placement import ReferencePlacer

    fleet = Fleet([[0, 2], [1, 1]], resources=("R0", "R1"))
    balanced = BalancedAllocation(-1, resources=("R0",))
    policy = Policy(weighers=(balanced, LeastAllocated(-1, resources=("R1",))))
    reference = ReferencePlacer(ReferenceFleet.from_fleet(fleet), policy)
    assert reference.kubernetes_score(balanced, 0, [0, 1]) == 100
    assert Placer(fleet, policy).select([0, 1]) == reference.select([0, 1]) == 1


# ---------------------------------------------------------------- limits (item 1)

def test_a_simulation_that_cannot_fit_raises_resource_limit_and_changes_nothing():
    import math

    fleet = small_fleet()
    with pytest.raises(errors.ResourceLimit, match="needs about .* more than"):
        Simulation(fleet, "best_fit", HostModels(), _table(), duration_s=1500,
                   memory_limit_bytes=1000)
    assert fleet.n_vms == 0
    far = _table().assign(start_s=[0.0, 1e15], end_s=[900.0, np.nan])
    with pytest.raises(errors.ResourceLimit, match="PiB"):
        Simulation(small_fleet(), "best_fit", HostModels(), far)
    results = Simulation(small_fleet(), "best_fit", HostModels(), _table(), duration_s=1500,
                         memory_limit_bytes=math.inf).run()
    assert results.summary()["VMs done at the end"] == 2


def test_the_memory_limit_names_what_sets_it(monkeypatch):
    from vmsched import limits

    limit, source = limits.memory_limit()
    assert limit > 2**26 and source
    monkeypatch.setenv("VMSCHED_MEMORY_LIMIT", "12345")
    assert limits.memory_limit() == (12345.0, "VMSCHED_MEMORY_LIMIT")
