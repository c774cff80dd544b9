"""Reference model of placement: every filter, weigher and fast policy as a plain loop over hosts.

It runs on a ReferenceFleet and takes the same Policy objects as vmsched.Placer, dispatching on
each plugin's `name`. Tests require the engine to make exactly the same decisions.
"""

import copy
import math
from collections import Counter

import numpy as np

from vmsched.errors import NoValidHost, shown
from vmsched.reference.accounting import ReferenceFleet

ONE = 2**32                 # fixed-point unit of the fast policies' scores
SATURATED = 2**61
MAX_NODE_SCORE = 100        # Kubernetes' MaxNodeScore


# ---------------------------------------------------------------- fixed-point scores

def fraction_score(amount, capacity):
    """floor(amount * ONE / capacity), at least -ONE (Python integers: exact at any size)."""
    amount, capacity = int(amount), int(capacity)
    if amount <= -capacity:
        return -ONE
    return (amount * ONE) // capacity


def request_score(amount, capacity):
    """min(floor(amount * ONE / capacity), SATURATED), exact."""
    return min((int(amount) * ONE) // int(capacity), SATURATED)


def host_free_score(fleet, host):
    """sum over classes with capacity > 0 of fraction_score(free, capacity)."""
    total = 0
    for name in fleet.resources:
        capacity = fleet.capacity(host, name)
        if capacity > 0:
            total += fraction_score(capacity - fleet.used[host][name], capacity)
    return total


def free_after_placement_score(fleet, host, request):
    """best_fit / worst_fit: normalised free capacity left after placement, fixed point."""
    requested = sum(request_score(amount, fleet.capacity(host, name))
                    for name, amount in zip(fleet.resources, request) if amount > 0)
    return host_free_score(fleet, host) - requested


def dot_product_score(fleet, host, request):
    """sum over asked classes of q * free / capacity**2, fixed point."""
    total = 0
    for name, amount in zip(fleet.resources, request):
        if amount > 0:
            capacity = fleet.capacity(host, name)
            free = capacity - fleet.used[host][name]
            total += (request_score(amount, capacity) * free) // capacity
    return total


# ---------------------------------------------------------------- placement context

class ReferencePlacer:
    """Decides like vmsched.Placer. host_labels: list of label sets; host_domains: list of
    domain ids (None: no domain); groups: {group id: (policy, max_per_host, max_skew)}."""

    def __init__(self, fleet: ReferenceFleet, policy, host_labels=None, host_domains=None,
                 seed=None):
        self.fleet = fleet
        self.policy = policy
        n = len(fleet.hosts)
        self.host_labels = [set(labels) for labels in (host_labels or [()] * n)]
        self.host_domains = list(host_domains or [None] * n)
        self.groups = {}
        self.vm_group = {}
        self.rng = np.random.default_rng(seed)

    def create_group(self, group, policy, max_per_host=1, max_skew=1):
        self.groups[group] = (policy, max_per_host, max_skew)

    def members_on(self, group):
        """Counter host -> number of the group's VMs on it."""
        return Counter(self.fleet.vms[vm].host for vm, g in self.vm_group.items() if g == group)

    # ---------------------------------------------------------------- filters

    def passes(self, filter_, host, request, labels, group):
        name = filter_.name
        if name == "resource_fit":
            return self.fleet.fit_failure(host, request) is None
        if name == "max_vms_per_host":
            return self.fleet.host_vm_count(host) < filter_.max_vms
        if name == "required_labels":
            return set(labels) <= self.host_labels[host]
        policy, max_per_host, max_skew = self.groups.get(group, (None, 0, 0))
        members = self.members_on(group) if group is not None else Counter()
        if name == "server_group_affinity":
            return policy != "affinity" or not members or members[host] > 0
        if name == "server_group_anti_affinity":
            return policy != "anti-affinity" or members[host] < max_per_host
        if name == "domain_spread":
            if policy != "spread":
                return True
            domain = self.host_domains[host]
            if domain is None:
                return False
            per_domain = Counter({d: 0 for d in self.host_domains if d is not None})
            for member_host, count in members.items():
                if self.host_domains[member_host] is not None:
                    per_domain[self.host_domains[member_host]] += count
            return per_domain[domain] + 1 - min(per_domain.values()) <= max_skew
        raise ValueError(f"the reference has no filter {shown(name)}")

    # ---------------------------------------------------------------- weighers

    def raw_weight(self, weigher, host, request, group):
        name, fleet = weigher.name, self.fleet
        if name in ("free_ram", "free_cpu"):
            resource = weigher.resource
            return fleet.capacity(host, resource) - fleet.used[host][resource]
        if name in ("least_allocated", "most_allocated", "balanced_allocation"):
            return self.kubernetes_score(weigher, host, request)
        policy = self.groups.get(group, (None,))[0]
        if name == "soft_affinity":
            return self.members_on(group)[host] if policy == "soft-affinity" else 0
        if name == "soft_anti_affinity":
            return -self.members_on(group)[host] if policy == "soft-anti-affinity" else 0
        if name == "free_after_placement":
            return free_after_placement_score(fleet, host, request)
        if name == "dot_product":
            return dot_product_score(fleet, host, request)
        raise ValueError(f"the reference has no weigher {shown(name)}")

    def kubernetes_score(self, weigher, host, request):
        """Kubernetes' NodeResourcesFit scoring with the incoming VM counted as requested,
        over the weigher's classes that have capacity."""
        fleet = self.fleet
        parts = []
        for name in weigher.resources:
            capacity = fleet.capacity(host, name)
            if capacity > 0:
                requested = fleet.used[host][name] + request[fleet.resources.index(name)]
                parts.append((requested, capacity))
        if not parts:   # Kubernetes: weighted sums over no class are 0; a std over none is 0
            return MAX_NODE_SCORE if weigher.name == "balanced_allocation" else 0
        if weigher.name == "least_allocated":
            scores = [0 if requested > capacity
                      else (capacity - requested) * MAX_NODE_SCORE // capacity
                      for requested, capacity in parts]
            return sum(scores) // len(scores)
        if weigher.name == "most_allocated":
            scores = [min(requested, capacity) * MAX_NODE_SCORE // capacity
                      for requested, capacity in parts]
            return sum(scores) // len(scores)
        fractions = [min(float(requested) / float(capacity), 1.0)
                     for requested, capacity in parts]
        if len(fractions) == 2:
            std = abs((fractions[0] - fractions[1]) / 2)
        elif len(fractions) > 2:
            mean = sum(fractions) / len(fractions)
            squares = 0.0
            for fraction in fractions:
                squares = squares + (fraction - mean) * (fraction - mean)
            std = math.sqrt(squares / len(fractions))
        else:
            std = 0.0
        return int((1 - std) * MAX_NODE_SCORE)

    # ---------------------------------------------------------------- decisions

    def select(self, request, labels=(), group=None):
        """The host the policy picks (no state change), or NoValidHost with eliminations."""
        if self.policy.fast is not None:
            return self.select_fast(request)
        candidates = list(range(len(self.fleet.hosts)))
        eliminated = {}
        for filter_ in self.policy.filters:
            kept = [h for h in candidates if self.passes(filter_, h, request, labels, group)]
            eliminated[filter_.name] = eliminated.get(filter_.name, 0) + len(candidates) - len(kept)
            candidates = kept
        closed = [h for h in candidates if h in self.fleet.not_admitting]
        if closed:  # a policy without resource_fit: hosts that do not admit still fit nothing
            eliminated["resource_fit"] = eliminated.get("resource_fit", 0) + len(closed)
            candidates = [h for h in candidates if h not in self.fleet.not_admitting]
        u = self.rng.random() if self.policy.host_subset_size > 1 else None
        if not candidates:
            raise NoValidHost("no valid host", eliminated=eliminated)
        totals = [0.0] * len(candidates)
        for weigher in self.policy.weighers:
            raw = [float(self.raw_weight(weigher, h, request, group)) for h in candidates]
            low, high = min(raw), max(raw)
            for i, x in enumerate(raw):
                normalised = 0.0 if high == low else (x - low) / (high - low)
                totals[i] = totals[i] + weigher.multiplier * normalised
        ranked = sorted(range(len(candidates)), key=lambda i: (-totals[i], candidates[i]))
        if u is None:
            return candidates[ranked[0]]
        k = int(u * min(self.policy.host_subset_size, len(candidates)))
        return candidates[ranked[k]]

    def select_fast(self, request):
        fitting = [h for h in range(len(self.fleet.hosts))
                   if self.fleet.fit_failure(h, request) is None]
        if not fitting:
            raise NoValidHost("no valid host",
                              eliminated={"resource_fit": len(self.fleet.hosts)})
        fast = self.policy.fast
        if fast == "first_fit":
            return fitting[0]
        if fast == "best_fit":
            return min(fitting, key=lambda h: (free_after_placement_score(self.fleet, h, request), h))
        if fast == "worst_fit":
            return min(fitting,
                       key=lambda h: (-free_after_placement_score(self.fleet, h, request), h))
        if fast == "dot_product":
            return min(fitting, key=lambda h: (-dot_product_score(self.fleet, h, request), h))
        raise ValueError(fast)

    def place(self, request, labels=(), group=None, tenant=0):
        host = self.select(request, labels, group)
        vm = self.fleet.allocate(host, request, tenant)
        if group is not None:
            self.vm_group[vm] = group
        return host, vm

    def release(self, vm):
        self.fleet.release(vm)
        self.vm_group.pop(vm, None)

    def place_many(self, requests, tenants=0, labels=None, groups=None):
        """A loop of place; (hosts, vms, eliminated): -1 where rejected, and per request the
        hosts each filter eliminated ({filter name: count}, empty where placed)."""
        hosts, vms, eliminated = [], [], []
        for i, request in enumerate(requests):
            tenant = tenants if isinstance(tenants, (int, str)) else tenants[i]
            try:
                host, vm = self.place(list(request), labels=labels[i] if labels else (),
                                      group=groups[i] if groups else None, tenant=tenant)
                counts = {}
            except NoValidHost as error:
                host, vm, counts = -1, -1, dict(error.eliminated)
            hosts.append(host)
            vms.append(vm)
            eliminated.append(counts)
        return hosts, vms, eliminated

    def place_gang(self, requests, tenant=0, labels=None, groups=None):
        """All or nothing: on a rejection the fleet and groups are as before (the generator
        keeps the draws it made)."""
        saved = copy.deepcopy((self.fleet, self.vm_group))
        try:
            return [self.place(list(request), labels=labels[i] if labels else (),
                               group=groups[i] if groups else None, tenant=tenant)
                    for i, request in enumerate(requests)]
        except NoValidHost:
            self.fleet, self.vm_group = saved
            raise
