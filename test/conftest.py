"""Suite-wide set-up: every test process talks only to its own isolated ROS 2 graph."""

from __future__ import annotations

import os

from roborefer_ros.tools.dds_profile import apply_profile

os.environ.setdefault("ROS_DOMAIN_ID", str((os.getpid() % 90) + 10))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Camera images (0.6-2.8 MB) cross processes through FastDDS shared memory with segments large
# enough for a whole frame. Note: under ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST rmw_fastrtps
# installs its own transports (default shared memory + UDP on loopback, 64 kB fragments) and
# this variable has no effect; it takes effect in graphs that leave the range unset
# (roborefer-bench-graph --transport shm). Every process of a graph must use the same transports.
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "SHM?max_msg_size=8MB&sockets_size=32MB")
os.environ.setdefault("MUJOCO_GL", "egl")  # headless MuJoCo rendering
# Fast DDS's heartbeat at 100 ms instead of 3 s (config/fastdds_profile.xml): a lost reliable
# sample, /tf or image, is repaired at once instead of holding back every later one for seconds.
apply_profile(os.environ)
