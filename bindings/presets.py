"""Overcommit presets: allocation ratios and host reservations that real clouds ship.

Ratios apply to the VCPU, MEMORY_MB and DISK_GB classes; any other class keeps ratio 1.0.
"""

from dataclasses import dataclass

from vmsched.errors import InvalidRequest, shown


@dataclass(frozen=True)
class OvercommitPreset:
    """Allocation ratios (dimensionless) and reserved host amounts (pCPUs, MiB, GiB)."""

    name: str
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    reserved_host_cpus: int = 0
    reserved_host_memory_mib: int = 0
    reserved_host_disk_gib: int = 0

    def ratios(self):
        """{resource class: allocation ratio}."""
        return {"VCPU": self.cpu_allocation_ratio, "MEMORY_MB": self.ram_allocation_ratio,
                "DISK_GB": self.disk_allocation_ratio}

    def reservations(self):
        """{resource class: reserved amount}."""
        return {"VCPU": self.reserved_host_cpus, "MEMORY_MB": self.reserved_host_memory_mib,
                "DISK_GB": self.reserved_host_disk_gib}


PRESETS = {
    # Nova since Stein: initial_{cpu,ram,disk}_allocation_ratio and reserved_host_memory_mb.
    "nova": OvercommitPreset("nova", 4.0, 1.0, 1.0, reserved_host_memory_mib=512),
    # Nova before Stein: cpu_allocation_ratio 16.0, ram 1.5, disk 1.0.
    "nova_pre_stein": OvercommitPreset("nova_pre_stein", 16.0, 1.5, 1.0,
                                       reserved_host_memory_mib=512),
    # No overcommit at all.
    "none": OvercommitPreset("none", 1.0, 1.0, 1.0),
}


def resolve_preset(preset):
    """A preset from its name or an OvercommitPreset instance; ValueError lists the names."""
    if isinstance(preset, OvercommitPreset):
        return preset
    if isinstance(preset, str) and preset in PRESETS:
        return PRESETS[preset]
    raise InvalidRequest(f"overcommit preset {shown(preset)} is unknown; known presets: "
                         f"{', '.join(sorted(PRESETS))}")
