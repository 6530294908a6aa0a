"""The Unitree G1 arm bridge, ROS-free: arm_sdk streaming, URDF kinematics, Dex3 hands, CRC."""
