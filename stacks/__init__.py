"""Stack composition, the root configuration model and the offline plan tool (``python -m stacks``)."""
