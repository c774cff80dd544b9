"""Scenarios (one run's settings, as a TOML file holds them) and sweeps of many on Dask."""

from vmsched.scenarios.run import Plan, ScenarioResult, WorkloadCache, run_scenario
from vmsched.scenarios.scenario import Scenario
from vmsched.scenarios.sweep import Sweep, SweepResults

__all__ = ["Plan", "Scenario", "ScenarioResult", "Sweep", "SweepResults", "WorkloadCache", "run_scenario"]
