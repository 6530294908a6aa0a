"""The stand-in interfaces in interfaces/ against upstream: each one's RIHS01 type hash,
computed by rosidl from the files (scripts/interface_hashes.py), must be the hash of upstream's
definition (recorded below). A field of the wrong type or name, a missing constant or a reordered
line changes the hash.

Upstream: moveit_msgs 2.6.0 (branch ros2), control_msgs 6.8.0 (master), octomap_msgs 2.0.0 and
object_recognition_msgs 2.0.0 (branch ros2): the hashes were computed with the same script from
those repositories' files, against the message packages of ROS 2 Kilted's wheels.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STANDINS = ("octomap_msgs", "object_recognition_msgs", "moveit_msgs", "control_msgs")

UPSTREAM_RIHS01 = {
    "control_msgs/action/FollowJointTrajectory": (
        "RIHS01_ff29901b2693f5deb847e96084a1c2cdb26e70b7c847be21859b70a55fb29cf0"
    ),
    "control_msgs/action/GripperCommand": (
        "RIHS01_e17c0e644eccf14bea84a0a93e0977182872c2eb7873ca6694900059b46dbc84"
    ),
    "control_msgs/msg/GripperCommand": (
        "RIHS01_57eb8f326c9889ca8bb34ead82cc94cc09bf6bc5c3b6c09546dca3a00b589890"
    ),
    "control_msgs/msg/JointComponentTolerance": (
        "RIHS01_739ea7566931944d33830fa10f1bf5e7a7fbdc3172bce7a7eaac642bd6e3ffa4"
    ),
    "control_msgs/msg/JointTolerance": (
        "RIHS01_c254f9cece0f3b733017b6990fd46d1326e25242d6b8844398c97d9a88e7d648"
    ),
    "moveit_msgs/action/ExecuteTrajectory": (
        "RIHS01_e1ed3386f275fc8cea91cc78701074f892e78e583be2f8063eea5616dd1065fc"
    ),
    "moveit_msgs/action/MoveGroup": (
        "RIHS01_8c41d70908a2d26b564ddac31e9710f697a753bbd2a4d229542f76271daefc0b"
    ),
    "moveit_msgs/msg/AllowedCollisionEntry": (
        "RIHS01_eeb7cc3f1bfdb8c778aa7454ae90037c2749dab3ca0abdfe3dad2ae8723977db"
    ),
    "moveit_msgs/msg/AllowedCollisionMatrix": (
        "RIHS01_ac0159eec0d99f73158c7349c9d1c01b3dc7f749d75a2ea22e74a2a1091a9b05"
    ),
    "moveit_msgs/msg/AttachedCollisionObject": (
        "RIHS01_7fdfe7951a33a857f20fc42c9ed410a38d06dd0c209ac774ecea746dc487dc41"
    ),
    "moveit_msgs/msg/BoundingVolume": (
        "RIHS01_00bb0df2edac637497dedf1778d8f217187c8d9d10f41dcfccc4d8578123ef13"
    ),
    "moveit_msgs/msg/CartesianPoint": (
        "RIHS01_bbb5a879e7dd5b8443c3ce8cf374c3f314522a5540b1b4104a7b470fcc6ca907"
    ),
    "moveit_msgs/msg/CartesianTrajectory": (
        "RIHS01_30452179003246bb9264a44854a4b720c882f63638da8da0a9afed4f565c748d"
    ),
    "moveit_msgs/msg/CartesianTrajectoryPoint": (
        "RIHS01_63b1d2ef10058a5da0931e4de777a10fdfed3972ab166c60632f4a182b7fd5ea"
    ),
    "moveit_msgs/msg/CollisionObject": (
        "RIHS01_74b0acd6d56be032bf4f764b2c2633f50588b5fb2bd71e97206c59052747cf7e"
    ),
    "moveit_msgs/msg/Constraints": (
        "RIHS01_71718200459ae8fecdc4f2c9631215f7eba5ff686c701a32e231ba8b11b3592b"
    ),
    "moveit_msgs/msg/GenericTrajectory": (
        "RIHS01_b38b4942aba82576ec047a9278c47785022ce66ca86d91827aba06cdc97793c6"
    ),
    "moveit_msgs/msg/JointConstraint": (
        "RIHS01_4996641a8e12f5b7fde07f1cec1490324e1c4035ac5fc989ce99c9600c31e30d"
    ),
    "moveit_msgs/msg/LinkPadding": (
        "RIHS01_864762d9e19f758b0385427f75691374cae830495727c96405f2bad0eb20c766"
    ),
    "moveit_msgs/msg/LinkScale": (
        "RIHS01_4666a0685f26365ccf4c9bfed0b14c654604fa0564be65c221d8d54fdc7a0f83"
    ),
    "moveit_msgs/msg/MotionPlanRequest": (
        "RIHS01_f82ed20da5f8f93146999c1a3cfe34b56b97fc10333b40cac69782a1210888d7"
    ),
    "moveit_msgs/msg/MoveItErrorCodes": (
        "RIHS01_dcda8a9950cf6dd6ac221c2c0d2509f52f136afa0403dd19beacdf07e83e4a07"
    ),
    "moveit_msgs/msg/ObjectColor": (
        "RIHS01_4f937f7b22942a9c4a6409c20255aaad1b5d9a003ae3c0edb779698be443c127"
    ),
    "moveit_msgs/msg/OrientationConstraint": (
        "RIHS01_7a1917ac47886eb1fc170317952198b203bb797f07270475a7bbaf692cad2871"
    ),
    "moveit_msgs/msg/PlanningOptions": (
        "RIHS01_2570a8ed681162d1d3afbce3a8e7ff2b6fd519676d13cf952e0a388072b255db"
    ),
    "moveit_msgs/msg/PlanningScene": (
        "RIHS01_0f58540ad5eab4b9ea827d53b763c793d8cabd202b3b301fcee25afa4ce1bd80"
    ),
    "moveit_msgs/msg/PlanningSceneWorld": (
        "RIHS01_e08e6a4a81ca6b6a6953ac758dadc2c949555093efea6a9a22d9accf62c2c099"
    ),
    "moveit_msgs/msg/PositionConstraint": (
        "RIHS01_3758504dabfe337a1a660b29917e3405e5e858fdd6e9976edba04275396523df"
    ),
    "moveit_msgs/msg/RobotState": (
        "RIHS01_7c516dc15713e545cb2836c5ca745fbdcfcc10de4855a41c83e6b4bf1afc3f83"
    ),
    "moveit_msgs/msg/RobotTrajectory": (
        "RIHS01_af1dc87fb94d13e5f233e9c210d2662fa06143a8b3c6aec47c57ad45074fcce8"
    ),
    "moveit_msgs/msg/TrajectoryConstraints": (
        "RIHS01_4975a7925aa917c5af450713fcb8bdbc19c666d0c336a5f27056733bf8fc65f8"
    ),
    "moveit_msgs/msg/VisibilityConstraint": (
        "RIHS01_2b479935307de421623221520ee5d9ffab494af7f4b1945114fc7e4831856c75"
    ),
    "moveit_msgs/msg/WorkspaceParameters": (
        "RIHS01_5001636b05e9fef44faf0220f88552cab9954e55dd3ab51075f448e9aa59186e"
    ),
    "moveit_msgs/srv/GetCartesianPath": (
        "RIHS01_b19f501df5d378141d918199894c3ad24533e76021a880b15dc5d62fec8d7b1a"
    ),
    "object_recognition_msgs/msg/ObjectType": (
        "RIHS01_5eb3ee3976403366d7c50d7dbee8bec96b3bced1e752674a7194a35841632134"
    ),
    "octomap_msgs/msg/Octomap": (
        "RIHS01_9891a19a05b70ec20aa8f45db3f8300b9ab80afff32c61c549d25087da9625b0"
    ),
    "octomap_msgs/msg/OctomapWithPose": (
        "RIHS01_e65f8760aa96a2acef86b6d206175cfc78420082b6159dd3fa6ebf93f5f81979"
    ),
}


def _type_hashes(package_dirs: list[Path]) -> dict[str, str]:
    """scripts/interface_hashes.py's type_hashes (the script is not a module of the package)."""
    spec = importlib.util.spec_from_file_location(
        "interface_hashes", ROOT / "scripts" / "interface_hashes.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hashes: dict[str, str] = module.type_hashes(package_dirs)
    return hashes


@pytest.fixture(scope="module")
def standin_hashes() -> dict[str, str]:
    pytest.importorskip("rosidl_generator_type_description")
    return _type_hashes([ROOT / "interfaces" / name for name in STANDINS])


def test_every_standin_file_has_an_upstream_hash(standin_hashes: dict[str, str]) -> None:
    files = {
        f"{package}/{path.parent.name}/{path.stem}"
        for package in STANDINS
        for path in (ROOT / "interfaces" / package).glob("*/*")
        if path.suffix in (".msg", ".srv", ".action")
    }
    assert files == set(UPSTREAM_RIHS01)


@pytest.mark.parametrize("type_name", sorted(UPSTREAM_RIHS01))
def test_standin_hash_is_upstreams(standin_hashes: dict[str, str], type_name: str) -> None:
    assert standin_hashes[type_name] == UPSTREAM_RIHS01[type_name]


def test_a_changed_field_changes_the_hash(tmp_path: Path) -> None:
    """The check can fail: one field renamed in a copy of control_msgs gives another hash."""
    pytest.importorskip("rosidl_generator_type_description")
    import shutil

    copy = tmp_path / "control_msgs"
    shutil.copytree(ROOT / "interfaces" / "control_msgs", copy)
    command = copy / "msg" / "GripperCommand.msg"
    command.write_text(command.read_text().replace("max_effort", "max_force"))
    changed = _type_hashes([copy])
    name = "control_msgs/msg/GripperCommand"
    assert changed[name] != UPSTREAM_RIHS01[name]
    assert (
        changed["control_msgs/action/GripperCommand"]
        != UPSTREAM_RIHS01["control_msgs/action/GripperCommand"]
    )


def test_the_installed_standins_import() -> None:
    """The set-up built them (or a system install provides them): the backend can load them."""
    from control_msgs.action import FollowJointTrajectory, GripperCommand
    from moveit_msgs.action import ExecuteTrajectory, MoveGroup
    from moveit_msgs.srv import GetCartesianPath

    assert MoveGroup.Goal().request.goal_constraints == []
    assert GetCartesianPath.Request().max_step == 0.0
    assert hasattr(ExecuteTrajectory.Result().error_code, "val")
    assert FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED == -4
    assert GripperCommand.Goal().command.max_effort == 0.0
