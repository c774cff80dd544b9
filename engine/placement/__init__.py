"""vmsched.engine.placement: fast-policy scores and index, the filter/weigher pipeline."""

from vmsched.engine.placement._fit_index import FastPolicy, FitIndex
from vmsched.engine.placement._placement import (
    FilterKind,
    GroupPolicy,
    PlacementCore,
    WeigherKind,
)

__all__ = ["FastPolicy", "FilterKind", "FitIndex", "GroupPolicy", "PlacementCore", "WeigherKind"]
