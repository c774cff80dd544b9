"""Host models: what each VM gets on its host per tick (vCPU scheduling, memory), and what
a host draws (power models)."""

from vmsched.models.host_models import MEMORY_PARAMETERS, HostModels, TickResult
from vmsched.models.power import (
    DEFAULT_POWER_MODEL,
    POWER_MODELS,
    POWER_PRESETS,
    PowerModel,
    resolve_power_model,
)

__all__ = ["DEFAULT_POWER_MODEL", "MEMORY_PARAMETERS", "POWER_MODELS", "POWER_PRESETS",
           "HostModels", "PowerModel", "TickResult", "resolve_power_model"]
