"""Suite-wide set-up: every test process talks only to its own isolated ROS 2 graph."""

from __future__ import annotations

import os

os.environ.setdefault("ROS_DOMAIN_ID", str((os.getpid() % 90) + 10))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Camera images (0.6-2.8 MB) cross processes through FastDDS shared memory with segments large
# enough for a whole frame; with the default transports they are fragmented over UDP, and a lost
# fragment of a reliable sample waits for the next heartbeat (seconds). Every process of a test
# graph inherits this, as they must all use the same transports.
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "SHM?max_msg_size=8MB&sockets_size=32MB")
os.environ.setdefault("MUJOCO_GL", "egl")  # headless MuJoCo rendering
