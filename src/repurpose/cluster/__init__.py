"""The cluster's lifecycle: ``up``'s steps in order (``up``), starting, joining, stopping and
reporting a cluster (``lifecycle``), the bundled datasets and models registered on ``up``, and
finding one head node's processes. It assembles every layer below it."""
