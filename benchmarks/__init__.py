"""Benchmarks: our generated Stan programs against brms's for the lecture models (run on demand)."""
