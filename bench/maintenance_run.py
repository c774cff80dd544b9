"""The maintenance and failure scenarios of the simulation core, with their figures, each
checked equal to the reference simulation: a drain of 10 hosts at noon on 100 hosts filled to
70 % of their memory, and a day of seeded host failures with and without restarts.

Usage: python bench/maintenance_run.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from test_simulation_differential import assert_same, filled_fleet_scenario, run_both  # noqa: E402

from vmsched.simulation.controllers import Failures, Maintenance  # noqa: E402


def main():
    drained = list(range(10))
    _, result, expected = run_both(filled_fleet_scenario(), [
        Maintenance([(43200.0, drained, 3600.0)], migration_s=120)], policy="first_fit")
    assert_same(result, expected)
    vms, drains = result.vms, result.drains
    print(f"drain of hosts 0-9 at noon: {len(vms)} VMs; unplaceable "
          f"{drains['unplaceable'].map(len).sum()}, lost {(vms['status'] == 'lost').sum()}; "
          f"migrations started {drains['migrations'].sum()}, completed "
          f"{vms['migrations'].sum()}; down at {sorted(set(drains['down_s']))} s, up at "
          f"{sorted(set(drains['up_s']))} s")
    during = vms[(vms["start_s"] >= 43200) & (vms["start_s"] < 46920)]
    after = vms[vms["start_s"] >= 46920]
    print(f"  arrivals while draining or down: {len(during)}, on drained hosts "
          f"{during['host'].isin(drained).sum()}; later arrivals on hosts 0-9: "
          f"{after['host'].isin(drained).sum()} of {len(after)}")
    moved = vms["migrations"] > 0
    engine_used = vms.loc[moved, "used_core_s"].to_numpy()
    reference_used = expected.vms.loc[moved, "used_core_s"].to_numpy()
    print(f"  migrated VMs: {moved.sum()}, used core-s {engine_used.sum():.6f} (reference "
          f"{reference_used.sum():.6f}, max relative difference "
          f"{np.max(np.abs(engine_used - reference_used) / np.maximum(1, reference_used)):.1e})")
    for restart in (True, False):
        failures = Failures(mtbf_s=4 * 86400.0, mttr_s=1800.0, restart=restart,
                            restart_delay_s=120.0, seed=7)
        _, result, expected = run_both(filled_fleet_scenario(1), [failures])
        assert_same(result, expected)
        print(f"failures (seed 7, restart {restart}): {len(failures.schedule(100, 86400))} "
              f"host failures; lost {(result.vms['status'] == 'lost').sum()} (reference "
              f"{expected.failures['lost']}), restarts {result.vms['restarts'].sum()} "
              f"(reference {expected.failures['restarted']}), downtime "
              f"{result.vms['downtime_s'].sum() / 3600:.4f} VM-hours (reference "
              f"{expected.failures['downtime_s'] / 3600:.4f})")


if __name__ == "__main__":
    main()
