"""Simulation: the event-driven run, its controllers, results and fleet sizing, and dynamic
consolidation with power and energy (`consolidate`)."""

from vmsched.simulation.consolidation import ConsolidationResults, consolidate, parse_policy
from vmsched.simulation.simulation import Simulation, replay_placement, run_placement_only

__all__ = ["ConsolidationResults", "Simulation", "consolidate", "parse_policy",
           "replay_placement", "run_placement_only"]
