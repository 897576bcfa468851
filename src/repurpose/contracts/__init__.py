"""Pydantic models at the boundaries, shared by grains, CLI and gateway: one module per area."""
