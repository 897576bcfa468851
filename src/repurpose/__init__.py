"""Repurpose: drug–target interaction models and the cluster that serves them."""

import os

# Torch's OpenMP threads spin between parallel regions by default. On a machine that other
# processes share (Ray's workers, the gateway, other runs), a spinning thread holds the core its
# partner needs: DrugBAN training ran 13 pairs/s with 2 threads against 49 with 1 on 2 busy
# cores, and 50–70 with 2 threads waiting passively. Only a default, read when torch loads
# OpenMP: it takes effect where ``repurpose`` is imported before torch (the CLI, Ray workers).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
