"""Fixed-point scores of the fast placement policies (best_fit, worst_fit, dot_product).

A normalised quantity x / capacity is scored as floor(x * ONE / capacity) with ONE = 2**32:
an exact integer, so that every implementation (indexed, pipeline, reference) computes the
same number bit for bit and ties are real ties. The products need up to 95 bits, so they are
done in 128-bit integers when the operands are large (values below 2**31 stay in 64 bits).
"""

from vmsched.engine._types cimport amount_t

cdef extern from *:
    """
    typedef __int128 vmsched_int128;
    #define VMSCHED_SCORE_ONE (((long long)1) << 32)
    #define VMSCHED_SMALL (((long long)1) << 31)
    #define VMSCHED_SATURATED (((long long)1) << 61)
    """
    ctypedef long long int128 "vmsched_int128"
    # One unit of a normalised quantity: scores are integers in units of 2**-32.
    const amount_t SCORE_ONE "VMSCHED_SCORE_ONE"
    # Below this magnitude a product with SCORE_ONE fits in 64 bits.
    const amount_t SMALL "VMSCHED_SMALL"
    # request_score saturates here (only bounds can reach it: a fitting host scores <= ONE).
    const amount_t SATURATED "VMSCHED_SATURATED"


cdef inline amount_t floor_div(amount_t numerator, amount_t denominator) noexcept nogil:
    """floor(numerator / denominator) for denominator > 0 (C division truncates to zero)."""
    cdef amount_t q = numerator / denominator
    if numerator % denominator < 0:
        q -= 1
    return q


cdef inline amount_t floor_div_wide(int128 numerator, amount_t denominator) noexcept nogil:
    """floor_div for a 128-bit numerator whose quotient fits in 64 bits."""
    cdef int128 q = numerator / denominator
    if numerator % denominator < 0:
        q -= 1
    return <amount_t>q


cdef inline amount_t fraction_score(amount_t amount, amount_t capacity) noexcept nogil:
    """floor(amount * ONE / capacity) for capacity > 0 and amount <= capacity, clamped below
    at -ONE (a host far over capacity counts as -1)."""
    if amount <= -capacity:
        return -SCORE_ONE
    if -SMALL < amount < SMALL:
        return floor_div(amount * SCORE_ONE, capacity)
    return floor_div_wide((<int128>amount) * SCORE_ONE, capacity)


cdef inline amount_t request_score(amount_t amount, amount_t capacity) noexcept nogil:
    """min(floor(amount * ONE / capacity), SATURATED) for 0 <= amount <= 2**53, capacity > 0."""
    cdef int128 wide
    if amount < SMALL:
        return (amount * SCORE_ONE) / capacity
    wide = ((<int128>amount) * SCORE_ONE) / capacity
    return SATURATED if wide > SATURATED else <amount_t>wide


cdef inline amount_t dot_term(amount_t request_part, amount_t free, amount_t capacity) noexcept nogil:
    """floor(request_part * free / capacity) with request_part = request_score(q, capacity),
    for 0 <= free <= capacity: the fixed-point q * free / capacity**2."""
    if request_part <= SCORE_ONE and free < SMALL:
        return (request_part * free) / capacity
    return <amount_t>(((<int128>request_part) * free) / capacity)


cdef inline amount_t dot_term_by_inverse(amount_t request_part, amount_t free, amount_t capacity,
                                        double inverse) noexcept nogil:
    """dot_term, the same integer, with inverse = 1.0 / capacity: when the operands are small
    (the usual case) the quotient is estimated in floating point (off by at most one, as it is
    below 2**33) and corrected exactly, instead of a 64-bit division."""
    cdef amount_t numerator, q
    if request_part <= SCORE_ONE and 0 <= free < SMALL and capacity < SMALL:
        numerator = request_part * free
        q = <amount_t>(<double>numerator * inverse)
        if q * capacity > numerator:
            q -= 1
        elif (q + 1) * capacity <= numerator:
            q += 1
        return q
    return dot_term(request_part, free, capacity)


cdef inline amount_t host_free_score(const amount_t* free, const amount_t* used,
                                     Py_ssize_t n_resources) noexcept nogil:
    """A host's normalised free capacity: sum over classes with capacity > 0 of
    fraction_score(free, capacity). best_fit's score is this minus request_fraction."""
    cdef Py_ssize_t r
    cdef amount_t capacity, score = 0
    for r in range(n_resources):
        capacity = free[r] + used[r]
        if capacity > 0:
            score += fraction_score(free[r], capacity)
    return score


cdef inline amount_t request_fraction(const amount_t* request, const amount_t* free,
                                      const amount_t* used, Py_ssize_t n_resources) noexcept nogil:
    """sum over the classes asked for of request_score(amount, capacity), on a host where the
    request fits (so capacity >= amount > 0)."""
    cdef Py_ssize_t r
    cdef amount_t score = 0
    for r in range(n_resources):
        if request[r] > 0:
            score += request_score(request[r], free[r] + used[r])
    return score


cdef inline amount_t dot_product_score(const amount_t* request, const amount_t* free,
                                       const amount_t* used, Py_ssize_t n_resources) noexcept nogil:
    """sum over the classes asked for of q * free / capacity**2 in fixed point, on a host where
    the request fits."""
    cdef Py_ssize_t r
    cdef amount_t capacity, score = 0
    for r in range(n_resources):
        if request[r] > 0:
            capacity = free[r] + used[r]
            score += dot_term(request_score(request[r], capacity), free[r], capacity)
    return score
