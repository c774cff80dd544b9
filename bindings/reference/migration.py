"""Reference migration models, in plain Python.

precopy: a live migration's rounds, as KVM/QEMU's pre-copy: round 1 sends the whole memory
while the VM runs; each next round sends what the VM dirtied during the previous one
(dirty_rate x active memory per second of it, never more than the active memory); when a
round would fit in the allowed downtime, or the round limit is reached, that round is sent
with the VM paused (the downtime)."""


def precopy(memory_mib, active_mib, dirty_rate, bandwidth_mibps, max_downtime_s, max_rounds):
    """(duration s, MiB sent, downtime s, rounds)."""
    to_send = memory_mib
    duration = sent = downtime = 0.0
    rounds = 0
    while True:
        rounds += 1
        seconds = to_send / bandwidth_mibps
        duration += seconds
        sent += to_send
        if rounds > 1 and (seconds <= max_downtime_s or rounds >= max_rounds):
            downtime = seconds
            break
        to_send = min(active_mib, dirty_rate * active_mib * seconds)
        if to_send <= 0:
            break
    return duration, sent, downtime, rounds
