"""Nightjar benchmarks: `make bench` (python -m bench) runs them side by side."""
