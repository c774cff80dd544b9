"""Placement accounting on worked examples, plus tables, presets, pickling and build facts."""

import os
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import vmsched
from vmsched import PRESETS, Fleet, errors
from vmsched.engine import dtypes
from vmsched.reference import Inventory, ReferenceFleet
from vmsched.testing import azure_like_requests, mixed_fleet, snapshot


def test_capacity_is_placement_formula():
    # int((total - reserved) * allocation_ratio), truncated: (16384 - 512) * 1.5 = 23808.0
    fleet = Fleet([[8, 16384, 100]], reserved={"MEMORY_MB": 512},
                  allocation_ratio={"VCPU": 16.0, "MEMORY_MB": 1.5, "DISK_GB": 0.33})
    assert fleet.capacity.tolist() == [[128, 23808, 33]]


def test_presets_match_nova():
    assert PRESETS["nova"].ratios() == {"VCPU": 4.0, "MEMORY_MB": 1.0, "DISK_GB": 1.0}
    assert PRESETS["nova"].reserved_host_memory_mib == 512
    assert PRESETS["nova_pre_stein"].ratios() == {"VCPU": 16.0, "MEMORY_MB": 1.5, "DISK_GB": 1.0}
    assert PRESETS["none"].ratios() == {"VCPU": 1.0, "MEMORY_MB": 1.0, "DISK_GB": 1.0}
    fleet = Fleet.uniform(2, vcpus=32, memory_mib=131072, disk_gib=1000,
                          overcommit="nova_pre_stein")
    assert fleet.capacity[0].tolist() == [512, int((131072 - 512) * 1.5), 1000]
    fleet = Fleet.uniform(2, vcpus=32, memory_mib=131072, disk_gib=1000, overcommit="nova",
                          cpu_allocation_ratio=2.0, extra={"GPU": 4})
    assert fleet.resources == ("VCPU", "MEMORY_MB", "DISK_GB", "GPU")
    assert fleet.capacity[1].tolist() == [64, 131072 - 512, 1000, 4]


def test_max_unit_defaults_to_total_even_with_overcommit():
    fleet = Fleet.uniform(1, vcpus=8, memory_mib=65536, disk_gib=100, overcommit="nova")
    assert fleet.capacity[0, 0] == 32
    with pytest.raises(errors.InsufficientCapacity, match="max_unit 8"):
        fleet.allocate(0, (9, 1024, 0))
    fleet.allocate(0, (8, 1024, 0))


def test_step_and_min_unit():
    fleet = Fleet([[64, 65536]], resources=("VCPU", "MEMORY_MB"),
                  min_unit={"MEMORY_MB": 512}, step_size={"MEMORY_MB": 256})
    assert fleet.fit_error(0, (1, 256)).rule == "min_unit"
    assert fleet.fit_error(0, (1, 700)).rule == "step_size"
    assert fleet.fit_error(0, (1, 768)) is None
    assert fleet.fits((1, 700)).tolist() == [False]


def test_lowering_a_ratio_never_evicts_and_blocks_growth():
    fleet = Fleet.uniform(1, vcpus=4, memory_mib=65536, disk_gib=100, overcommit="nova")
    vms = [fleet.allocate(0, (4, 1024, 0)) for _ in range(4)]   # 16 vCPUs on capacity 16
    fleet.set_overcommit(VCPU=2.0)                              # capacity 8 < used 16
    assert fleet.used[0, 0] == 16 and fleet.capacity[0, 0] == 8 and fleet.n_vms == 4
    with pytest.raises(errors.InsufficientCapacity, match="capacity"):
        fleet.allocate(0, (1, 1024, 0))
    fleet.allocate(0, (0, 1024, 0))        # memory only: does not worsen the VCPU overage
    fleet.resize(vms[0], (2, 1024, 0))     # shrinking is always admitted
    with pytest.raises(errors.InsufficientCapacity):
        fleet.resize(vms[0], (3, 1024, 0))  # growing while over capacity is not
    for vm in vms[1:]:
        fleet.release(vm)
    assert fleet.used[0, 0] == 2
    fleet.allocate(0, (4, 1024, 0))
    fleet.check_invariants()


def test_set_inventory_keeps_other_fields_and_tracks_max_unit():
    fleet = Fleet.uniform(3, vcpus=8, overcommit="nova")
    fleet.set_inventory("VCPU", hosts=[1], total=16)
    assert fleet.total[:, 0].tolist() == [8, 16, 8]
    assert fleet.max_unit[:, 0].tolist() == [8, 16, 8]       # followed the new total
    assert fleet.allocation_ratio[1, 0] == 4.0               # kept
    fleet.set_inventory("VCPU", hosts=[2], max_unit=4)
    fleet.set_inventory("VCPU", hosts=[2], total=32)
    assert fleet.max_unit[2, 0] == 4                         # set explicitly: kept
    fleet.set_inventory("VCPU", allocation_ratio=[1.0, 2.0, 3.0])
    assert fleet.capacity[:, 0].tolist() == [8, 32, 96]


def test_tenant_usage_and_vms_table():
    fleet = Fleet.uniform(2, vcpus=8, memory_mib=16384, disk_gib=100)
    a = fleet.allocate(0, (2, 2048, 10), tenant="acme")
    fleet.allocate(1, (4, 4096, 0), tenant="acme")
    fleet.allocate(1, (1, 1024, 0), tenant=7)
    fleet.release(a)
    usage = fleet.tenant_usage()
    assert usage.loc["acme"].tolist() == [4, 4096, 0]
    assert usage.loc[7].tolist() == [1, 1024, 0]
    vms = fleet.vms()
    assert vms["tenant"].tolist() == ["acme", 7]
    assert vms["host"].tolist() == [1, 1]
    assert fleet.usage().loc[1].tolist() == [5, 5120, 0]


def test_realised_overcommit():
    fleet = Fleet.uniform(3, vcpus=10, memory_mib=10512, disk_gib=100, overcommit="nova")
    for _ in range(6):
        fleet.allocate(0, (5, 1000, 0))     # 30 vCPUs on 10 pCPUs, 6000 of 10000 MiB
    fleet.allocate(1, (10, 10000, 0))
    in_use = fleet.realised_overcommit()
    assert in_use["VCPU"] == pytest.approx(40 / 20)
    assert in_use["MEMORY_MB"] == pytest.approx(16000 / 20000)
    assert fleet.realised_overcommit(scope="all")["VCPU"] == pytest.approx(40 / 30)
    per_host = fleet.realised_overcommit(per_host=True)
    assert per_host.loc[0, "VCPU"] == 3.0 and per_host.loc[2, "VCPU"] == 0.0


def test_stranded_capacity_worked_example():
    # Host 0: memory exhausted, 12 vCPUs left -> stranded for a (2, 4096) shape.
    # Host 1: everything free -> nothing stranded. Host 2: vCPUs exhausted, memory left.
    fleet = Fleet([[16, 16384], [16, 16384], [16, 16384]], resources=("VCPU", "MEMORY_MB"))
    fleet.allocate(0, (4, 16384))
    fleet.allocate(2, (16, 4096))
    fleet.allocate(1, (2, 4096))
    fleet.allocate(1, (2, 4096))
    table = fleet.stranded_capacity()          # most common shape: (2, 4096)
    assert table["shape"].tolist() == [2, 4096]
    assert table.loc["VCPU", "stranded"] == 12
    assert table.loc["MEMORY_MB", "stranded"] == 12288
    assert table.loc["VCPU", "free"] == 12 + 12
    assert table.loc["MEMORY_MB", "hosts"] == 1


@given(seed=st.integers(0, 2**32 - 1), n_vms=st.integers(1, 120))
def test_stranded_and_overcommit_match_reference(seed, n_vms):
    rng = np.random.default_rng(seed)
    fleet = mixed_fleet(rng, 6)
    hosts = [{name: Inventory(int(fleet.total[h, r]), int(fleet.reserved[h, r]),
                              float(fleet.allocation_ratio[h, r]))
              for r, name in enumerate(fleet.resources)} for h in range(fleet.n_hosts)]
    reference = ReferenceFleet(fleet.resources, hosts)
    for request in azure_like_requests(rng, n_vms).tolist():
        host = int(rng.integers(0, fleet.n_hosts))
        if reference.fit_failure(host, request) is None:
            assert fleet.allocate(host, request) == reference.allocate(host, request)
        else:
            assert fleet.fit_error(host, request) is not None
    if reference.vms:
        shape = reference.most_common_shape()
        assert fleet.stranded_capacity()["stranded"].tolist() == list(
            reference.stranded_capacity(shape).values())
    np.testing.assert_array_equal(fleet.realised_overcommit(scope="all").to_numpy(),
                                  list(reference.realised_overcommit(scope="all").values()))


def test_frames_round_trip():
    fleet = Fleet([[8, 16384, 100], [16, 32768, 200]], host_names=["h-a", "h-b"],
                  allocation_ratio={"VCPU": 4.0}, reserved={"MEMORY_MB": 512})
    frame = fleet.to_frame()
    assert frame.loc[("h-b", "VCPU"), "capacity"] == 64
    again = Fleet.from_frame(frame)
    for name in ["total", "reserved", "allocation_ratio", "min_unit", "max_unit", "step_size"]:
        np.testing.assert_array_equal(getattr(again, name), getattr(fleet, name))
    assert list(again.host_names) == ["h-a", "h-b"]
    wide = pd.DataFrame({"VCPU": [8, 16], "MEMORY_MB": [1024, 2048]}, index=["x", "y"])
    from_wide = Fleet.from_frame(wide, overcommit="nova")
    assert from_wide.capacity.tolist() == [[32, 512], [64, 1536]]
    assert from_wide.host_index("y") == 1
    with pytest.raises(errors.UnknownHost):
        from_wide.host_index("z")


def test_pickle_restores_exactly():
    fleet = Fleet.uniform(3, vcpus=8, memory_mib=16384, disk_gib=100)
    vms = [fleet.allocate(h % 3, (1, 1024, 1), tenant=h % 2) for h in range(7)]
    fleet.release(vms[2])
    fleet.release(vms[5])
    again = pickle.loads(pickle.dumps(fleet))
    again.check_invariants()
    assert type(again) is Fleet
    for name in ["used", "free", "vm_host", "vm_request", "tenant_used", "host_vm_count"]:
        np.testing.assert_array_equal(getattr(again, name), getattr(fleet, name))
    assert again.free_slot_stack().tolist() == fleet.free_slot_stack().tolist()
    # Same next steps on both: the restored fleet continues exactly.
    assert again.allocate(0, (1, 1024, 1)) == fleet.allocate(0, (1, 1024, 1))
    assert snapshot(again) == snapshot(fleet)


def test_vm_table_grows_and_reuses_slots_last_freed_first():
    fleet = Fleet.uniform(1, vcpus=4096, memory_mib=2**30, disk_gib=0, overcommit="none")
    vms = [fleet.allocate(0, (1, 1, 0)) for _ in range(3000)]
    assert vms == list(range(3000))
    fleet.release(10)
    fleet.release(20)
    assert fleet.allocate(0, (1, 1, 0)) == 20
    assert fleet.allocate(0, (1, 1, 0)) == 10
    assert fleet.allocate(0, (1, 1, 0)) == 3000
    fleet.check_invariants()


def test_numpy_integers_and_arrays_are_accepted():
    fleet = Fleet.uniform(2)
    vm = fleet.allocate(np.int32(1), np.array([2, 1024, 10], dtype=np.int32),
                        tenant=np.int64(3))
    fleet.resize(np.int64(vm), [np.int64(4), 2048, 10])
    assert fleet.used[1].tolist() == [4, 2048, 10]
    assert fleet.tenant_ids == [3]


def test_fit_mask_fast_and_general_paths_agree():
    """The vectorised fit mask on its fast path (unit rules trivial) and on its general path
    (a step size somewhere) equals the reference's fit rule, host by host, on the same state.
    (Was: the fast path compared with itself.)"""
    rng = np.random.default_rng(5)
    fleet = mixed_fleet(rng, 300)
    reference = ReferenceFleet.from_fleet(fleet)
    for request in azure_like_requests(rng, 2000).tolist():
        host = int(rng.integers(0, 300))
        if fleet.fit_error(host, request) is None:
            fleet.allocate(host, request)
            reference.allocate(host, request)
    probes = azure_like_requests(rng, 50).tolist()
    for p in probes:                                                   # the fast path
        assert fleet.fits(p).tolist() == reference.fits(p)
    fleet.set_inventory("DISK_GB", hosts=[5], step_size=3)             # general path now
    reference.set_inventory(5, "DISK_GB", step_size=3)
    fleet.set_inventory("MEMORY_MB", hosts=[299], step_size=2)
    reference.set_inventory(299, "MEMORY_MB", step_size=2)
    for p in probes + [[1, 1, 3], [1, 1, 4], [1, 1, 0]]:
        assert fleet.fits(p).tolist() == reference.fits(p)
        assert fleet.fits(p).tolist() == [fleet.fit_error(h, p) is None for h in range(300)]


def test_dtypes_agree_with_the_native_types():
    fleet = Fleet.uniform(2)
    assert fleet.used.dtype == dtypes.AMOUNT and fleet.total.dtype == dtypes.AMOUNT
    assert fleet.min_unit.dtype == dtypes.UNIT and fleet.step_size.dtype == dtypes.UNIT
    assert fleet.vm_host.dtype == dtypes.INDEX and fleet.allocation_ratio.dtype == dtypes.RATIO


def test_engine_bytes_per_host_and_vm():
    fleet = Fleet.uniform(1000)
    sizes = fleet.nbytes()
    assert sizes["per_host_per_resource"] <= 64
    assert sizes["per_vm_slot"] <= 48


def test_the_installed_build_is_the_one_expected():
    """A release build unless VMSCHED_EXPECT_DEBUG=1 (set by .ci/run's debug-build pass, and
    by whoever runs the tests on a VMSCHED_DEBUG=1 build): a pass that means to look for
    memory errors really runs the bounds-checked build, and the release pass does not."""
    expect_debug = os.environ.get("VMSCHED_EXPECT_DEBUG") == "1"
    assert vmsched.DEBUG_BUILD == expect_debug


def test_an_inventory_change_keeps_a_host_that_does_not_admit_closed():
    """Changing a ratio on a host that does not admit (draining, down) must not reopen it."""
    fleet = Fleet.uniform(2, vcpus=8, memory_mib=8192, disk_gib=0)
    fleet.set_admitting(np.array([0], np.int32), False)
    fleet.set_inventory("VCPU", hosts=[0], allocation_ratio=2.0)
    assert not fleet.admitting[0]
    with pytest.raises(errors.InsufficientCapacity):
        fleet.allocate(0, (1, 512, 0))
    assert vmsched.Placer(fleet, "first_fit").place((1, 512, 0)).host == 1
    fleet.set_admitting(np.array([0], np.int32), True)
    assert fleet.capacity[0, 0] == 16 and fleet.free[0, 0] == 16
