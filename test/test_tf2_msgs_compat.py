"""The tf2_msgs in use (ours from interfaces/, or the system's) is wire-compatible with upstream."""

from __future__ import annotations

import json
from pathlib import Path

# Type hash of tf2_msgs/msg/TFMessage in ROS 2 Jazzy/Kilted (a published fact: it is what
# `ros2 topic info -v /tf` prints and what rosbag2 metadata records).
UPSTREAM_TFMESSAGE_HASH = "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"


def test_tfmessage_type_hash_matches_upstream() -> None:
    import tf2_msgs

    # <prefix>/lib/pythonX.Y/site-packages/tf2_msgs -> <prefix>/share/tf2_msgs (venv or /opt/ros)
    module_dir = Path(tf2_msgs.__file__).resolve().parent
    share = next(
        parent / "share" / "tf2_msgs"
        for parent in module_dir.parents
        if (parent / "share" / "tf2_msgs" / "msg").is_dir()
    )
    description = json.loads((share / "msg" / "TFMessage.json").read_text())
    hashes = {h["type_name"]: h["hash_string"] for h in description["type_hashes"]}
    assert hashes["tf2_msgs/msg/TFMessage"] == UPSTREAM_TFMESSAGE_HASH


def test_stand_in_defines_the_upstream_fields() -> None:
    from tf2_msgs.msg import TFMessage

    assert TFMessage.get_fields_and_field_types() == {
        "transforms": "sequence<geometry_msgs/TransformStamped>"
    }
