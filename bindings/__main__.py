"""`python -m vmsched`: the `vmsched` command (vmsched simulate, vmsched size)."""

from vmsched.cli import main

main()
