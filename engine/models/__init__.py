"""vmsched.engine.models."""
