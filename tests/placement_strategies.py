"""Hypothesis strategies for placement tests: uneven fleets, policies, requests."""

import numpy as np
from hypothesis import strategies as st

from vmsched import Fleet
from vmsched.placement.filters import FILTERS
from vmsched.placement.policy import FAST_POLICIES, POLICIES, Policy
from vmsched.placement.weighers import WEIGHERS

RESOURCES = ("VCPU", "MEMORY_MB", "DISK_GB")
LABELS = ("ssd", "gpu", "fast")
GROUP_POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity", "spread")
MULTIPLIERS = st.one_of(st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0]),
                        st.floats(-3, 3, allow_nan=False).filter(lambda m: m != 0))


#: Class names beyond the first three (fleets have 2 to 6 classes).
MORE_RESOURCES = ("GPU", "NET_BW_KBPS", "IOPS")


@st.composite
def fleets(draw, max_hosts=70):
    """A fleet of 1-4 host shapes, uneven ratios, occasional unit rules; 2 to 6 classes,
    some with amounts up to about 2**40 (a class scaled by up to 2**33, so that the 128-bit
    products are exercised) and some with no capacity on some shapes."""
    n_resources = draw(st.sampled_from([2, 3, 3, 4, 6]))
    n_hosts = draw(st.integers(1, max_hosts))
    n_shapes = draw(st.integers(1, 4))
    scale = [draw(st.sampled_from([1, 1, 1, 2**20, 2**33])) for _ in range(n_resources)]
    zero_capacity = draw(st.booleans())

    def amount(r):
        low, high = ((4, 32), (16, 128), (0, 200))[r] if r < 3 else (0, 8)
        if zero_capacity and r > 0 and draw(st.integers(0, 3)) == 0:
            return 0
        return draw(st.integers(low, high)) * scale[r]

    shapes = [[amount(r) for r in range(n_resources)] for _ in range(n_shapes)]
    choice = draw(st.lists(st.integers(0, n_shapes - 1), min_size=n_hosts, max_size=n_hosts))
    total = np.array([shapes[c] for c in choice], dtype=np.int64)
    ratios = np.ones_like(total, dtype=np.float64)
    ratios[:, 0] = draw(st.sampled_from([1.0, 1.5, 4.0]))
    if draw(st.booleans()):
        ratios[draw(st.integers(0, n_hosts - 1)), 0] = draw(st.sampled_from([0.5, 2.0, 16.0]))
    step = np.ones_like(total)
    if draw(st.integers(0, 4)) == 0:
        step[draw(st.integers(0, n_hosts - 1)), 1] = 2
    resources = (RESOURCES + MORE_RESOURCES)[:n_resources]
    return Fleet(total, resources=resources, allocation_ratio=ratios, step_size=step)


def scales_of(fleet):
    """Per class, the unit by which a fleet's amounts were scaled (requests use the same)."""
    scales = []
    for r in range(fleet.n_resources):
        largest = int(np.asarray(fleet.total)[:, r].max())
        scales.append(2**33 if largest >= 2**33 else 2**20 if largest >= 2**20 else 1)
    return tuple(scales)


@st.composite
def requests(draw, n_resources, scales=None):
    """A request: up to 12 units of the first class (at least 1), 48 and 60 of the next, 8 of
    any other; each class's units scaled as its fleet's (scales_of)."""
    scales = scales or (1,) * n_resources
    amounts = [draw(st.integers(1, 12)), draw(st.integers(0, 48)), draw(st.integers(0, 60))]
    amounts += [draw(st.integers(0, 8)) for _ in range(3, n_resources)]
    return [a * scales[r] for r, a in enumerate(amounts[:n_resources])]


@st.composite
def pipelines(draw):
    """A random pipeline: resource_fit plus other filters in random order, 0-3 weighers."""
    others = draw(st.permutations([name for name in FILTERS if name != "resource_fit"]))
    filters = ["resource_fit"] + list(others[:draw(st.integers(0, len(others)))])
    if draw(st.booleans()):
        filters = list(draw(st.permutations(filters)))
    built = []
    for name in filters:
        built.append(FILTERS[name](max_vms=draw(st.integers(1, 6)))
                     if name == "max_vms_per_host" else FILTERS[name]())
    weighers = [WEIGHERS[name](multiplier=draw(MULTIPLIERS))
                for name in draw(st.lists(st.sampled_from(sorted(WEIGHERS)), max_size=3))]
    subset = draw(st.sampled_from([1, 1, 1, 2, 3]))
    return Policy(filters=tuple(built), weighers=tuple(weighers), host_subset_size=subset)


def policies():
    return st.one_of(st.sampled_from([POLICIES[name] for name in FAST_POLICIES]), pipelines(),
                     st.sampled_from([POLICIES["nova"], POLICIES["kubernetes"]]))


@st.composite
def host_attributes(draw, n_hosts):
    """Per host, a set of LABELS and a failure domain (0 to 2, or None). The labels are drawn
    as bit masks: a set per host made data generation most of a placement test's time."""
    def one_per_host(elements):
        return st.lists(elements, min_size=n_hosts, max_size=n_hosts)

    masks = draw(one_per_host(st.integers(0, 2 ** len(LABELS) - 1)))
    labels = [{label for bit, label in enumerate(LABELS) if mask >> bit & 1} for mask in masks]
    domains = draw(one_per_host(st.sampled_from([0, 1, 2, None])))
    return labels, domains
