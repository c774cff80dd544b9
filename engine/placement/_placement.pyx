# cython: language_level=3
"""PlacementCore: decides where requests go, natively.

A fast policy asks the FitIndex. A pipeline runs in two phases per request:

1. `_filter_and_weigh`: one pass over the hosts in index order; a host that fails a filter
   counts against that filter (Nova's "eliminated N hosts") and is skipped; a host that passes
   every filter becomes a candidate and gets a raw weight from each built-in weigher.
   (Python filters and weighers, if any, run on the candidates between the phases.)
2. `_choose_among`: each weigher's raw weights are normalised to (x - min) / (max - min)
   (nothing added when all are equal), multiplied and summed in policy order; the highest total
   wins and ties go to the lowest host index. With host_subset_size N > 1 the decision takes
   the k-th best, k = floor(u * min(N, candidates)), u drawn by the caller from its seeded
   generator.

Raw weights are exact integers held in doubles (fixed-point and Kubernetes scores, free
amounts) or, for balanced_allocation, the same floating-point operations as the reference,
so engine and reference agree bit for bit.
"""

import numpy as np

from libc.math cimport fabs, sqrt
from libc.stdint cimport INT64_MAX, uint64_t

from vmsched.engine.placement._fit_index cimport FitIndex
from vmsched.engine.placement._fixed_point cimport (
    dot_product_score,
    host_free_score,
    int128,
    request_fraction,
)
from vmsched.engine.state._fleet cimport FleetState, row_fits
from vmsched.engine._types cimport amount_t, index_t

from vmsched.engine import dtypes
from vmsched.errors import InvalidRequest

cdef amount_t MAX_NODE_SCORE = 100   # Kubernetes' MaxNodeScore


cdef inline amount_t scaled_ratio(amount_t numerator, amount_t capacity) noexcept nogil:
    """numerator * 100 // capacity for 0 <= numerator <= capacity (128-bit when large)."""
    if numerator < (<amount_t>1) << 56:
        return numerator * MAX_NODE_SCORE // capacity
    return <amount_t>((<int128>numerator * MAX_NODE_SCORE) / capacity)


cdef inline void range_of(const double* values, Py_ssize_t n, double* low,
                          double* high) noexcept nogil:
    """Minimum and maximum of n >= 1 values (never NaN), in four independent lanes so the
    loop is not bound by the latency of one comparison chain."""
    cdef double lo[4]
    cdef double hi[4]
    cdef Py_ssize_t i, lane
    for lane in range(4):
        lo[lane] = hi[lane] = values[0]
    i = 0
    while i + 4 <= n:
        for lane in range(4):
            lo[lane] = values[i + lane] if values[i + lane] < lo[lane] else lo[lane]
            hi[lane] = values[i + lane] if values[i + lane] > hi[lane] else hi[lane]
        i += 4
    while i < n:
        lo[0] = values[i] if values[i] < lo[0] else lo[0]
        hi[0] = values[i] if values[i] > hi[0] else hi[0]
        i += 1
    low[0] = min(min(lo[0], lo[1]), min(lo[2], lo[3]))
    high[0] = max(max(hi[0], hi[1]), max(hi[2], hi[3]))


cdef inline Py_ssize_t first_maximum(const double* values, Py_ssize_t n) noexcept nogil:
    """Index of the first maximum of n >= 1 values, in four independent lanes."""
    cdef double best[4]
    cdef Py_ssize_t at[4]
    cdef Py_ssize_t i, lane, pick
    for lane in range(4):
        best[lane] = values[0]
        at[lane] = 0
    i = 0
    while i + 4 <= n:
        for lane in range(4):
            if values[i + lane] > best[lane]:
                best[lane] = values[i + lane]
                at[lane] = i + lane
        i += 4
    while i < n:
        if values[i] > best[0]:
            best[0] = values[i]
            at[0] = i
        i += 1
    pick = 0
    for lane in range(1, 4):
        if best[lane] > best[pick] or (best[lane] == best[pick] and at[lane] < at[pick]):
            pick = lane
    return at[pick]


cdef class PlacementCore:
    """Native decisions for one fleet and one policy (configured by vmsched.Placer).

    fast: a FastPolicy value, or -1 for the pipeline given by the filter and weigher arrays.
    weigher_classes: [n_weighers, n_classes] class indices each weigher reads, -1 padded.
    host_labels: uint64 label bit sets; host_domain: int32 domain per host (-1 none).
    """

    def __init__(self, FleetState fleet, int fast, filter_kind, filter_param, weigher_kind,
                 multiplier, weigher_classes, Py_ssize_t host_subset_size, host_labels,
                 host_domain, Py_ssize_t n_domains):
        cdef Py_ssize_t n_hosts = fleet.n_hosts
        self.fleet = fleet
        self.fast = fast
        self.index = FitIndex(fleet, fast) if fast >= 0 else None
        self.host_subset_size = host_subset_size
        self._filter_kind = np.ascontiguousarray(filter_kind, dtype=np.intc)
        self._filter_param = np.ascontiguousarray(filter_param, dtype=dtypes.AMOUNT)
        self._weigher_kind = np.ascontiguousarray(weigher_kind, dtype=np.intc)
        self._multiplier = np.ascontiguousarray(multiplier, dtype=np.float64)
        self._weigher_classes = np.ascontiguousarray(weigher_classes, dtype=dtypes.INDEX)
        self.n_filters = self._filter_kind.shape[0]
        self.n_weighers = self._weigher_kind.shape[0]
        if (self._filter_param.shape[0] != self.n_filters
                or self._multiplier.shape[0] != self.n_weighers
                or self._weigher_classes.shape[0] != self.n_weighers):
            raise InvalidRequest("inconsistent pipeline arrays")
        classes = np.asarray(self._weigher_classes)
        if classes.size and (classes.max() >= fleet.n_resources or classes.min() < -1):
            raise InvalidRequest("weigher class index out of range")
        self._host_labels = np.ascontiguousarray(host_labels, dtype=np.uint64)
        self._host_domain = np.ascontiguousarray(host_domain, dtype=dtypes.INDEX)
        self.n_domains = n_domains
        domains = np.asarray(self._host_domain)
        if (self._host_labels.shape[0] != n_hosts or domains.shape != (n_hosts,)
                or (domains.size and (domains.max() >= n_domains or domains.min() < -1))):
            raise InvalidRequest("host labels or domains do not match the fleet")
        self._group_count = np.zeros(n_hosts, dtypes.INDEX)
        self._domain_count = np.zeros(max(n_domains, 1), dtypes.AMOUNT)
        self._member_hosts = np.zeros(n_hosts, dtypes.INDEX)
        self._candidates = np.zeros(n_hosts, dtypes.INDEX)
        self._raw = np.zeros((self.n_weighers, n_hosts), np.float64)
        self._total = np.zeros(n_hosts, np.float64)
        self._eliminated = np.zeros(self.n_filters, dtypes.AMOUNT)
        self._low = np.zeros(max(self.n_weighers, 1), np.float64)
        self._high = np.zeros(max(self.n_weighers, 1), np.float64)
        self._ranked = np.zeros(max(min(host_subset_size, n_hosts), 1), dtypes.INDEX)
        self.clear_context()

    # ------------------------------------------------------------ request context

    def set_context(self, uint64_t labels, bint labels_impossible, int group_policy,
                    amount_t max_per_host, amount_t max_skew, member_hosts, member_counts):
        """The request's required labels and its group (policy, parameters, members)."""
        cdef const index_t[::1] hosts = np.ascontiguousarray(member_hosts, dtypes.INDEX)
        cdef const index_t[::1] counts = np.ascontiguousarray(member_counts, dtypes.INDEX)
        cdef Py_ssize_t i, d
        if hosts.shape[0] != counts.shape[0]:
            raise InvalidRequest("member hosts and counts differ in length")
        for i in range(hosts.shape[0]):
            if hosts[i] < 0 or hosts[i] >= self.fleet.n_hosts:
                raise InvalidRequest(f"member host {hosts[i]} is out of range")
        self.clear_context()
        self._labels = labels
        self._labels_impossible = labels_impossible
        self._group_policy = group_policy
        self._max_per_host = max_per_host
        self._max_skew = max_skew
        for i in range(hosts.shape[0]):
            self._group_count[hosts[i]] += counts[i]
            self._group_members += counts[i]
            self._member_hosts[self._n_member_hosts] = hosts[i]
            self._n_member_hosts += 1
            d = self._host_domain[hosts[i]]
            if d >= 0:
                self._domain_count[d] += counts[i]
        self._min_domain_count = 0
        if self.n_domains > 0:
            self._min_domain_count = min(np.asarray(self._domain_count[:self.n_domains]))

    def clear_context(self):
        cdef Py_ssize_t i
        for i in range(self._n_member_hosts):
            self._group_count[self._member_hosts[i]] = 0
        self._n_member_hosts = 0
        self._domain_count[:] = 0
        self._labels = 0
        self._labels_impossible = False
        self._group_policy = NO_GROUP
        self._group_members = 0
        self._min_domain_count = 0

    # ------------------------------------------------------------ kernels

    cdef bint _passes(self, Py_ssize_t f, Py_ssize_t h, const amount_t* request) noexcept nogil:
        cdef FilterKind kind = <FilterKind>self._filter_kind[f]
        cdef Py_ssize_t d
        if kind == RESOURCE_FIT:
            return row_fits(request, &self.fleet._free[h, 0], &self.fleet._min_unit[h, 0],
                            &self.fleet._max_unit[h, 0], &self.fleet._step_size[h, 0],
                            self.fleet.n_resources)
        if kind == MAX_VMS_PER_HOST:
            return self.fleet._host_vm_count[h] < self._filter_param[f]
        if kind == REQUIRED_LABELS:
            return not self._labels_impossible and (self._host_labels[h] & self._labels) == self._labels
        if kind == SERVER_GROUP_AFFINITY:
            return (self._group_policy != GROUP_AFFINITY or self._group_members == 0
                    or self._group_count[h] > 0)
        if kind == SERVER_GROUP_ANTI_AFFINITY:
            return self._group_policy != GROUP_ANTI_AFFINITY or self._group_count[h] < self._max_per_host
        if kind == DOMAIN_SPREAD:
            if self._group_policy != GROUP_SPREAD:
                return True
            d = self._host_domain[h]
            return d >= 0 and self._domain_count[d] + 1 - self._min_domain_count <= self._max_skew
        return False

    cdef double _weight(self, Py_ssize_t k, Py_ssize_t h, const amount_t* request) noexcept nogil:
        cdef WeigherKind kind = <WeigherKind>self._weigher_kind[k]
        cdef const amount_t* free = &self.fleet._free[h, 0]
        cdef const amount_t* used = &self.fleet._used[h, 0]
        cdef Py_ssize_t i, c, n = 0
        cdef amount_t capacity, requested, score = 0
        cdef double fraction, total = 0.0, mean, squares = 0.0, std = 0.0
        cdef double fractions[64]
        if kind == FREE_RAM or kind == FREE_CPU:
            return <double>free[self._weigher_classes[k, 0]]
        if kind == FREE_AFTER_PLACEMENT:
            return <double>(host_free_score(free, used, self.fleet.n_resources)
                            - request_fraction(request, free, used, self.fleet.n_resources))
        if kind == DOT_PRODUCT:
            return <double>dot_product_score(request, free, used, self.fleet.n_resources)
        if kind == SOFT_AFFINITY:
            return self._group_count[h] if self._group_policy == GROUP_SOFT_AFFINITY else 0.0
        if kind == SOFT_ANTI_AFFINITY:
            return -self._group_count[h] if self._group_policy == GROUP_SOFT_ANTI_AFFINITY else 0.0
        # Kubernetes NodeResourcesFit scores over the weigher's classes (those with capacity).
        for i in range(self._weigher_classes.shape[1]):
            c = self._weigher_classes[k, i]
            if c < 0:
                break
            capacity = free[c] + used[c]
            if capacity <= 0:
                continue
            requested = used[c] + request[c]
            if kind == LEAST_ALLOCATED:
                if requested <= capacity:
                    score += scaled_ratio(capacity - requested, capacity)
            elif kind == MOST_ALLOCATED:
                score += scaled_ratio(min(requested, capacity), capacity)
            else:
                fraction = min(<double>requested / <double>capacity, 1.0)
                fractions[n] = fraction
                total = total + fraction
            n += 1
        if kind != BALANCED_ALLOCATION:
            return <double>(score // n) if n > 0 else 0.0
        if n == 2:
            std = fabs((fractions[0] - fractions[1]) / 2)
        elif n > 2:
            mean = total / n
            for i in range(n):
                squares = squares + (fractions[i] - mean) * (fractions[i] - mean)
            std = sqrt(squares / n)
        return <double>(<amount_t>((1 - std) * MAX_NODE_SCORE))

    cdef Py_ssize_t _filter_and_weigh(self, const amount_t* request) noexcept nogil:
        """Filters one after the other over the shrinking candidate list (each counts the
        hosts it removes), then each built-in weigher over the survivors."""
        cdef Py_ssize_t n = self.fleet.n_hosts, f, i, k, kept
        cdef index_t* candidates = &self._candidates[0]
        cdef bint all_hosts = True     # candidates[i] == i, not yet written
        for f in range(self.n_filters):
            kept = self._apply_filter(f, request, candidates, n, all_hosts) if n > 0 else 0
            all_hosts = False
            self._eliminated[f] = n - kept
            n = kept
        if all_hosts:
            for i in range(n):
                candidates[i] = <index_t>i
        for k in range(self.n_weighers):
            if self._weigher_kind[k] != PYTHON_WEIGHER and n > 0:
                self._weigh(k, request, candidates, n, &self._raw[k, 0])
                range_of(&self._raw[k, 0], n, &self._low[k], &self._high[k])
        self.n_candidates = n
        self._ranges_known = True
        return n

    cdef Py_ssize_t _apply_filter(self, Py_ssize_t f, const amount_t* request,
                                  index_t* candidates, Py_ssize_t n,
                                  bint all_hosts) noexcept nogil:
        """Keep, in order, the candidates that pass filter f; return how many. all_hosts: the
        candidates are hosts 0 .. n-1 and the array is not yet written."""
        cdef FilterKind kind = <FilterKind>self._filter_kind[f]
        cdef Py_ssize_t i, j, r, kept = 0, n_res = self.fleet.n_resources, n_asked = 0
        cdef index_t h
        cdef bint ok, units_everywhere = True
        cdef Py_ssize_t asked[64]
        cdef const amount_t* free = &self.fleet._free[0, 0]
        cdef const amount_t* row
        cdef Py_ssize_t c0, c1, c2, c3
        cdef amount_t q0, q1, q2, q3
        if kind == RESOURCE_FIT:
            for r in range(n_res):
                if request[r] > 0:
                    asked[n_asked] = r
                    n_asked += 1
                    if (request[r] < self.fleet._min_unit_max[r]
                            or request[r] > self.fleet._max_unit_min[r]
                            or not self.fleet._step_all_one[r]):
                        units_everywhere = False
            if units_everywhere and n_asked <= 4:
                # Only free capacity can refuse; pad to four classes (repeating the first).
                for j in range(n_asked, 4):
                    asked[j] = asked[0]
                c0, c1, c2, c3 = asked[0], asked[1], asked[2], asked[3]
                q0, q1, q2, q3 = request[c0], request[c1], request[c2], request[c3]
                for i in range(n):
                    h = <index_t>i if all_hosts else candidates[i]
                    row = free + h * n_res
                    candidates[kept] = h
                    kept += (q0 <= row[c0]) & (q1 <= row[c1]) & (q2 <= row[c2]) & (q3 <= row[c3])
                return kept
        elif kind == MAX_VMS_PER_HOST:
            for i in range(n):
                h = <index_t>i if all_hosts else candidates[i]
                candidates[kept] = h
                kept += self.fleet._host_vm_count[h] < self._filter_param[f]
            return kept
        elif ((kind == SERVER_GROUP_AFFINITY and self._group_policy != GROUP_AFFINITY)
              or (kind == SERVER_GROUP_ANTI_AFFINITY and self._group_policy != GROUP_ANTI_AFFINITY)
              or (kind == DOMAIN_SPREAD and self._group_policy != GROUP_SPREAD)):
            if all_hosts:
                for i in range(n):
                    candidates[i] = <index_t>i
            return n  # the request's group is not of this filter's kind
        for i in range(n):
            h = <index_t>i if all_hosts else candidates[i]
            candidates[kept] = h
            kept += self._passes(f, h, request)
        return kept

    cdef void _weigh(self, Py_ssize_t k, const amount_t* request, const index_t* candidates,
                     Py_ssize_t n, double* out) noexcept nogil:
        """Raw weights of weigher k for the candidates."""
        cdef WeigherKind kind = <WeigherKind>self._weigher_kind[k]
        cdef Py_ssize_t i, n_res = self.fleet.n_resources
        cdef const amount_t* free = &self.fleet._free[0, 0]
        cdef Py_ssize_t c = self._weigher_classes[k, 0]
        if kind == FREE_RAM or kind == FREE_CPU:
            for i in range(n):
                out[i] = <double>free[candidates[i] * n_res + c]
            return
        for i in range(n):
            out[i] = self._weight(k, candidates[i], request)

    cdef index_t _choose_among(self, double u) noexcept nogil:
        cdef Py_ssize_t n = self.n_candidates, i, k, j, m, pick
        cdef double low, high, span, multiplier, best
        if n == 0:
            return -1
        cdef double* total = &self._total[0]
        cdef const double* raw
        cdef bint first_term = True
        for k in range(self.n_weighers):
            raw = &self._raw[k, 0]
            if self._ranges_known and self._weigher_kind[k] != PYTHON_WEIGHER:
                low, high = self._low[k], self._high[k]
            else:
                range_of(raw, n, &low, &high)
            if high == low:
                continue  # every weight normalises to 0: the totals do not change
            span = high - low
            multiplier = self._multiplier[k]
            if first_term:
                # 0.0 + x is x but for the sign of a zero, which no comparison sees.
                for i in range(n):
                    total[i] = multiplier * ((raw[i] - low) / span)
                first_term = False
            else:
                for i in range(n):
                    total[i] = total[i] + multiplier * ((raw[i] - low) / span)
        if first_term:
            for i in range(n):
                total[i] = 0.0
        if self.host_subset_size == 1:
            return self._candidates[first_maximum(total, n)]
        # Keep the best m candidates ordered by (-total, host); candidates arrive by host.
        m = min(self.host_subset_size, n)
        k = 0
        for i in range(n):
            j = k
            while j > 0 and self._total[i] > self._total[self._ranked[j - 1]]:
                if j < m:
                    self._ranked[j] = self._ranked[j - 1]
                j -= 1
            if j < m:
                self._ranked[j] = <index_t>i
                if k < m:
                    k += 1
        pick = <Py_ssize_t>(u * m)
        return self._candidates[self._ranked[min(pick, m - 1)]]

    cdef index_t decide(self, const amount_t* request, double u) noexcept nogil:
        """The chosen host for a valid request (built-in plugins only), or -1."""
        if self.fast >= 0:
            return self.index.choose(request)
        self._filter_and_weigh(request)
        return self._choose_among(u)

    # ------------------------------------------------------------ Python access

    def parse(self, request):
        """Validate `request` into the fleet's request buffer (raises InvalidRequest)."""
        self.fleet.read_request(request, "request")

    def parsed_request(self):
        """The parsed request (int64 copy)."""
        return np.array(self.fleet._request, dtype=dtypes.AMOUNT)

    def filter_and_weigh(self):
        """Phase 1 on the fleet's parsed request buffer; returns the number of candidates."""
        return self._filter_and_weigh(&self.fleet._request[0])

    def candidates(self):
        """The current candidates (int32 copy), by ascending host index."""
        return np.array(self._candidates[:self.n_candidates], dtype=dtypes.INDEX)

    def keep_candidates(self, mask):
        """Drop the candidates where mask is False (a Python filter's verdict)."""
        cdef const unsigned char[::1] keep = np.ascontiguousarray(mask, dtype=np.uint8)
        cdef Py_ssize_t i, k, n = 0
        if keep.shape[0] != self.n_candidates:
            raise InvalidRequest("mask does not match the candidates")
        self._ranges_known = False
        for i in range(self.n_candidates):
            if keep[i]:
                self._candidates[n] = self._candidates[i]
                for k in range(self.n_weighers):
                    self._raw[k, n] = self._raw[k, i]
                n += 1
        self.n_candidates = n

    def set_raw_weights(self, Py_ssize_t k, weights):
        """Raw weights of Python weigher k for the current candidates."""
        cdef const double[::1] values = np.ascontiguousarray(weights, dtype=np.float64)
        cdef Py_ssize_t i
        if k < 0 or k >= self.n_weighers or values.shape[0] != self.n_candidates:
            raise InvalidRequest("weights do not match the candidates")
        for i in range(self.n_candidates):
            self._raw[k, i] = values[i]

    def choose_among(self, double u=0.0):
        """Phase 2: the chosen host among the current candidates, or -1."""
        return self._choose_among(u)

    def eliminated(self):
        """Hosts each filter eliminated in the last phase 1, int64 copy."""
        return np.array(self._eliminated, dtype=dtypes.AMOUNT)

    def select(self, double u=0.0):
        """Decide for the fleet's parsed request buffer (built-in plugins only)."""
        return self.decide(&self.fleet._request[0], u)

    def place_batch(self, requests, tenant_index, tenant_ids, labels, labels_impossible, u,
                    hosts_out, vms_out, eliminated_out):
        """Place requests[i] in order, exactly as a loop of single decisions would.

        requests: int64 [n, n_classes] (validated); tenant_index: int32 [n] into tenant_ids;
        labels: uint64 [n] label sets, labels_impossible: bool [n]; u: float64 [n] draws.
        Writes hosts_out / vms_out (-1 when rejected) and eliminated_out [n, n_filters] (the
        rejections' reasons). Requests without groups only. Returns the number placed.
        """
        cdef const amount_t[:, ::1] q = requests
        cdef const index_t[::1] tenant_of = tenant_index
        cdef const uint64_t[::1] label_sets = labels
        cdef const unsigned char[::1] impossible = labels_impossible
        cdef const double[::1] draws = u
        cdef index_t[::1] hosts = hosts_out
        cdef index_t[::1] vms = vms_out
        cdef amount_t[:, ::1] eliminated = eliminated_out
        cdef Py_ssize_t i, f, n = q.shape[0], placed = 0
        cdef index_t host, code
        cdef list codes = [-1] * len(tenant_ids)
        if (q.shape[1] != self.fleet.n_resources or tenant_of.shape[0] != n
                or label_sets.shape[0] != n or impossible.shape[0] != n
                or draws.shape[0] != n or hosts.shape[0] != n or vms.shape[0] != n
                or eliminated.shape[0] != n or eliminated.shape[1] != self.n_filters):
            raise InvalidRequest("place_batch arrays do not match")
        for i in range(n):
            self._labels = label_sets[i]
            self._labels_impossible = impossible[i]
            host = self.decide(&q[i, 0], draws[i])
            hosts[i] = host
            if host < 0:
                vms[i] = -1
                if self.fast >= 0:
                    eliminated[i, 0] = self.fleet.n_hosts
                else:
                    for f in range(self.n_filters):
                        eliminated[i, f] = self._eliminated[f]
                continue
            code = codes[tenant_of[i]]
            if code < 0:
                code = self.fleet.tenant_code(tenant_ids[tenant_of[i]])
                codes[tenant_of[i]] = code
            vms[i] = self.fleet.commit(host, &q[i, 0], code)
            placed += 1
        self._labels = 0
        self._labels_impossible = False
        return placed
