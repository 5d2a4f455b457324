"""Pulumi entry point: validate the stack configuration and compose the platform (see stacks/program.py)."""

from stacks.program import main

main()
