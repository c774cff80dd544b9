"""Placement: filters, weighers, policies and the Placer that applies them."""

from vmsched.placement.placer import Placement, PlacementBatch, Placer
from vmsched.placement.policy import POLICIES, Policy

__all__ = ["POLICIES", "Placement", "PlacementBatch", "Placer", "Policy"]
