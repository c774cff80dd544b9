"""Bad input raises a vmsched.errors exception that names the bad value, and changes nothing."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmsched import Fleet, errors


from vmsched.testing import snapshot


@pytest.fixture
def fleet():
    fleet = Fleet.uniform(4, vcpus=8, memory_mib=16384, disk_gib=100)
    fleet.allocate(0, (2, 2048, 10), tenant="a")
    fleet.allocate(1, (4, 4096, 20), tenant="b")
    vm = fleet.allocate(2, (1, 1024, 5))
    fleet.release(vm)
    return fleet


BAD_REQUESTS = [
    ((-1, 1024, 0), errors.InvalidRequest, "negative"),
    ((1.5, 1024, 0), errors.InvalidRequest, "1.5"),
    ((2.0, 1024, 0), errors.InvalidRequest, "2.0"),
    ((math.nan, 1024, 0), errors.InvalidRequest, "nan"),
    ((True, 1024, 0), errors.InvalidRequest, "True"),
    (("2", 1024, 0), errors.InvalidRequest, "'2'"),
    ((1, 1024), errors.InvalidRequest, "2 amounts"),
    ((1, 1024, 0, 0), errors.InvalidRequest, "4 amounts"),
    ((), errors.InvalidRequest, "0 amounts"),
    ((0, 0, 0), errors.InvalidRequest, "asks for no resource"),
    ((2**70, 1, 1), errors.InvalidRequest, "out of range"),
    ((2**53 + 1, 1, 1), errors.InvalidRequest, "out of range"),
    (np.array([1.0, 2.0, 3.0]), errors.InvalidRequest, "float64"),
    (np.array([[1, 2, 3]]), errors.InvalidRequest, "amounts"),
    (np.zeros(0, dtype=np.int64), errors.InvalidRequest, "0 amounts"),
    ("abc", errors.InvalidRequest, "'abc'"),
    (None, errors.InvalidRequest, "None"),
    (5, errors.InvalidRequest, "5"),
]


@pytest.mark.parametrize("request_, error, text", BAD_REQUESTS)
@pytest.mark.parametrize("operation", ["allocate", "resize", "fits", "fit_error"])
def test_bad_request_is_refused_and_changes_nothing(fleet, operation, request_, error, text):
    before = snapshot(fleet)
    call = {
        "allocate": lambda: fleet.allocate(0, request_),
        "resize": lambda: fleet.resize(0, request_),
        "fits": lambda: fleet.fits(request_),
        "fit_error": lambda: fleet.fit_error(0, request_),
    }[operation]
    with pytest.raises(error) as raised:
        call()
    assert text in str(raised.value)
    assert snapshot(fleet) == before


@pytest.mark.parametrize("host, error", [
    (4, errors.UnknownHost), (-1, errors.UnknownHost), (2**40, errors.UnknownHost),
    (1.0, errors.InvalidRequest), (math.nan, errors.InvalidRequest), ("0", errors.InvalidRequest),
    (None, errors.InvalidRequest), (True, errors.InvalidRequest),
])
def test_bad_host(fleet, host, error):
    before = snapshot(fleet)
    with pytest.raises(error, match=repr(host).replace("(", r"\(")[:3]):
        fleet.allocate(host, (1, 1, 1))
    with pytest.raises(error):
        fleet.fit_error(host, (1, 1, 1))
    assert snapshot(fleet) == before


@pytest.mark.parametrize("vm, error", [
    (2, errors.UnknownVM),           # released
    (3, errors.UnknownVM),           # never allocated
    (-1, errors.UnknownVM), (2**40, errors.UnknownVM),
    (0.0, errors.InvalidRequest), ("0", errors.InvalidRequest), (None, errors.InvalidRequest),
])
def test_bad_vm(fleet, vm, error):
    before = snapshot(fleet)
    with pytest.raises(error):
        fleet.release(vm)
    with pytest.raises(error):
        fleet.resize(vm, (1, 1, 1))
    assert snapshot(fleet) == before


def test_double_release_is_unknown_vm(fleet):
    vm = fleet.allocate(3, (1, 512, 1))
    fleet.release(vm)
    before = snapshot(fleet)
    with pytest.raises(errors.UnknownVM, match="not allocated"):
        fleet.release(vm)
    assert snapshot(fleet) == before


@pytest.mark.parametrize("tenant", [1.5, None, True, ("a",), math.nan])
def test_bad_tenant(fleet, tenant):
    before = snapshot(fleet)
    with pytest.raises(errors.InvalidRequest, match="tenant"):
        fleet.allocate(3, (1, 512, 1), tenant=tenant)
    assert snapshot(fleet) == before


def test_request_that_does_not_fit_changes_nothing(fleet):
    before = snapshot(fleet)
    with pytest.raises(errors.InsufficientCapacity, match="VCPU request 9 is above max_unit 8"):
        fleet.allocate(0, (9, 1, 1), tenant="new tenant")
    with pytest.raises(errors.InsufficientCapacity, match="MEMORY_MB request 20000 exceeds"):
        fleet.allocate(0, (1, 20000, 1))
    with pytest.raises(errors.InsufficientCapacity):
        fleet.resize(0, (2, 2048, 200))
    assert snapshot(fleet) == before
    assert "new tenant" not in fleet.tenant_ids


@pytest.mark.parametrize("kwargs, text", [
    ({"total": -1}, "total[0] = -1 is negative"),
    ({"total": 1.5}, "dtype float64"),
    ({"total": math.nan}, "nan"),
    ({"reserved": 9}, "reserved[0] = 9 is greater than total"),
    ({"reserved": -1}, "reserved[0] = -1 is negative"),
    ({"allocation_ratio": 0.0}, "allocation_ratio[0] = 0.0"),
    ({"allocation_ratio": -2.0}, "allocation_ratio[0] = -2.0"),
    ({"allocation_ratio": math.nan}, "allocation_ratio[0] = nan"),
    ({"allocation_ratio": math.inf}, "allocation_ratio[0] = inf"),
    ({"allocation_ratio": 1e300}, "larger than 2**62"),
    ({"min_unit": 0}, "min_unit[0] = 0 is below 1"),
    ({"step_size": 0}, "step_size[0] = 0 is below 1"),
    ({"min_unit": 2**31}, "min_unit[0] = 2147483648 is above"),
    ({"max_unit": -3}, "max_unit[0] = -3 is negative"),
    ({"min_unit": 5, "max_unit": 4}, "min_unit[0] = 5 is greater than max_unit"),
    ({"total": [1, 2]}, "shape"),
    ({"allocation_ratio": "x"}, "dtype"),
])
def test_bad_inventory_change_is_refused_and_changes_nothing(fleet, kwargs, text):
    before = snapshot(fleet)
    with pytest.raises(errors.InvalidInventory) as raised:
        fleet.set_inventory("VCPU", hosts=[0], **kwargs)
    assert text in str(raised.value)
    assert snapshot(fleet) == before


def test_unknown_resource_and_host_in_set_inventory(fleet):
    before = snapshot(fleet)
    with pytest.raises(errors.UnknownResource, match="GPU"):
        fleet.set_inventory("GPU", total=4)
    with pytest.raises(errors.UnknownHost, match="7"):
        fleet.set_inventory("VCPU", hosts=[7], total=4)
    with pytest.raises(errors.UnknownHost):
        fleet.set_inventory("VCPU", hosts=["nope"], total=4)
    with pytest.raises(errors.InvalidRequest):
        fleet.set_inventory("VCPU", hosts=[], total=4)
    with pytest.raises(errors.InvalidRequest, match="twice"):
        fleet.set_inventory("VCPU", hosts=[1, 1], total=4)
    with pytest.raises(errors.InvalidRequest, match="preset"):
        fleet.set_overcommit("bogus")
    with pytest.raises(errors.InvalidInventory):
        fleet.set_overcommit(VCPU=-1.0)
    with pytest.raises(errors.UnknownResource):
        fleet.set_overcommit(GPU=2.0)
    assert snapshot(fleet) == before


def test_set_overcommit_is_all_or_nothing(fleet):
    before = snapshot(fleet)
    with pytest.raises(errors.InvalidInventory):
        fleet.set_overcommit("nova", MEMORY_MB=math.nan)
    assert snapshot(fleet) == before


@pytest.mark.parametrize("build, error", [
    (lambda: Fleet(np.zeros((0, 3), np.int64)), errors.InvalidInventory),
    (lambda: Fleet(np.zeros((2, 0), np.int64), resources=()), errors.InvalidInventory),
    (lambda: Fleet([1, 2, 3]), errors.InvalidInventory),
    (lambda: Fleet([[1, 2, 3]], resources=("A", "A", "B")), errors.InvalidInventory),
    (lambda: Fleet([[1, 2]], resources=("A", "")), errors.InvalidInventory),
    (lambda: Fleet(np.ones((1, 65), np.int64), resources=[f"R{i}" for i in range(65)]),
     errors.InvalidInventory),
    (lambda: Fleet([[1.0, 2, 3]]), errors.InvalidInventory),
    (lambda: Fleet([[1, 2, 3]], allocation_ratio={"GPU": 2}), errors.UnknownResource),
    (lambda: Fleet([[1, 2, 3]], host_names=["a", "b"]), errors.InvalidInventory),
    (lambda: Fleet([[1, 2, 3], [1, 2, 3]], host_names=["a", "a"]), errors.InvalidInventory),
    (lambda: Fleet.uniform(0), errors.InvalidRequest),
    (lambda: Fleet.uniform(-3), errors.InvalidRequest),
    (lambda: Fleet.uniform(2.5), errors.InvalidRequest),
    (lambda: Fleet.uniform(2, vcpus=-4), errors.InvalidInventory),
    (lambda: Fleet.uniform(2, vcpus=[4, 8]), errors.InvalidInventory),
    (lambda: Fleet.uniform(2, overcommit="aggressive"), errors.InvalidRequest),
    (lambda: Fleet.from_frame(pd.DataFrame()), errors.InvalidInventory),
    (lambda: Fleet.from_frame("not a frame"), errors.InvalidInventory),
    (lambda: Fleet.from_frame(pd.DataFrame({"VCPU": [1.5]})), errors.InvalidInventory),
])
def test_bad_construction(build, error):
    with pytest.raises(error):
        build()


def test_bad_fits_out_and_stranded_shape(fleet):
    before = snapshot(fleet)
    for out in [np.empty(3, bool), np.empty(4, np.int8), np.empty((4, 1), bool), [0] * 4]:
        with pytest.raises(errors.InvalidRequest, match="out"):
            fleet.fits((1, 1, 1), out=out)
    for shape in [(1, 2), (-1, 1, 1), (1.5, 1, 1), (math.nan, 1, 1)]:
        with pytest.raises(errors.InvalidRequest, match="shape"):
            fleet.stranded_capacity(shape)
    with pytest.raises(errors.InvalidRequest, match="scope"):
        fleet.realised_overcommit(scope="some")
    assert snapshot(fleet) == before
    with pytest.raises(errors.InvalidRequest, match="no VMs"):
        Fleet.uniform(1).stranded_capacity()


def test_state_views_are_read_only(fleet):
    for name in ["total", "reserved", "allocation_ratio", "min_unit", "max_unit", "step_size",
                 "used", "free", "host_vm_count", "vm_host", "vm_request", "tenant_used"]:
        with pytest.raises(ValueError):
            getattr(fleet, name)[0] = 0


# Garbage of every kind for the fuzz test below: anything reachable from Python must either
# work or raise a vmsched error, and an error must leave the state as it was.
GARBAGE = st.one_of(
    st.integers(-2**65, 2**65), st.floats(), st.text(max_size=3), st.none(), st.booleans(),
    st.lists(st.one_of(st.integers(-5, 2**64), st.floats(), st.none()), max_size=5),
    st.builds(np.array, st.lists(st.integers(-5, 50), max_size=5)),
    st.builds(np.array, st.lists(st.floats(), max_size=5)),
    st.tuples(st.integers(-1, 9), st.integers(-1, 5000), st.integers(-1, 100)),
)


@given(operation=st.sampled_from(["allocate", "release", "resize", "fits", "fit_error",
                                  "set_inventory", "stranded_capacity"]),
       a=GARBAGE, b=GARBAGE, c=GARBAGE)
def test_fuzz_public_calls_never_crash_or_corrupt(operation, a, b, c):
    fleet = Fleet.uniform(3, vcpus=8, memory_mib=8192, disk_gib=100)
    fleet.allocate(0, (2, 1024, 10))
    before = snapshot(fleet)
    call = {
        "allocate": lambda: fleet.allocate(a, b, c if isinstance(c, (int, str)) else 0),
        "release": lambda: fleet.release(a),
        "resize": lambda: fleet.resize(a, b),
        "fits": lambda: fleet.fits(a),
        "fit_error": lambda: fleet.fit_error(a, b),
        "set_inventory": lambda: fleet.set_inventory("VCPU", hosts=[0], total=a,
                                                     allocation_ratio=b if b is not None else 1.0),
        "stranded_capacity": lambda: fleet.stranded_capacity(a),
    }[operation]
    try:
        call()
    except errors.VmschedError:
        assert snapshot(fleet) == before
    fleet.check_invariants()
