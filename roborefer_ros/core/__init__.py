"""ROS-free core: nothing in here may import rclpy or any ROS message package."""
