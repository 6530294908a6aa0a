"""Helpers shared by the test suite and benchmarks: synthetic frames and live-graph fixtures."""
