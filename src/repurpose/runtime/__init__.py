"""What every layer runs on: the artifact store, CPU-bounded Ray tasks, the one Ray Serve
instance of a cluster, owner-only files, traces (OpenTelemetry)."""
