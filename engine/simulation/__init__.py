"""vmsched.engine.simulation."""
