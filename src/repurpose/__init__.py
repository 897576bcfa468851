"""Repurpose: drug–target interaction models and the cluster that serves them."""

__version__ = "0.1.0"
