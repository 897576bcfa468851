"""Screening a library against targets: the runner, one attempt, its tasks and its result files."""
