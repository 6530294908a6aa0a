"""What a manipulation backend factory is given (ROS-free type, so ROS-free backends such as the
simulation can accept it without importing the ROS layer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BackendContext:
    """``node``: the rclpy node of pick_place_node (backends that talk to ROS create their clients
    on it, in ``callback_group``, and may declare/read their own parameters); None outside ROS.
    ``plan_frame``: the frame every plan is expressed in."""

    node: Any
    plan_frame: str
    callback_group: Any = None
