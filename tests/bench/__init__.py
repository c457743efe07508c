"""Benchmarks, fuzzing and stress runs against the local stack (`make bench | fuzz | stress`).

Every run is bounded in count and time and talks to loopback only. Timings are compared as
ratios measured in the same run, never against fixed numbers.
"""
