"""`python -m vmsched`: run the quickstart on built-in defaults (no files needed)."""

from vmsched.quickstart import main

main()
