"""The g1 manipulation backend's parameters (declared on pick_place_node when
``manipulation_backend`` is ``g1``), and their reading into a frozen, validated config.

``G1_PARAMETERS`` is also what ``tools/config_check`` accepts in a ``pick_place_node`` section.
All are read-only: a limit changed under a running arm stream would make its checks lie.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roborefer_ros.manipulation.g1.arm_sdk import V_MAX_CAP_RAD_S, StreamerConfig
from roborefer_ros.manipulation.g1.bridge import G1BridgeConfig
from roborefer_ros.manipulation.g1.hands import HandConfig
from roborefer_ros.manipulation.g1.kinematics import IkOptions
from roborefer_ros.ros.params import ParameterSpec

P = ParameterSpec
G1_PARAMETERS: tuple[ParameterSpec, ...] = (
    P("g1_arm_sdk_topic", "/arm_sdk", "g1: LowCmd topic of the arm_sdk blend (never /lowcmd)."),
    P("g1_lowstate_topic", "/lowstate", "g1: LowState topic (joints, mode_machine)."),
    P("g1_hand_cmd_topic", "/dex3/{side}/cmd", "g1: HandCmd topic; {side} = left / right."),
    P("g1_hand_state_topic", "/lf/dex3/{side}/state", "g1: HandState topic; {side} as above."),
    P("g1_control_rate_hz", 50.0, "g1: arm_sdk command rate.", range=(20.0, 500.0)),
    P(
        "g1_max_joint_velocity_rad_s",
        0.6,
        f"g1: per-joint speed limit (capped at {V_MAX_CAP_RAD_S} rad/s).",
        range=(0.05, V_MAX_CAP_RAD_S),
    ),
    P("g1_ramp_in_s", 1.5, "g1: arm_sdk weight 0 -> 1 (take over).", range=(0.5, 5.0)),
    P("g1_ramp_out_s", 1.5, "g1: arm_sdk weight 1 -> 0 (release).", range=(0.5, 5.0)),
    P("g1_kp", 60.0, "g1: arm joint stiffness.", range=(1.0, 100.0)),
    P("g1_kd", 1.5, "g1: arm joint damping.", range=(0.0, 5.0)),
    P(
        "g1_joint_limit_margin_rad",
        0.05,
        "g1: targets stay this far inside the limits.",
        range=(0.0, 0.5),
    ),
    P("g1_state_timeout_s", 0.1, "g1: abort when LowState is older.", range=(0.01, 1.0)),
    P(
        "g1_expected_mode_machine",
        5,
        "g1: LowState mode_machine (5 = 29-DoF rev 1.0).",
        range=(0, 255),
    ),
    P(
        "g1_tracking_error_rad",
        0.25,
        "g1: abort above this joint tracking error.",
        range=(0.02, 1.0),
    ),
    P("g1_abort_hold_s", 0.3, "g1: hold time after an abort before releasing.", range=(0.0, 5.0)),
    P("g1_hold_waist", True, "g1: command the waist (slots 12-14) to its measured angles."),
    P(
        "g1_turn_waist",
        True,
        "g1: when no arm reaches a plan with the waist held, turn the waist yaw (by up to 0.5 "
        "rad) for the whole plan; needs g1_hold_waist.",
    ),
    P(
        "g1_tcp_offset_m",
        0.10,
        "g1: TCP distance ahead of the palm link (finger direction).",
        range=(0.0, 0.3),
    ),
    P(
        "g1_tcp_lateral_m",
        0.0,
        "g1: TCP offset along the palm's y towards the thumb (right +y, left -y).",
        range=(-0.1, 0.1),
    ),
    P(
        "g1_palm_overlap_m",
        -1.0,
        "g1: grip an object wider than the hand's room off the palm's edge: move the TCP towards "
        "the thumb until the object reaches at most this far into the palm's band (< 0: off; "
        "config/g1.yaml: 0.01 for the Dex3).",
        range=(-1.0, 0.1),
    ),
    P(
        "g1_palm_face_lateral_m",
        0.023,
        "g1: the open hand's palm and fingers reach this far from the palm link towards the "
        "thumb (Dex3 URDF); used with g1_palm_overlap_m.",
        range=(0.0, 0.1),
    ),
    P(
        "g1_gravity_feedforward",
        True,
        "g1: send the upper body's gravity torques (URDF inertias) as MotorCmd.tau.",
    ),
    P("g1_ik_position_tolerance_m", 0.002, "g1: IK position residual.", range=(1e-4, 0.02)),
    P(
        "g1_place_position_tolerance_m",
        0.015,
        "g1: a place/retreat pose the IK reaches only to within this is accepted (a grasp "
        "keeps g1_ik_position_tolerance_m).",
        range=(1e-4, 0.05),
    ),
    P("g1_ik_orientation_tolerance_rad", 0.1, "g1: IK orientation residual.", range=(1e-3, 3.2)),
    P(
        "g1_ik_orientation_weight",
        0.3,
        "g1: IK orientation weight; 0 = position only.",
        range=(0.0, 10.0),
    ),
    P("g1_linear_step_m", 0.01, "g1: IK spacing along LINEAR steps.", range=(0.001, 0.1)),
    P(
        "g1_goal_tolerance_rad",
        0.05,
        "g1: measured joints within this ends a step.",
        range=(0.001, 0.5),
    ),
    P("g1_settle_timeout_s", 3.0, "g1: how long a step waits for the joints.", range=(0.1, 30.0)),
    P("g1_hand_kp", 1.5, "g1: Dex3 stiffness.", range=(0.1, 5.0)),
    P("g1_hand_kd", 0.15, "g1: Dex3 damping.", range=(0.0, 1.0)),
    P(
        "g1_hand_close_fraction",
        0.8,
        "g1: how far the fingers close (of their range).",
        range=(0.0, 1.0),
    ),
    P(
        "g1_hand_duration_s",
        0.8,
        "g1: how long OPEN / CLOSE stream the hand command.",
        range=(0.1, 10.0),
    ),
    P(
        "g1_empty_grasp_closure",
        0.95,
        "g1: after the lift, a hand whose closing joints all reached this share of their travel "
        "holds nothing (GRASP_FAILED); 0 = not checked.",
        range=(0.0, 1.0),
    ),
    P(
        "g1_check_scene",
        True,
        "g1: check each plan's place half against the head camera's depth (a height map).",
    ),
    P(
        "g1_depth_topic",
        "aligned_depth_to_color/image_raw",
        "g1: depth image for the scene check (remap like the refer node's).",
    ),
    P("g1_camera_info_topic", "color/camera_info", "g1: camera_info of that depth image."),
    P(
        "g1_scene_max_age_s",
        2.0,
        "g1: an older depth frame is not used (the plan runs unchecked).",
        range=(0.05, 60.0),
    ),
    P("g1_fill_crc", True, "g1: fill LowCmd.crc (upstream arm_sdk examples leave it 0)."),
    P("g1_urdf_path", "", "g1: G1 URDF; empty = example-robot-data's g1_29dof_with_hand_rev_1_0."),
)


@dataclass(frozen=True)
class G1Topics:
    arm_sdk: str
    lowstate: str
    hand_cmd: str  # with {side}
    hand_state: str
    depth: str = "aligned_depth_to_color/image_raw"
    camera_info: str = "color/camera_info"

    def hand_cmd_for(self, side: str) -> str:
        return self.hand_cmd.format(side=side)

    def hand_state_for(self, side: str) -> str:
        return self.hand_state.format(side=side)


@dataclass(frozen=True)
class G1BackendConfig:
    bridge: G1BridgeConfig
    topics: G1Topics
    fill_crc: bool
    urdf_path: Path | None
    gravity_feedforward: bool = True
    check_scene: bool = True
    scene_max_age_s: float = 2.0
    turn_waist: bool = True


def read_g1_config(values: dict[str, Any], plan_frame: str) -> G1BackendConfig:
    """Validated config from parameter values; ValueError names the bad one."""
    for name in ("g1_hand_cmd_topic", "g1_hand_state_topic"):
        text = str(values[name])
        if text.replace("{side}", "") == text or "{" in text.replace("{side}", ""):
            raise ValueError(f"{name} must contain {{side}} (and no other field), got {text!r}")
    streamer = StreamerConfig(
        dt_s=1.0 / float(values["g1_control_rate_hz"]),
        v_max_rad_s=float(values["g1_max_joint_velocity_rad_s"]),
        ramp_in_s=float(values["g1_ramp_in_s"]),
        ramp_out_s=float(values["g1_ramp_out_s"]),
        kp=float(values["g1_kp"]),
        kd=float(values["g1_kd"]),
        limit_margin_rad=float(values["g1_joint_limit_margin_rad"]),
        state_timeout_s=float(values["g1_state_timeout_s"]),
        expected_mode_machine=int(values["g1_expected_mode_machine"]),
        tracking_error_rad=float(values["g1_tracking_error_rad"]),
        abort_hold_s=float(values["g1_abort_hold_s"]),
        hold_waist=bool(values["g1_hold_waist"]),
    )
    ik = IkOptions(
        tcp_offset_m=float(values["g1_tcp_offset_m"]),
        tcp_lateral_m=float(values["g1_tcp_lateral_m"]),
        orientation_weight=float(values["g1_ik_orientation_weight"]),
        position_tolerance_m=float(values["g1_ik_position_tolerance_m"]),
        orientation_tolerance_rad=float(values["g1_ik_orientation_tolerance_rad"]),
    )
    hand = HandConfig(
        kp=float(values["g1_hand_kp"]),
        kd=float(values["g1_hand_kd"]),
        close_fraction=float(values["g1_hand_close_fraction"]),
    )
    bridge = G1BridgeConfig(
        plan_frame=plan_frame,
        streamer=streamer,
        ik=ik,
        hand=hand,
        linear_step_m=float(values["g1_linear_step_m"]),
        goal_tolerance_rad=float(values["g1_goal_tolerance_rad"]),
        settle_timeout_s=float(values["g1_settle_timeout_s"]),
        hand_duration_s=float(values["g1_hand_duration_s"]),
        empty_grasp_closure=float(values["g1_empty_grasp_closure"]) or None,
        place_position_tolerance_m=float(values["g1_place_position_tolerance_m"]),
        palm_face_lateral_m=float(values["g1_palm_face_lateral_m"]),
        palm_overlap_m=overlap if (overlap := float(values["g1_palm_overlap_m"])) >= 0 else None,
    )
    topics = G1Topics(
        arm_sdk=str(values["g1_arm_sdk_topic"]),
        lowstate=str(values["g1_lowstate_topic"]),
        hand_cmd=str(values["g1_hand_cmd_topic"]),
        hand_state=str(values["g1_hand_state_topic"]),
        depth=str(values["g1_depth_topic"]),
        camera_info=str(values["g1_camera_info_topic"]),
    )
    urdf = str(values["g1_urdf_path"]).strip()
    return G1BackendConfig(
        bridge,
        topics,
        bool(values["g1_fill_crc"]),
        Path(urdf) if urdf else None,
        bool(values["g1_gravity_feedforward"]),
        bool(values["g1_check_scene"]),
        float(values["g1_scene_max_age_s"]),
        bool(values["g1_turn_waist"]) and streamer.hold_waist,
    )


def g1_default_values() -> dict[str, Any]:
    return {spec.name: spec.default for spec in G1_PARAMETERS}
