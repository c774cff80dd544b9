"""Fit the synthetic workload generator to the public Azure 2017 samples in ../shared/data.

Writes bindings/data/azure2017_synthetic.json: numbers only (distributions and profiles), no
trace data. Run from the repository root: python tools/fit_synthetic.py [DATA_DIR]

Fitted:
- flavors: the share of each (vCPUs, memory) flavor, counted per batch (a batch's VMs share
  a tenant and a moment; the generator gives a batch one flavor);
- batch sizes: the empirical distribution of VMs per batch (capped at 200);
- arrivals: mean batches per 5 minutes and its profile over the day (288 slots, mean 1);
- lifetimes: the share of each lifetime bin of the trace (uniform within a bin), from VMs
  that arrived in the first half of each trace (so that lifetimes up to half its length are
  observed), and the share still running at the cutoff (open-ended in the generator);
- CPU utilisation: per-VM mean levels as a Beta distribution (method of moments), the daily
  profile relative to each VM's mean (288 slots, mean 0), and the noise around it as a
  coefficient of variation.
"""

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SLOTS = 288  # 5-minute slots per day


def read_flavor_map(folder):
    flavors = {}
    for line in (folder / "flav_map.txt").read_text().split("\n"):
        if line.strip():
            size, letter = line.split()
            vcpus, memory_gb = size.split(",")
            flavors[letter] = (int(vcpus), float(memory_gb))
    return flavors


def read_bins(folder):
    ranges = {}
    for line in (folder / "v1.interval_map.txt").read_text().split("\n"):
        if line.strip():
            seconds, bin_ = map(int, line.split())
            low, high = ranges.get(bin_, (seconds, seconds))
            ranges[bin_] = (min(low, seconds), max(high, seconds))
    return ranges


def batches(line):
    """(time, [batch tokens]) of one trace line."""
    time, _, rest = line.partition(" ")
    tokens = [t for t in rest.strip().split(",") if t]
    out, current = [], []
    for token in tokens:
        if token == "|":
            if current:
                out.append(current)
            current = []
        else:
            current.append(token)
    if current:
        out.append(current)
    return int(time), out


def fit_flavors_and_arrivals(folder):
    flavor_map = read_flavor_map(folder)
    bins = read_bins(folder)
    per_batch_flavor = Counter()
    batch_sizes = Counter()
    per_slot = np.zeros(SLOTS)
    slot_seen = np.zeros(SLOTS)
    lifetime_bins = Counter()
    open_ended = observed = 0
    for split, cutoff in (("dev", 2100000), ("test", 2591400)):
        lines = (folder / f"v1.{split}.txt").read_text().strip().split("\n")
        lifetimes = (folder / f"v1.{split}.c{cutoff}.txt").read_text().strip().split("\n")
        first = batches(lines[0])[0]
        half = first + (cutoff - first) / 2
        for line, life in zip(lines, lifetimes):
            time, groups = batches(line)
            _, life_groups = batches(life)
            slot = (time // 300) % SLOTS
            per_slot[slot] += len(groups)
            slot_seen[slot] += 1
            for group, life_group in zip(groups, life_groups):
                per_batch_flavor[group[0]] += 1
                batch_sizes[min(len(group), 200)] += 1
                if time < half:
                    for token in life_group:
                        observed += 1
                        if token.startswith("C"):
                            open_ended += 1
                        else:
                            lifetime_bins[int(token[1:])] += 1
    total_batches = sum(per_batch_flavor.values())
    flavors = [{"vcpus": flavor_map[letter][0], "memory_gib": flavor_map[letter][1],
                "probability": per_batch_flavor[letter] / total_batches}
               for letter in sorted(flavor_map) if per_batch_flavor[letter]]
    rate = per_slot / np.maximum(slot_seen, 1)
    sizes = sorted(batch_sizes)
    size_total = sum(batch_sizes.values())
    done = sum(lifetime_bins.values())
    return {
        "flavors": flavors,
        "batch_size": {"sizes": sizes,
                       "probabilities": [batch_sizes[s] / size_total for s in sizes]},
        "batches_per_5min": float(rate.mean()),
        "arrival_daily_profile": [round(float(x), 4) for x in rate / rate.mean()],
        "lifetime_bins": [{"min_s": bins[b][0], "max_s": bins[b][1] + 300,
                           "probability": lifetime_bins[b] / observed}
                          for b in sorted(lifetime_bins)],
        "open_ended_probability": open_ended / observed,
        "vms_per_batch_mean": float(sum(s * c for s, c in batch_sizes.items()) / size_total),
        "lifetimes_observed": done,
    }


def fit_cpu(folder):
    with gzip.open(folder / "microsoft_avg_100.csv.gz", "rt") as handle:
        rows = [line.split(",") for line in handle.read().strip().split("\n")[1:]]
    values = np.array([[float(x) for x in row[1:]] for row in rows]) / 100.0  # [t, vm]
    means = values.mean(axis=0)
    mu, var = means.mean(), means.var()
    common = mu * (1 - mu) / var - 1
    alpha, beta = mu * common, (1 - mu) * common
    relative = values / np.maximum(means, 1e-6) - 1.0
    slot = np.arange(values.shape[0]) % SLOTS
    profile = np.array([relative[slot == s].mean() for s in range(SLOTS)])
    profile -= profile.mean()
    residual = relative - profile[slot][:, None]
    return {"level_beta": [float(alpha), float(beta)],
            "daily_profile": [round(float(x), 4) for x in profile],
            "noise_cv": float(np.median(residual.std(axis=0)))}


def main(argv):
    data = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "data"
    fitted = {
        "source": "Azure Public Dataset V1 (2017) samples: flavor/lifetime sequences "
                  "(huaweicloud/trace_generation_rnn) and 100 VMs' CPU readings "
                  "(carlonlv/DataCenterSim); CC-BY-4.0. Fitted by tools/fit_synthetic.py.",
        **fit_flavors_and_arrivals(data / "azure2017-flavors"),
        "cpu": fit_cpu(data / "azure2017-cpu"),
    }
    out = ROOT / "bindings" / "data" / "azure2017_synthetic.json"
    out.write_text(json.dumps(fitted, indent=1) + "\n")
    print(f"wrote {out}: {len(fitted['flavors'])} flavors, "
          f"{fitted['batches_per_5min']:.2f} batches / 5 min, "
          f"{fitted['vms_per_batch_mean']:.2f} VMs / batch, "
          f"open-ended {fitted['open_ended_probability']:.3f}, cpu beta {fitted['cpu']['level_beta']}")


if __name__ == "__main__":
    main(sys.argv)
