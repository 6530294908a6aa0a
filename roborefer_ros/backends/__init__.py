"""Model backends and answer parsers (ROS-free)."""
