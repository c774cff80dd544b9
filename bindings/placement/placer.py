"""vmsched.Placer: decide where VMs go under a placement policy, and allocate them.

`place(request)` decides and allocates one VM; `place_many(requests)` decides an array of
requests in order, exactly as a loop of `place` would; `place_gang(requests)` places a group
all-or-nothing; `select(request)` only decides. A request that fits nowhere raises NoValidHost
(or is marked -1 in a batch) with the number of hosts each filter eliminated, and changes no
fleet or group state. The placer's random generator (host_subset_size > 1 only) advances by
one draw per request decided, placed or not.
"""

from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from vmsched import _validate
from vmsched.engine import dtypes
from vmsched.engine.placement import FastPolicy
from vmsched.engine.placement import GroupPolicy, PlacementCore, WeigherKind
from vmsched.errors import InvalidRequest, NoValidHost, UnknownGroup, UnknownResource, shown
from vmsched.placement.policy import resolve_policy

GROUP_POLICIES = {
    "affinity": GroupPolicy.GROUP_AFFINITY,
    "anti-affinity": GroupPolicy.GROUP_ANTI_AFFINITY,
    "soft-affinity": GroupPolicy.GROUP_SOFT_AFFINITY,
    "soft-anti-affinity": GroupPolicy.GROUP_SOFT_ANTI_AFFINITY,
    "spread": GroupPolicy.GROUP_SPREAD,
}
MAX_LABELS = 64


class Placement(NamedTuple):
    """Where a VM went: host index and the VM handle (for release)."""

    host: int
    vm: int


@dataclass
class PlacementBatch:
    """Result of place_many: hosts and vms (int32, -1 where rejected) and, per request, the
    hosts each filter eliminated (int64 [n, n_filters]; rows of placed requests are 0)."""

    hosts: np.ndarray
    vms: np.ndarray
    eliminated: np.ndarray
    filter_names: tuple

    @property
    def rejected(self):
        return self.hosts < 0

    def reasons(self):
        """The rejected requests' eliminations, one row per rejected request."""
        rows = np.flatnonzero(self.rejected)
        return pd.DataFrame(self.eliminated[rows], index=pd.Index(rows, name="request"),
                            columns=list(self.filter_names))


@dataclass(frozen=True)
class Group:
    """A server group: policy, its parameters (anti-affinity's max_per_host, spread's
    max_skew), and its code in the fleet (which keeps the members of every group, so that
    membership follows every release, whoever calls it)."""

    policy: str
    max_per_host: int = 1
    max_skew: int = 1
    code: int = 0


class Placer:
    """Places VMs on `fleet` under `policy` (a name, a Policy, or a list of filters and
    weighers; see vmsched.placement.policy.POLICIES).

    host_labels: per host an iterable of label strings (at most 64 distinct labels).
    host_domains: per host a failure-domain id (any hashable; None for no domain).
    seed: seeds the generator used when host_subset_size > 1.
    """

    def __init__(self, fleet, policy="first_fit", *, host_labels=None, host_domains=None,
                 seed=None, host_subset_size=None):
        self.fleet = fleet
        self.policy = resolve_policy(policy, host_subset_size)
        self._label_bits, self._host_label_sets = self._read_labels(host_labels)
        self._domain_codes, self._host_domain = self._read_domains(host_domains)
        self._rng = np.random.default_rng(seed)
        self._groups = {}      # name -> Group (the fleet keeps the members, by code)
        self._build_core()

    # ------------------------------------------------------------ construction

    def _read_labels(self, host_labels):
        n = self.fleet.n_hosts
        if host_labels is None:
            return {}, np.zeros(n, np.uint64)
        host_labels = list(host_labels)
        if len(host_labels) != n:
            raise InvalidRequest(f"host_labels has {len(host_labels)} entries for {n} hosts")
        bits = {}
        sets = np.zeros(n, np.uint64)
        for h, labels in enumerate(host_labels):
            if isinstance(labels, str):
                labels = (labels,)
            for label in labels:
                if label not in bits:
                    if len(bits) == MAX_LABELS:
                        raise InvalidRequest(f"more than {MAX_LABELS} distinct host labels")
                    bits[label] = np.uint64(1) << np.uint64(len(bits))
                sets[h] |= bits[label]
        return bits, sets

    def _read_domains(self, host_domains):
        n = self.fleet.n_hosts
        if host_domains is None:
            return {}, np.full(n, -1, dtypes.INDEX)
        host_domains = list(host_domains)
        if len(host_domains) != n:
            raise InvalidRequest(f"host_domains has {len(host_domains)} entries for {n} hosts")
        codes = {}
        domain = np.full(n, -1, dtypes.INDEX)
        for h, d in enumerate(host_domains):
            if d is None or (isinstance(d, float) and np.isnan(d)):
                continue
            domain[h] = codes.setdefault(d, len(codes))
        return codes, domain

    def _build_core(self):
        policy, fleet = self.policy, self.fleet
        self._native_filters = [f for f in policy.filters if f.kind is not None]
        self._python_filters = [f for f in policy.filters if f.kind is None]
        classes = np.full((len(policy.weighers), max(fleet.n_resources, 1)), -1, dtypes.INDEX)
        for k, weigher in enumerate(policy.weighers):
            names = getattr(weigher, "resources", ()) or ((weigher.resource,)
                                                         if hasattr(weigher, "resource") else ())
            for i, name in enumerate(names):
                if name not in fleet.resources:
                    raise UnknownResource(f"weigher {shown(weigher.name)} reads {shown(name)}, which the "
                                          f"fleet does not have ({', '.join(fleet.resources)})")
                classes[k, i] = fleet.resources.index(name)
        fast = -1 if policy.fast is None else int(getattr(FastPolicy, policy.fast.upper()))
        self._core = PlacementCore(
            fleet, fast,
            [int(f.kind) for f in self._native_filters],
            [f.native_param() for f in self._native_filters],
            [int(WeigherKind.PYTHON_WEIGHER if w.kind is None else w.kind)
             for w in policy.weighers],
            [w.multiplier for w in policy.weighers],
            classes, policy.host_subset_size, self._host_label_sets, self._host_domain,
            len(self._domain_codes))
        self.filter_names = _unique_names([f.name for f in self._native_filters]
                                          + [f.name for f in self._python_filters])
        if fast >= 0:
            self.filter_names = ("resource_fit",)

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_core"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build_core()

    # ------------------------------------------------------------ groups

    def create_group(self, group, policy, *, max_per_host=1, max_skew=1):
        """Declare server group `group` (any hashable) with a policy: 'affinity',
        'anti-affinity' (at most max_per_host members per host), 'soft-affinity',
        'soft-anti-affinity' or 'spread' (failure domains, at most max_skew apart)."""
        if policy not in GROUP_POLICIES:
            raise InvalidRequest(f"group policy {shown(policy)} is unknown; known: "
                                 f"{', '.join(GROUP_POLICIES)}")
        if group in self._groups:
            raise InvalidRequest(f"group {shown(group)} exists already")
        self._groups[group] = Group(
            policy, _validate.integer("max_per_host", max_per_host, minimum=1),
            _validate.integer("max_skew", max_skew, minimum=1), code=len(self._groups))

    def group_code(self, group):
        """The fleet's code of a created group (VMs of the group carry it)."""
        self._check_group(group)
        return self._groups[group].code

    def group_members(self, group):
        """{host: number of the group's VMs on it}."""
        return self.fleet.group_members(self.group_code(group))

    @property
    def groups(self):
        """{group: Group} of the created groups (a copy)."""
        return dict(self._groups)

    @property
    def index(self):
        """The fast policy's index over hosts (None for a pipeline)."""
        return self._core.index

    @property
    def native(self):
        """The engine's placement core (for the engine's own batch loops)."""
        return self._core

    @property
    def needs_python(self):
        """Whether decisions need this object (Python plugins or a random subset) rather than
        the native core alone."""
        return self.policy.uses_python or self.policy.host_subset_size > 1

    def _check_group(self, group):
        try:
            if group in self._groups:
                return
        except TypeError:
            pass
        raise UnknownGroup(f"group {shown(group)} was not created (Placer.create_group)")

    # ------------------------------------------------------------ decisions

    def _labels_mask(self, labels):
        if labels is None:
            return 0, False
        if isinstance(labels, str):
            labels = (labels,)
        mask, impossible = np.uint64(0), False
        for label in labels:
            if label in self._label_bits:
                mask |= self._label_bits[label]
            else:
                impossible = True
        return int(mask), impossible

    def _set_context(self, labels, group):
        mask, impossible = self._labels_mask(labels)
        if group is None:
            self._core.set_context(mask, impossible, GroupPolicy.NO_GROUP, 0, 0, [], [])
            return
        self._check_group(group)
        spec = self._groups[group]
        members = self.fleet.group_members(spec.code)
        self._core.set_context(mask, impossible, GROUP_POLICIES[spec.policy], spec.max_per_host,
                               spec.max_skew, list(members.keys()), list(members.values()))

    def _decide(self, labels, group):
        """Decide for the request parsed into the fleet's buffer; raise NoValidHost."""
        u = self._rng.random() if self.policy.host_subset_size > 1 else 0.0
        core = self._core
        self._set_context(labels, group)
        try:
            if self.policy.fast is not None or not self.policy.uses_python:
                host = core.select(u)
                eliminated = ([self.fleet.n_hosts] if self.policy.fast is not None
                              else list(core.eliminated()))
            else:
                host, eliminated = self._decide_with_python(u)
        finally:
            core.clear_context()
        if host < 0:
            counts = dict(zip(self.filter_names, (int(c) for c in eliminated)))
            detail = ", ".join(f"{name} eliminated {count}" for name, count in counts.items())
            raise NoValidHost(f"no valid host among {self.fleet.n_hosts}: {detail}",
                              eliminated=counts)
        return host

    def _decide_with_python(self, u):
        core = self._core
        core.filter_and_weigh()
        eliminated = list(core.eliminated())
        request = self._core.parsed_request()
        for f in self._python_filters:
            hosts = core.candidates()
            mask = f(self, request, hosts) if hosts.size else np.zeros(0, bool)
            eliminated.append(int((~mask).sum()))
            core.keep_candidates(mask)
        for k, weigher in enumerate(self.policy.weighers):
            if weigher.kind is None:
                hosts = core.candidates()
                core.set_raw_weights(k, weigher(self, request, hosts) if hosts.size else [])
        return core.choose_among(u), eliminated

    def select(self, request, *, labels=None, group=None):
        """The host the policy picks for `request` now, without placing it."""
        self._core.parse(request)
        return self._decide(labels, group)

    def place(self, request, *, tenant=0, labels=None, group=None):
        """Decide and allocate one VM; returns Placement(host, vm). request: one whole amount
        per resource class; labels: labels the host must carry; group: a created group."""
        self._core.parse(request)
        host = self._decide(labels, group)
        code = -1 if group is None else self._groups[group].code
        vm = self.fleet.allocate(host, request, tenant, code)
        return Placement(host, vm)

    def release(self, vm):
        """Release a VM (the fleet ends its group membership; Fleet.release does the same)."""
        self.fleet.release(vm)

    def release_many(self, vms):
        """Release several VMs: all or none (UnknownVM names the first that is not
        allocated)."""
        vms = np.asarray(vms)
        if vms.dtype.kind not in "iu" or vms.ndim != 1:
            raise InvalidRequest("vms must be a 1-D array of VM handles")
        self.fleet.release_many(vms)

    def place_many(self, requests, *, tenants=0, labels=None, groups=None):
        """Decide and allocate requests in order, exactly as a loop of `place` would.

        requests: whole amounts [n, n_classes]; tenants: one id or one per request; labels:
        None or one label iterable per request; groups: None or one group (or None) per request.
        All inputs are validated before anything is placed. Returns a PlacementBatch.
        """
        q = _validate.whole_numbers("requests", requests, labels=(None, self.fleet.resources))
        if q.ndim != 2 or q.shape[1] != self.fleet.n_resources or q.shape[0] == 0:
            raise InvalidRequest(f"requests has shape {q.shape}; expected (n >= 1, "
                                 f"{self.fleet.n_resources})")
        empty = ~q.any(axis=1)
        if empty.any():
            raise InvalidRequest(f"requests[{int(np.argmax(empty))}] asks for no resource")
        n = q.shape[0]
        tenant_ids, tenant_index = _tenant_table(tenants, n)
        label_rows = _per_request("labels", labels, n)
        group_rows = _per_request("groups", groups, n)
        for group in set(g for g in group_rows if g is not None):
            self._check_group(group)
        hosts = np.full(n, -1, dtypes.INDEX)
        vms = np.full(n, -1, dtypes.INDEX)
        eliminated = np.zeros((n, len(self.filter_names)), dtypes.AMOUNT)
        self.fleet.reserve(n)
        if any(g is not None for g in group_rows) or self.policy.uses_python:
            for i in range(n):
                try:
                    host, vm = self.place(q[i], tenant=tenant_ids[tenant_index[i]],
                                          labels=label_rows[i], group=group_rows[i])
                except NoValidHost as error:
                    eliminated[i] = list(error.eliminated.values())
                    continue
                hosts[i], vms[i] = host, vm
        else:
            label_sets = np.zeros(n, np.uint64)
            impossible = np.zeros(n, np.uint8)
            if labels is not None:
                for i, row in enumerate(label_rows):
                    label_sets[i], impossible[i] = self._labels_mask(row)
            draws = (self._rng.random(n) if self.policy.host_subset_size > 1
                     else np.zeros(n))
            self._core.place_batch(q, tenant_index, tenant_ids, label_sets, impossible, draws,
                                   hosts, vms, eliminated)
        return PlacementBatch(hosts, vms, eliminated, self.filter_names)

    def place_gang(self, requests, *, tenant=0, labels=None, groups=None):
        """Place every request or none: on the first that fits nowhere, undo the others
        exactly and raise its NoValidHost. Returns a list of Placement."""
        q = _validate.whole_numbers("requests", requests, labels=(None, self.fleet.resources))
        if q.ndim != 2 or q.shape[1] != self.fleet.n_resources or q.shape[0] == 0:
            raise InvalidRequest(f"requests has shape {q.shape}; expected (n >= 1, "
                                 f"{self.fleet.n_resources})")
        n = q.shape[0]
        label_rows = _per_request("labels", labels, n)
        group_rows = _per_request("groups", groups, n)
        for group in set(g for g in group_rows if g is not None):
            self._check_group(group)
        mark = self.fleet.allocation_mark()
        placed = []
        try:
            for i in range(n):
                placed.append(self.place(q[i], tenant=tenant, labels=label_rows[i],
                                         group=group_rows[i]))
        except Exception:
            self.fleet.undo_allocations([vm for _, vm in placed], mark)
            raise
        return placed

    def nbytes(self):
        """Bytes of placement state beyond the fleet: the index, per host."""
        if self._core.index is None:
            return {"index": 0, "per_host": 0.0}
        return self._core.index.nbytes()

    def __repr__(self):
        return f"<Placer {self.policy.name or 'pipeline'} on {shown(self.fleet)}>"


def _unique_names(names):
    seen = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return tuple(out)


def _per_request(name, values, n):
    if values is None:
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise InvalidRequest(f"{name} has {len(values)} entries for {n} requests")
    return values


def _tenant_table(tenants, n):
    """(unique tenant ids, int32 index of each request's tenant)."""
    if isinstance(tenants, (str, int, np.integer)) and not isinstance(tenants, bool):
        return [tenants if isinstance(tenants, str) else int(tenants)], np.zeros(n, dtypes.INDEX)
    tenants = list(tenants)
    if len(tenants) != n:
        raise InvalidRequest(f"tenants has {len(tenants)} entries for {n} requests")
    ids, index = {}, np.empty(n, dtypes.INDEX)
    for i, tenant in enumerate(tenants):
        if isinstance(tenant, np.integer):
            tenant = int(tenant)
        if isinstance(tenant, bool) or not isinstance(tenant, (int, str)):
            raise InvalidRequest(f"tenants[{i}] = {shown(tenant)} is neither an int nor a str")
        index[i] = ids.setdefault(tenant, len(ids))
    return list(ids), index
