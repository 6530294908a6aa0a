"""MoveIt 2 goals for the UR5, ROS-free: typed goal dataclasses and their filling into messages."""
