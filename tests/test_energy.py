"""Energy in simulations: every host draws its power model's watts at its utilisation, idle
power while it is on without VMs, nothing while it is off (down after a drain, failed); the
per-host, per-tick and summary figures agree with each other and with the power models."""

import numpy as np
import pandas as pd
import pytest

from vmsched import Fleet, HostModels
from vmsched.models.power import POWER_PRESETS, linear
from vmsched.simulation import Simulation
from vmsched.simulation.controllers import Failures
from vmsched.workload import Workload
from vmsched.workload.synthetic import synthetic_workload

TICK_S = 300.0


def no_vms():
    """A workload whose only VM arrives after the run (so nothing is ever measured)."""
    table = pd.DataFrame({"vm_id": ["late"], "tenant": ["t"], "start_s": [1e6],
                          "end_s": [2e6], "VCPU": [1], "MEMORY_MB": [512], "DISK_GB": [0]})
    return Workload(table)


def test_an_idle_fleet_draws_idle_power_on_every_host():
    fleet = Fleet.uniform(3, vcpus=8, memory_mib=16384, disk_gib=0, power_model="server_2s")
    fleet.set_power_model("hp_proliant_ml110_g4", hosts=[2])
    results = Simulation(fleet, "best_fit", HostModels(), no_vms(), tick_s=TICK_S,
                         duration_s=3600).run()
    seconds = results.ticks_run * TICK_S
    expected = np.array([150.0, 150.0, 86.0]) * seconds / 3.6e6
    np.testing.assert_allclose(results.hosts["energy_kwh"], expected, rtol=1e-12)
    assert results.summary()["energy kWh"] == pytest.approx(expected.sum())
    np.testing.assert_allclose(results.ticks["power_w"], 386.0, rtol=1e-12)
    assert results.hosts["power_model"].tolist() == ["server_2s", "server_2s",
                                                     "hp_proliant_ml110_g4"]


def test_a_failed_host_draws_nothing_until_it_is_repaired():
    fleet = Fleet.uniform(2, vcpus=8, memory_mib=16384, disk_gib=0, power_model=linear(100, 200))
    failures = Failures([(0.0, 0)], mttr_s=1800.0, repair="fixed")
    results = Simulation(fleet, "first_fit", HostModels(), no_vms(), tick_s=TICK_S,
                         duration_s=3600, controllers=[failures]).run()
    seconds = results.ticks_run * TICK_S
    energy = results.hosts["energy_kwh"].to_numpy() * 3.6e6
    assert energy[1] == pytest.approx(100.0 * seconds)
    assert energy[0] == pytest.approx(100.0 * (seconds - 1800.0))   # off while failed


def test_energy_per_host_and_per_tick_agree_and_stay_between_idle_and_max():
    workload = synthetic_workload(600, 1.0, seed=3)
    fleet = Fleet.uniform(8, vcpus=32, memory_mib=131072, disk_gib=0,
                          power_model="hp_proliant_ml110_g5")
    results = Simulation(fleet, "best_fit", HostModels(), workload, tick_s=TICK_S).run()
    hosts, ticks = results.hosts, results.ticks
    total = hosts["energy_kwh"].sum()
    assert total == pytest.approx(ticks["power_w"].sum() * TICK_S / 3.6e6, rel=1e-9)
    seconds = results.ticks_run * TICK_S
    g5 = POWER_PRESETS["hp_proliant_ml110_g5"]
    assert (hosts["energy_kwh"] >= g5.idle_w * seconds / 3.6e6 * (1 - 1e-12)).all()
    assert (hosts["energy_kwh"] <= g5.max_w * seconds / 3.6e6 * (1 + 1e-12)).all()
    assert total > 8 * g5.idle_w * seconds / 3.6e6      # the VMs' work costs energy


def test_placement_only_runs_report_no_energy():
    fleet = Fleet.uniform(4, vcpus=32, memory_mib=131072, disk_gib=0)
    results = Simulation(fleet, "best_fit", None, synthetic_workload(200, 0.5, seed=1)).run()
    assert "energy kWh" not in results.summary()
