"""Placement policies: an ordered list of filters and weighers, or a natively indexed fast policy.

A `Policy` with `fast` set is decided by the FitIndex without scanning every host; its
`filters` and `weighers` are the equivalent pipeline, which gives exactly the same decisions
(tests check it): first_fit = [resource_fit]; best_fit = [resource_fit] +
[free_after_placement x -1]; worst_fit = the same x +1; dot_product = [resource_fit] +
[dot_product x +1].
"""

from dataclasses import dataclass, replace

from vmsched import _validate
from vmsched.errors import InvalidRequest, shown
from vmsched.placement.filters import (
    FILTERS,
    DomainSpread,
    Filter,
    RequiredLabels,
    ResourceFit,
    ServerGroupAffinity,
    ServerGroupAntiAffinity,
    resolve_filter,
)
from vmsched.placement.weighers import (
    WEIGHERS,
    BalancedAllocation,
    DotProduct,
    FreeAfterPlacement,
    FreeCPU,
    FreeRAM,
    LeastAllocated,
    SoftAffinity,
    SoftAntiAffinity,
    Weigher,
    resolve_weigher,
)

FAST_POLICIES = ("first_fit", "best_fit", "worst_fit", "dot_product")


@dataclass(frozen=True)
class Policy:
    """filters: applied in order; weighers: normalised, multiplied and summed; the highest
    total wins, ties to the lowest host index. host_subset_size > 1 picks at random (seeded)
    among the best N instead. fast: the name of the indexed policy this pipeline equals."""

    filters: tuple = (ResourceFit(),)
    weighers: tuple = ()
    host_subset_size: int = 1
    fast: str = None
    name: str = None

    def __post_init__(self):
        object.__setattr__(self, "filters", tuple(resolve_filter(f) for f in self.filters))
        object.__setattr__(self, "weighers", tuple(resolve_weigher(w) for w in self.weighers))
        object.__setattr__(self, "host_subset_size", _validate.integer(
            "host_subset_size", self.host_subset_size, minimum=1, maximum=2**31 - 1))
        if self.fast is not None and self.fast not in FAST_POLICIES:
            raise InvalidRequest(f"fast = {shown(self.fast)} is not one of {FAST_POLICIES}")

    def pipeline(self):
        """The same decisions through the general filter/weigher pipeline."""
        return replace(self, fast=None)

    @property
    def uses_python(self):
        return any(p.kind is None for p in self.filters + self.weighers)


def _fast(name, weighers):
    return Policy(filters=(ResourceFit(),), weighers=weighers, fast=name, name=name)


POLICIES = {
    "first_fit": _fast("first_fit", ()),
    "best_fit": _fast("best_fit", (FreeAfterPlacement(multiplier=-1.0),)),
    "worst_fit": _fast("worst_fit", (FreeAfterPlacement(multiplier=1.0),)),
    "dot_product": _fast("dot_product", (DotProduct(multiplier=1.0),)),
    # Nova's default filters and weighers (spread on RAM and CPU, soft group weighers).
    "nova": Policy(filters=(ResourceFit(), ServerGroupAffinity(), ServerGroupAntiAffinity(),
                            RequiredLabels()),
                   weighers=(FreeRAM(), FreeCPU(), SoftAffinity(), SoftAntiAffinity()),
                   name="nova"),
    # The Kubernetes default profile's resource scoring with topology spread.
    "kubernetes": Policy(filters=(ResourceFit(), RequiredLabels(), DomainSpread(),
                                  ServerGroupAntiAffinity()),
                         weighers=(LeastAllocated(), BalancedAllocation()), name="kubernetes"),
}


def resolve_policy(spec, host_subset_size=None):
    """A Policy from a name, a Policy, or a list of filters and weighers (instances, names or
    (weigher name, multiplier) pairs)."""
    if isinstance(spec, str):
        if spec not in POLICIES:
            raise InvalidRequest(f"policy {shown(spec)} is unknown; known policies: "
                                 f"{', '.join(POLICIES)}")
        policy = POLICIES[spec]
    elif isinstance(spec, Policy):
        policy = spec
    elif isinstance(spec, (list, tuple)):
        filters, weighers = [], []
        for item in spec:
            if isinstance(item, Filter) or (isinstance(item, str) and item in FILTERS):
                filters.append(resolve_filter(item))
            elif (isinstance(item, Weigher) or (isinstance(item, str) and item in WEIGHERS)
                  or isinstance(item, tuple)):
                weighers.append(resolve_weigher(item))
            else:
                raise InvalidRequest(f"{shown(item)} is neither a filter nor a weigher; known: "
                                     f"{', '.join(sorted(FILTERS))}; "
                                     f"{', '.join(sorted(WEIGHERS))}")
        policy = Policy(filters=tuple(filters), weighers=tuple(weighers))
    else:
        raise InvalidRequest(f"policy = {shown(spec)}: give a name ({', '.join(POLICIES)}), a "
                             f"Policy, or a list of filters and weighers")
    if host_subset_size is not None:
        policy = replace(policy, host_subset_size=host_subset_size,
                         fast=policy.fast if host_subset_size == 1 else None)
    return policy


__all__ = ["FAST_POLICIES", "POLICIES", "Policy", "resolve_policy"]
