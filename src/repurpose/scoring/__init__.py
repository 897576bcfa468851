"""Scoring pairs: the scorer's core, its Ray Serve deployment, the client of it, and profiling a
compound against every target."""
