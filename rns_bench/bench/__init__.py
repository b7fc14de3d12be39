"""Benchmark sweeps, run records and leaderboards."""
