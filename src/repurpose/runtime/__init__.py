"""The cluster's runtime: lifecycle (``up``'s steps in order, ``down``), Ray Serve, CPU-bounded
tasks, the artifact store, private files and the bundled models registered on ``up``."""
