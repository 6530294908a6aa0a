"""What a manipulation backend factory is given (ROS-free type, so ROS-free backends such as the
simulation can accept it without importing the ROS layer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roborefer_ros.manipulation.moveit_goals import MoveItConfig


@dataclass(frozen=True)
class BackendContext:
    """``node``: the rclpy node of pick_place_node (backends that talk to ROS create their clients
    on it, in ``callback_group``, and may declare/read their own parameters); None outside ROS.
    ``plan_frame``: the frame every plan is expressed in. ``moveit``: the MoveIt settings read from
    the node's parameters (used by the moveit backend)."""

    node: Any
    plan_frame: str
    callback_group: Any = None
    moveit: MoveItConfig = field(default_factory=MoveItConfig)
