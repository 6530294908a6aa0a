"""sim_node's parameters: declared in one place, read once into a frozen, validated config.

All but the trajectory controller's tolerances and ``g1_publish_lowstate`` are read-only: the
scene is built once at start-up. ``read_config`` takes a plain dict, so the validation is
testable without a node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rclpy.node import Node

from roborefer_ros.ros.params import ParameterSpec, declare_parameters

P = ParameterSpec
SIM_NODE_PARAMETERS: tuple[ParameterSpec, ...] = (
    P("seed", 3, "Scene seed (layout, colours, lights, camera).", range=(0, 1_000_000)),
    P("robot", "ur5e", "Simulated robot: ur5e or g1 (head camera; plans in torso_link)."),
    P("rate_hz", 10.0, "Camera rate (wall clock), also while the arm moves.", range=(0.1, 60.0)),
    P(
        "realtime",
        True,
        "Run the physics at wall-clock speed; false: as fast as it goes (tests).",
    ),
    P("width", 640, "Image width (px).", range=(16, 4096)),
    P("height", 480, "Image height (px).", range=(16, 4096)),
    P("base_frame", "base_link", "Robot base frame: parent of the camera and object frames."),
    P("camera_link_frame", "camera_link", "Camera body frame (REP-103 axes), static TF."),
    P(
        "camera_optical_frame",
        "camera_color_optical_frame",
        "Frame of the images and camera_info (z forward, x right, y down).",
    ),
    P("object_frame_prefix", "object/", "Objects are published on /tf as PREFIX<name>."),
    P("depth_encoding", "16UC1", "Aligned depth: 16UC1 (mm, 0 invalid, as a RealSense) or 32FC1."),
    P(
        "publish_clock",
        False,
        "Publish /clock from the physics time and stamp everything with it (use_sim_time).",
    ),
    P(
        "frames_dir",
        "",
        "Write PNG key frames of the pick and place here (start, grasp, lift, place, end).",
    ),
    P(
        "trajectory_path_tolerance_rad",
        0.2,
        "ur5e: the trajectory controller's path tolerance per joint (goals that give none).",
        read_only=False,
        range=(0.001, 3.2),
    ),
    P(
        "trajectory_goal_tolerance_rad",
        0.1,
        "ur5e: the trajectory controller's goal tolerance per joint (goals that give none).",
        read_only=False,
        range=(0.001, 3.2),
    ),
    P(
        "g1_publish_lowstate",
        True,
        "g1: publish /lowstate; false stops the stream (a fault for the arm bridge's tests).",
        read_only=False,
    ),
)


@dataclass(frozen=True)
class SimNodeConfig:
    seed: int
    robot: str
    rate_hz: float
    realtime: bool
    width: int
    height: int
    base_frame: str
    camera_link_frame: str
    camera_optical_frame: str
    object_frame_prefix: str
    depth_encoding: str
    publish_clock: bool
    frames_dir: str
    g1_publish_lowstate: bool = True


def read_config(values: dict[str, Any]) -> SimNodeConfig:
    """The config of parameter values; ValueError naming the bad value."""
    rate = float(values["rate_hz"])
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate_hz must be positive, got {values['rate_hz']!r}")
    encoding = str(values["depth_encoding"])
    if encoding not in ("16UC1", "32FC1"):
        raise ValueError(f"depth_encoding must be 16UC1 or 32FC1, got {encoding!r}")
    for name in ("base_frame", "camera_link_frame", "camera_optical_frame"):
        if not str(values[name]).strip():
            raise ValueError(f"{name} must not be empty")
    for name in ("width", "height"):
        if int(values[name]) < 16:
            raise ValueError(f"{name} must be >= 16, got {values[name]!r}")
    if int(values["seed"]) < 0:
        raise ValueError(f"seed must be >= 0, got {values['seed']!r}")
    return SimNodeConfig(
        seed=int(values["seed"]),
        robot=str(values["robot"]),
        rate_hz=rate,
        realtime=bool(values["realtime"]),
        width=int(values["width"]),
        height=int(values["height"]),
        base_frame=str(values["base_frame"]),
        camera_link_frame=str(values["camera_link_frame"]),
        camera_optical_frame=str(values["camera_optical_frame"]),
        object_frame_prefix=str(values["object_frame_prefix"]),
        depth_encoding=encoding,
        publish_clock=bool(values["publish_clock"]),
        frames_dir=str(values["frames_dir"]),
        g1_publish_lowstate=bool(values["g1_publish_lowstate"]),
    )


def declare_and_read(node: Node) -> SimNodeConfig:
    declare_parameters(node, SIM_NODE_PARAMETERS)
    return read_config(
        {spec.name: node.get_parameter(spec.name).value for spec in SIM_NODE_PARAMETERS}
    )
