"""Placement filters (hard constraints): each says yes or no for one host.

Built-in filters run in native code (their `kind` selects the kernel); a custom filter is a
`FunctionFilter` wrapping fn(placer, request, hosts) -> bool array over the candidate hosts.
Server-group filters act only on requests whose group has the matching policy
(Placer.create_group), as Nova's do.
"""

import numpy as np

from vmsched import _validate
from vmsched.engine.placement import FilterKind
from vmsched.errors import InvalidRequest, shown


class Filter:
    """Base class: a named hard constraint. Subclasses set `name` and `kind`."""

    name = None
    kind = None  # FilterKind of the native kernel; None for a Python filter

    def native_param(self):
        """The integer parameter handed to the native kernel."""
        return 0

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), tuple(sorted(vars(self).items()))))


class ResourceFit(Filter):
    """Placement's rule (README): every class asked for fits capacity and unit rules."""

    name = "resource_fit"
    kind = FilterKind.RESOURCE_FIT


class ServerGroupAffinity(Filter):
    """An 'affinity' group's VMs share a host: once the group has a member, only hosts with
    a member pass (Nova's ServerGroupAffinityFilter)."""

    name = "server_group_affinity"
    kind = FilterKind.SERVER_GROUP_AFFINITY


class ServerGroupAntiAffinity(Filter):
    """An 'anti-affinity' group's VMs avoid each other: a host passes while it holds fewer than
    the group's max_per_host members (Nova's ServerGroupAntiAffinityFilter, default 1)."""

    name = "server_group_anti_affinity"
    kind = FilterKind.SERVER_GROUP_ANTI_AFFINITY


class RequiredLabels(Filter):
    """The host carries every label the request requires (aggregates, traits, node labels)."""

    name = "required_labels"
    kind = FilterKind.REQUIRED_LABELS


class MaxVMsPerHost(Filter):
    """The host holds fewer than `max_vms` VMs (Nova's NumInstancesFilter)."""

    name = "max_vms_per_host"
    kind = FilterKind.MAX_VMS_PER_HOST

    def __init__(self, max_vms=50):
        self.max_vms = _validate.integer("max_vms", max_vms, minimum=1, maximum=2**31 - 1)

    def native_param(self):
        return self.max_vms

    def __repr__(self):
        return f"MaxVMsPerHost(max_vms={self.max_vms})"


class DomainSpread(Filter):
    """A 'spread' group's VMs spread over failure domains (Kubernetes topology spread): a host
    in domain d passes iff members(d) + 1 - min over domains of members <= the group's
    max_skew. Hosts without a domain never pass for such a group."""

    name = "domain_spread"
    kind = FilterKind.DOMAIN_SPREAD


class FunctionFilter(Filter):
    """A filter written in Python: fn(placer, request, hosts) -> bool array, True = passes.

    hosts is the int32 array of candidates still standing; request the int64 amounts. Python
    filters run after the built-in ones (their eliminations are counted in that order).
    """

    def __init__(self, fn, name=None):
        if not callable(fn):
            raise InvalidRequest(f"FunctionFilter needs a callable, got {shown(fn)}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "custom_filter")

    def __call__(self, placer, request, hosts):
        mask = np.asarray(self.fn(placer, request, hosts))
        if mask.shape != hosts.shape or mask.dtype != np.bool_:
            raise InvalidRequest(f"filter {shown(self.name)} returned {mask.dtype} {mask.shape}; "
                                 f"expected bool {hosts.shape}")
        return mask

    def __repr__(self):
        return f"FunctionFilter({shown(self.name)})"


FILTERS = {cls.name: cls for cls in (ResourceFit, ServerGroupAffinity, ServerGroupAntiAffinity,
                                     RequiredLabels, MaxVMsPerHost, DomainSpread)}


def resolve_filter(spec):
    """A Filter from an instance, a registry name or a callable (wrapped as FunctionFilter)."""
    if isinstance(spec, Filter):
        return spec
    if isinstance(spec, str):
        if spec in FILTERS:
            return FILTERS[spec]()
        raise InvalidRequest(f"filter {shown(spec)} is unknown; known filters: "
                             f"{', '.join(sorted(FILTERS))}")
    if callable(spec):
        return FunctionFilter(spec)
    raise InvalidRequest(f"{shown(spec)} is not a filter: give a Filter, one of "
                         f"{', '.join(sorted(FILTERS))}, or a callable")
