"""Engine = reference for dynamic consolidation: whole runs (initial placement, updates,
every consolidation round with its detector and selector, migrations, energy and the SLA
metrics) of the Numba engine against vmsched.reference.consolidation, a plain-Python model
of CloudSim 3.0.3's classes, on random small fleets and days, under both rule sets; and under
vmsched's rules with VMs of several vCPUs that arrive and leave during the run."""

import numpy as np
import pandas as pd
from hypothesis import event, given, settings
from hypothesis import strategies as st

from budget import examples

from vmsched.engine.jit import frozen
from vmsched.engine.models import kernels_detectors as detectors
from vmsched.engine.simulation import kernels_consolidation as engine
from vmsched.models.power import resolve_power_model
from vmsched.reference.consolidation import reference_consolidation
from vmsched.simulation.consolidation import INTERVAL_S, LIST_CAPACITY, parse_policy

HOST_TYPES = [(resolve_power_model("hp_proliant_ml110_g4"), 1860.0),
              (resolve_power_model("hp_proliant_ml110_g5"), 2660.0)]
VM_TYPES = [(2500.0, 870.0), (2000.0, 1740.0), (1000.0, 1740.0), (500.0, 613.0)]
MIGRATING = ["lr-mmt-1.2", "thr-mmt-0.8", "iqr-mmt-1.5", "mad-mmt-2.5", "thr-mu-0.7",
             "mad-mu-1.0", "lr-mu-1.1", "lrr-mmt-1.2", "iqr-mu-0.5", "thr-mmt-0.5"]
EXACT = ("migrations", "shutdowns", "vms_destroyed", "vms_finished", "vms_not_placed",
         "vms_delayed")
CLOSE = ("energy_j", "sla_time_s", "active_time_s", "requested_mips_s", "allocated_mips_s",
         "migration_loss_mips_s", "shutdown_time_s", "end_s", "delay_s")


@st.composite
def instances(draw):
    n_hosts = draw(st.integers(2, 8))
    kinds = draw(st.lists(st.integers(0, 1), min_size=n_hosts, max_size=n_hosts))
    hosts = [{"pcpus": 2, "speed": HOST_TYPES[k][1], "ram": 4096.0, "bw": 1e6,
              "power_kind": HOST_TYPES[k][0].code,
              "power_watts": np.asarray(HOST_TYPES[k][0].points, np.float64)} for k in kinds]
    n_vms = draw(st.integers(1, 4 * n_hosts))
    types = draw(st.lists(st.integers(0, 3), min_size=n_vms, max_size=n_vms))
    vms = [{"mips": VM_TYPES[t][0], "ram": VM_TYPES[t][1], "bw": 1e5} for t in types]
    n_samples = draw(st.integers(4, 30))
    rows = []
    for _ in range(n_vms):
        level = draw(st.integers(0, 100))
        steps = draw(st.lists(st.integers(-30, 30), min_size=n_samples, max_size=n_samples))
        zeros = draw(st.lists(st.booleans(), min_size=n_samples, max_size=n_samples))
        row = []
        for step, zero in zip(steps, zeros):
            level = min(100, max(0, level + step))
            row.append(0 if zero and draw(st.integers(0, 4)) == 0 else level)
        rows.append(row)
    samples = np.zeros((n_vms, n_samples + 1))
    samples[:, :n_samples] = np.array(rows) / 100.0
    samples[:, n_samples] = samples[:, n_samples - 1]
    return samples, hosts, vms


@st.composite
def dynamic_instances(draw):
    """Hosts of 2-8 pCPUs; VMs of 1-4 vCPUs arriving on and off the 300 s grid, some leaving
    at once, some never, some too big for a while (they wait); traces from 0 s."""
    n_hosts = draw(st.integers(1, 6))
    hosts = []
    for _ in range(n_hosts):
        model, speed = HOST_TYPES[draw(st.integers(0, 1))]
        hosts.append({"pcpus": draw(st.integers(2, 8)), "speed": speed,
                      "ram": float(draw(st.sampled_from([4096, 8192, 16384]))),
                      # A slow link: migrations that outlast a round (VMs leave meanwhile).
                      "bw": draw(st.sampled_from([1e6, 1.5e4])),
                      "power_kind": model.code,
                      "power_watts": np.asarray(model.points, np.float64)})
    n_samples = draw(st.integers(4, 24))
    end = n_samples * INTERVAL_S
    n_vms = draw(st.integers(1, 5 * n_hosts))
    vms = []
    for _ in range(n_vms):
        mips, ram = VM_TYPES[draw(st.integers(0, 3))]
        vcpus = draw(st.integers(1, 4))
        start = draw(st.sampled_from([0.0, 300.0 * draw(st.integers(0, n_samples)),
                                      draw(st.floats(0, end, allow_nan=False))]))
        life = draw(st.sampled_from([0.0, np.inf, 300.0 * draw(st.integers(1, n_samples)),
                                     draw(st.floats(1, end, allow_nan=False))]))
        vms.append({"mips": mips * vcpus, "vcpus": vcpus, "ram": ram * (1 + vcpus // 3),
                    "bw": 1e5,
                    "start_s": start, "end_s": start + life})
    levels = draw(st.lists(st.integers(0, 100), min_size=n_vms * n_samples,
                           max_size=n_vms * n_samples))
    samples = np.zeros((n_vms, n_samples + 1))
    samples[:, :n_samples] = np.array(levels).reshape(n_vms, n_samples) / 100.0
    samples[:, n_samples] = samples[:, n_samples - 1]
    return samples, hosts, vms


def engine_run(samples, hosts, vms, policy, rules, source=None):
    E = engine
    n_hosts, n_vms = len(hosts), len(vms)
    end = (samples.shape[1] - 1) * INTERVAL_S
    hf = np.zeros((n_hosts, E.N_HF))
    hi = np.zeros((n_hosts, E.N_HI), np.int64)
    watts = np.zeros((n_hosts, 11))
    for h, s in enumerate(hosts):
        hf[h, E.H_TOTAL] = s["pcpus"] * s["speed"]
        hf[h, E.H_PE] = s["speed"]
        hf[h, E.H_PCPUS] = s["pcpus"]
        hf[h, E.H_RAM] = s["ram"]
        hf[h, E.H_BW] = s["bw"]
        hi[h, E.H_KIND] = s["power_kind"]
        watts[h] = s["power_watts"]
    # Classes of interchangeable hosts: same capacity, pCPUs, memory, link and power model.
    keys = pd.DataFrame({"t": hf[:, E.H_TOTAL], "p": hf[:, E.H_PCPUS], "r": hf[:, E.H_RAM],
                         "b": hf[:, E.H_BW],
                         "k": hi[:, E.H_KIND], "w": [w.tobytes() for w in watts]})
    hi[:, E.H_CLASS] = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    vf = np.zeros((n_vms, E.N_VF))
    vi = np.zeros((n_vms, E.N_VI), np.int64)
    for v, s in enumerate(vms):
        vf[v, E.V_MIPS] = s["mips"]
        vf[v, E.V_RAM] = s["ram"]
        vf[v, E.V_BW] = s["bw"]
        vf[v, E.V_VCPUS] = s.get("vcpus", 1)
        vf[v, E.V_START_S] = s.get("start_s", 0.0)
        vf[v, E.V_END_S] = s.get("end_s", np.inf)
    options = np.zeros(E.N_OPTIONS, np.int64)
    options[E.O_POLICY] = {"npa": E.NPA, "dvfs": E.DVFS}.get(policy.kind, E.MIGRATE)
    if policy.kind == "migrate":
        options[E.O_DETECTOR] = detectors.DETECTOR_NAMES.index(policy.detector)
        options[E.O_SELECTOR] = E.SELECTOR_NAMES.index(policy.selector)
    options[E.O_CLOUDSIM] = int(rules == "cloudsim")
    parameters = np.zeros(E.N_PARAMETERS)
    parameters[E.P_PARAMETER] = policy.parameter or 0.0
    parameters[E.P_FALLBACK] = 0.7
    parameters[E.P_INTERVAL] = INTERVAL_S
    parameters[E.P_END] = end
    parameters[E.P_FIRST] = 0.1 if rules == "cloudsim" else 0.0
    parameters[E.P_BANDWIDTH_DIVISOR] = 16000.0
    series = np.zeros((int(end // INTERVAL_S) + 2, E.N_SERIES))
    if source is None:
        source = (np.int64(E.DENSE), frozen(samples), frozen(np.zeros(0)), frozen(np.zeros(0)),
                  0.0, np.uint64(0))
    r, _ = E.run_consolidation(source, hf, hi, watts, vf, vi, options, parameters,
                               LIST_CAPACITY, series)
    return {"energy_j": r[E.R_ENERGY_J], "migrations": r[E.R_MIGRATIONS],
            "sla_time_s": r[E.R_SLA_S], "active_time_s": r[E.R_ACTIVE_S],
            "requested_mips_s": r[E.R_REQ_S], "allocated_mips_s": r[E.R_ALLOC_S],
            "migration_loss_mips_s": r[E.R_MIG_LOSS], "shutdowns": r[E.R_SHUTDOWNS],
            "shutdown_time_s": r[E.R_SHUTDOWN_S], "vms_destroyed": r[E.R_DESTROYED],
            "end_s": r[E.R_END_S], "vms_finished": r[E.R_FINISHED],
            "vms_not_placed": r[E.R_NOT_PLACED], "vms_delayed": r[E.R_DELAYED],
            "delay_s": r[E.R_DELAY_S]}


def check(instance, spec, rules):
    samples, hosts, vms = instance
    policy = parse_policy(spec)
    expected = reference_consolidation(samples, hosts, vms, policy, rules)
    got = engine_run(samples, hosts, vms, policy, rules)
    event(f"{rules} rules")
    event("migrations" if got["migrations"] else "no migration")
    if got["vms_destroyed"]:
        event("VMs destroyed at zero demand")
    if expected.get("migrations_dropped"):
        event("VMs leaving while they migrate")
    for key, name in (("vms_finished", "VMs leaving"), ("vms_delayed", "VMs waiting for a host"),
                      ("vms_not_placed", "VMs never placed")):
        if got[key]:
            event(name)
    for key in EXACT:
        assert got[key] == expected[key], key
    for key in CLOSE:
        assert np.isclose(got[key], expected[key], rtol=1e-9, atol=1e-6), key


@settings(max_examples=examples(200), deadline=None)
@given(instance=instances(), spec=st.sampled_from(MIGRATING),
       rules=st.sampled_from(["cloudsim", "vmsched"]))
def test_consolidation_rounds_equal_the_reference(instance, spec, rules):
    """Detectors, selectors, the power-aware placement and underload switch-off, round after
    round, with the updates, energy and metrics between them."""
    check(instance, spec, rules)


@settings(max_examples=examples(50), deadline=None)
@given(instance=instances(), spec=st.sampled_from(["dvfs", "npa"]),
       rules=st.sampled_from(["cloudsim", "vmsched"]))
def test_baselines_equal_the_reference(instance, spec, rules):
    check(instance, spec, rules)


@settings(max_examples=examples(200), deadline=None)
@given(instance=dynamic_instances(), spec=st.sampled_from(MIGRATING + ["dvfs", "npa"]))
def test_arriving_and_leaving_vms_of_several_vcpus_equal_the_reference(instance, spec):
    """vmsched's rules: arrivals placed (or kept waiting) at each update, departures (also
    while migrating), multi-vCPU caps and pCPU counts, with every round in between."""
    samples, hosts, vms = instance
    if any(vm["start_s"] > 0 for vm in vms):
        event("VMs arriving during the run")
    if any(vm["vcpus"] > 1 for vm in vms):
        event("VMs of several vCPUs")
    check(instance, spec, "vmsched")


@settings(max_examples=examples(30), deadline=None)
@given(seed=st.integers(0, 2**32), n_samples=st.integers(2, 600), n_vms=st.integers(1, 40),
       spec=st.sampled_from(["lr-mmt-1.2", "thr-mu-0.8", "dvfs"]))
def test_synthetic_utilisation_computed_in_the_engine_equals_its_samples(seed, n_samples,
                                                                          n_vms, spec):
    """The engine's synthetic source gives, at every 300 s sample, what
    SyntheticUtilization.sample gives; a run on it equals the run on those samples."""
    from vmsched.workload.utilization import SyntheticUtilization

    rng = np.random.default_rng(seed)
    cpu = SyntheticUtilization(rng.uniform(0, 0.9, n_vms), rng.uniform(-0.3, 0.3, 288),
                               float(rng.uniform(0, 1)), seed)
    samples = np.stack([cpu.sample(np.arange(n_vms), k * INTERVAL_S)
                        for k in range(n_samples + 1)], axis=1)
    hosts = [{"pcpus": 4, "speed": 2660.0, "ram": 8192.0, "bw": 1e6,
              "power_kind": HOST_TYPES[1][0].code,
              "power_watts": np.asarray(HOST_TYPES[1][0].points, np.float64)}] * 8
    vms = [{"mips": 2000.0 * (1 + v % 2), "vcpus": 1 + v % 2, "ram": 1024.0, "bw": 1e5,
            "start_s": float(rng.uniform(0, n_samples * INTERVAL_S)),
            "end_s": float(rng.uniform(0, 2 * n_samples * INTERVAL_S))} for v in range(n_vms)]
    synthetic = (np.int64(engine.SYNTHETIC), frozen(np.zeros((1, 1))), frozen(cpu.level),
                 frozen(cpu.daily_profile), cpu.noise_cv, np.uint64(cpu.seed))
    policy = parse_policy(spec)
    assert engine_run(samples, hosts, vms, policy, "vmsched", synthetic) == \
        engine_run(samples, hosts, vms, policy, "vmsched")
