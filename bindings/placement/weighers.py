"""Placement weighers (soft preferences): each returns a number per host.

As in Nova, a weigher's raw numbers over the hosts that passed the filters are normalised to
(x - min) / (max - min) (all 0 when equal), multiplied by the weigher's multiplier and summed;
the highest total wins. A positive multiplier prefers high raw values.
"""

import math

import numpy as np

from vmsched.engine.placement import WeigherKind
from vmsched.errors import InvalidRequest, shown


class Weigher:
    """Base class: a named soft preference with a multiplier."""

    name = None
    kind = None  # WeigherKind of the native kernel; None for a Python weigher
    resources = ()

    def __init__(self, multiplier=1.0):
        multiplier = float(multiplier)
        if not math.isfinite(multiplier):
            raise InvalidRequest(f"multiplier = {multiplier} is not finite")
        self.multiplier = multiplier

    def __repr__(self):
        return f"{type(self).__name__}(multiplier={self.multiplier})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), self.multiplier))


class FreeRAM(Weigher):
    """Free memory, capacity - used, MiB (Nova's RAMWeigher: > 0 spreads, < 0 packs)."""

    name = "free_ram"
    kind = WeigherKind.FREE_RAM
    resource = "MEMORY_MB"


class FreeCPU(Weigher):
    """Free vCPUs, capacity - used (Nova's CPUWeigher: > 0 spreads, < 0 packs)."""

    name = "free_cpu"
    kind = WeigherKind.FREE_CPU
    resource = "VCPU"


class _KubernetesWeigher(Weigher):
    """Kubernetes NodeResourcesFit scores, integers 0..100 over `resources` (equal weights),
    with the incoming VM counted as requested."""

    def __init__(self, multiplier=1.0, resources=("VCPU", "MEMORY_MB")):
        super().__init__(multiplier)
        self.resources = tuple(resources)
        if not self.resources:
            raise InvalidRequest(f"{self.name} needs at least one resource class")

    def __repr__(self):
        return f"{type(self).__name__}(multiplier={self.multiplier}, resources={self.resources})"

    def __hash__(self):
        return hash((type(self), self.multiplier, self.resources))


class LeastAllocated(_KubernetesWeigher):
    """mean over classes of (capacity - requested) * 100 // capacity (0 if over)."""

    name = "least_allocated"
    kind = WeigherKind.LEAST_ALLOCATED


class MostAllocated(_KubernetesWeigher):
    """mean over classes of min(requested, capacity) * 100 // capacity."""

    name = "most_allocated"
    kind = WeigherKind.MOST_ALLOCATED


class BalancedAllocation(_KubernetesWeigher):
    """int((1 - std of the requested/capacity fractions) * 100): prefers even usage."""

    name = "balanced_allocation"
    kind = WeigherKind.BALANCED_ALLOCATION


class SoftAffinity(Weigher):
    """Members of the request's 'soft-affinity' group on the host (Nova's
    ServerGroupSoftAffinityWeigher); 0 for other requests."""

    name = "soft_affinity"
    kind = WeigherKind.SOFT_AFFINITY


class SoftAntiAffinity(Weigher):
    """Minus the members of the request's 'soft-anti-affinity' group on the host (Nova's
    ServerGroupSoftAntiAffinityWeigher); 0 for other requests."""

    name = "soft_anti_affinity"
    kind = WeigherKind.SOFT_ANTI_AFFINITY


class FreeAfterPlacement(Weigher):
    """Normalised free capacity left after placement, summed over classes (fixed point,
    units of 2**-32). Multiplier -1 is best_fit, +1 worst_fit."""

    name = "free_after_placement"
    kind = WeigherKind.FREE_AFTER_PLACEMENT


class DotProduct(Weigher):
    """sum over asked classes of request * free / capacity**2 (fixed point): the dot-product
    heuristic of vector bin packing. Multiplier +1 is the dot_product policy."""

    name = "dot_product"
    kind = WeigherKind.DOT_PRODUCT


class FunctionWeigher(Weigher):
    """A weigher written in Python: fn(placer, request, hosts) -> float array of raw weights."""

    def __init__(self, fn, name=None, multiplier=1.0):
        super().__init__(multiplier)
        if not callable(fn):
            raise InvalidRequest(f"FunctionWeigher needs a callable, got {shown(fn)}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "custom_weigher")

    def __call__(self, placer, request, hosts):
        weights = np.asarray(self.fn(placer, request, hosts), dtype=np.float64)
        if weights.shape != hosts.shape or not np.isfinite(weights).all():
            raise InvalidRequest(f"weigher {shown(self.name)} must return {hosts.shape} finite "
                                 f"numbers")
        return weights

    def __repr__(self):
        return f"FunctionWeigher({shown(self.name)}, multiplier={self.multiplier})"


WEIGHERS = {cls.name: cls for cls in (FreeRAM, FreeCPU, LeastAllocated, MostAllocated,
                                      BalancedAllocation, SoftAffinity, SoftAntiAffinity,
                                      FreeAfterPlacement, DotProduct)}


def resolve_weigher(spec):
    """A Weigher from an instance, a registry name, a (name, multiplier) pair or a callable."""
    if isinstance(spec, Weigher):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return resolve_weigher(spec[0]).__class__(multiplier=spec[1])
    if isinstance(spec, str):
        if spec in WEIGHERS:
            return WEIGHERS[spec]()
        raise InvalidRequest(f"weigher {shown(spec)} is unknown; known weighers: "
                             f"{', '.join(sorted(WEIGHERS))}")
    if callable(spec):
        return FunctionWeigher(spec)
    raise InvalidRequest(f"{shown(spec)} is not a weigher: give a Weigher, one of "
                         f"{', '.join(sorted(WEIGHERS))}, or a callable")
