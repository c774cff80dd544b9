"""Simulation: the event-driven run, its controllers, results and fleet sizing."""

from vmsched.simulation.simulation import Simulation, run_placement_only

__all__ = ["Simulation", "run_placement_only"]
