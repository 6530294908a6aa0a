"""The rclpy layer: message conversions, TF adapters, nodes and their parameters."""
