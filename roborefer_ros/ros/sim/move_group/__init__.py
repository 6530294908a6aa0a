"""The simulated move_group (simulation instrumentation; see node.py)."""
