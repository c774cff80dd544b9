"""Slow, obviously-correct pure-Python models of every engine semantic (for tests and docs)."""

from vmsched.reference.accounting import Inventory, ReferenceFleet

__all__ = ["Inventory", "ReferenceFleet"]
