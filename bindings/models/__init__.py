"""Host models: what each VM gets on its host per tick (vCPU scheduling, memory)."""

from vmsched.models.host_models import MEMORY_PARAMETERS, HostModels, TickResult

__all__ = ["MEMORY_PARAMETERS", "HostModels", "TickResult"]
