"""ROS-free rosbag2 I/O for recorded RGB-D referring data: write, read, find camera topics.

Uses ``rosbags`` (pure Python) for the rosbag2 container and CDR, so bags are written and read
without a ROS install, and stay readable by ``ros2 bag play`` on one.
"""
