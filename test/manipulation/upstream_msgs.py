"""Message test doubles built from the upstream field lists (moveit_msgs, shape_msgs,
control_msgs, geometry_msgs, std_msgs), so the fillers can be checked without those packages.

Each definition below lists the fields of the upstream .msg (ros2 branch; comments dropped).
A double refuses unknown attribute names (as rclpy's ``__slots__`` do), checks field types
(float64 wants a float, like rclpy's setters; nested messages want their own double) and bounded
sequences. Types we never write into are opaque.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

DEFINITIONS: dict[str, str] = {
    "builtin_interfaces/Time": "int32 sec\nuint32 nanosec",
    "std_msgs/Header": "builtin_interfaces/Time stamp\nstring frame_id",
    "geometry_msgs/Point": "float64 x\nfloat64 y\nfloat64 z",
    "geometry_msgs/Vector3": "float64 x\nfloat64 y\nfloat64 z",
    "geometry_msgs/Quaternion": "float64 x\nfloat64 y\nfloat64 z\nfloat64 w",
    "geometry_msgs/Pose": "Point position\nQuaternion orientation",
    "shape_msgs/SolidPrimitive": """
        uint8 BOX=1
        uint8 SPHERE=2
        uint8 CYLINDER=3
        uint8 CONE=4
        uint8 PRISM=5
        uint8 type
        float64[<=3] dimensions
        uint8 BOX_X=0
        uint8 BOX_Y=1
        uint8 BOX_Z=2
        uint8 SPHERE_RADIUS=0
        uint8 CYLINDER_HEIGHT=0
        uint8 CYLINDER_RADIUS=1
        uint8 CONE_HEIGHT=0
        uint8 CONE_RADIUS=1
        uint8 PRISM_HEIGHT=0
        geometry_msgs/Polygon polygon""",
    "moveit_msgs/BoundingVolume": """
        shape_msgs/SolidPrimitive[] primitives
        geometry_msgs/Pose[] primitive_poses
        shape_msgs/Mesh[] meshes
        geometry_msgs/Pose[] mesh_poses""",
    "moveit_msgs/PositionConstraint": """
        std_msgs/Header header
        string link_name
        geometry_msgs/Vector3 target_point_offset
        BoundingVolume constraint_region
        float64 weight""",
    "moveit_msgs/OrientationConstraint": """
        std_msgs/Header header
        geometry_msgs/Quaternion orientation
        string link_name
        float64 absolute_x_axis_tolerance
        float64 absolute_y_axis_tolerance
        float64 absolute_z_axis_tolerance
        uint8 parameterization
        uint8 XYZ_EULER_ANGLES=0
        uint8 ROTATION_VECTOR=1
        float64 weight""",
    "moveit_msgs/Constraints": """
        string name
        JointConstraint[] joint_constraints
        PositionConstraint[] position_constraints
        OrientationConstraint[] orientation_constraints
        VisibilityConstraint[] visibility_constraints""",
    "moveit_msgs/RobotState": """
        sensor_msgs/JointState joint_state
        sensor_msgs/MultiDOFJointState multi_dof_joint_state
        AttachedCollisionObject[] attached_collision_objects
        bool is_diff""",
    "moveit_msgs/WorkspaceParameters": """
        std_msgs/Header header
        geometry_msgs/Vector3 min_corner
        geometry_msgs/Vector3 max_corner""",
    # Iron and later (moveit_msgs#130 renamed the speed link field).
    "moveit_msgs/MotionPlanRequest": """
        WorkspaceParameters workspace_parameters
        RobotState start_state
        Constraints[] goal_constraints
        Constraints path_constraints
        TrajectoryConstraints trajectory_constraints
        GenericTrajectory[] reference_trajectories
        string pipeline_id
        string planner_id
        string group_name
        int32 num_planning_attempts
        float64 allowed_planning_time
        float64 max_velocity_scaling_factor
        float64 max_acceleration_scaling_factor
        string cartesian_speed_limited_link
        float64 max_cartesian_speed""",
    "moveit_msgs/PlanningScene": """
        string name
        RobotState robot_state
        string robot_model_name
        geometry_msgs/TransformStamped[] fixed_frame_transforms
        AllowedCollisionMatrix allowed_collision_matrix
        LinkPadding[] link_padding
        LinkScale[] link_scale
        ObjectColor[] object_colors
        PlanningSceneWorld world
        bool is_diff""",
    "moveit_msgs/PlanningOptions": """
        PlanningScene planning_scene_diff
        bool plan_only
        bool look_around
        int32 look_around_attempts
        float64 max_safe_execution_cost
        bool replan
        int32 replan_attempts
        float64 replan_delay""",
    "moveit_msgs/MoveGroup_Goal": "MotionPlanRequest request\nPlanningOptions planning_options",
    # Jazzy / Rolling GetCartesianPath request.
    "moveit_msgs/GetCartesianPath_Request": """
        std_msgs/Header header
        RobotState start_state
        string group_name
        string link_name
        geometry_msgs/Pose[] waypoints
        float64 max_step
        float64 jump_threshold
        float64 prismatic_jump_threshold
        float64 revolute_jump_threshold
        bool avoid_collisions
        Constraints path_constraints
        float64 max_velocity_scaling_factor
        float64 max_acceleration_scaling_factor
        string cartesian_speed_limited_link
        float64 max_cartesian_speed""",
    "moveit_msgs/ExecuteTrajectory_Goal": "RobotTrajectory trajectory\nstring[] controller_names",
    "control_msgs/GripperCommand": "float64 position\nfloat64 max_effort",
    "control_msgs/GripperCommand_Goal": "GripperCommand command",
}

# Humble's MotionPlanRequest: the speed link field before the rename.
HUMBLE_MOTION_PLAN_REQUEST = DEFINITIONS["moveit_msgs/MotionPlanRequest"].replace(
    "cartesian_speed_limited_link", "cartesian_speed_end_effector_link"
)
# The GetCartesianPath request fields every ROS 2 distro has (the newer ones are optional).
MINIMAL_CARTESIAN_REQUEST = """
    std_msgs/Header header
    RobotState start_state
    string group_name
    string link_name
    geometry_msgs/Pose[] waypoints
    float64 max_step
    float64 jump_threshold
    bool avoid_collisions
    Constraints path_constraints"""

_PRIMITIVE = {
    "bool": bool,
    "string": str,
    "float64": float,
    "float32": float,
    "int32": int,
    "uint32": int,
    "uint8": int,
}
_LINE = re.compile(r"^(?P<type>[\w/]+)(?P<array>\[(?P<bound><=)?(?P<size>\d*)\])?\s+(?P<name>\w+)$")
_CONST = re.compile(r"^(?P<type>\w+)\s+(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>\S+)$")


class Opaque:
    """A message type the fillers must never write into (only assign whole)."""

    __slots__ = ()


class FakeMessage:
    _fields: ClassVar[dict[str, tuple[str, bool, int | None]]] = {}
    _registry: ClassVar[dict[str, type]] = {}

    def __init__(self) -> None:
        values: dict[str, Any] = {}
        for name, (ftype, is_array, _bound) in self._fields.items():
            if is_array:
                values[name] = []
            elif ftype in _PRIMITIVE:
                values[name] = _PRIMITIVE[ftype]()
            else:
                values[name] = self._registry[ftype]()
        object.__setattr__(self, "_values", values)

    @classmethod
    def get_fields_and_field_types(cls) -> dict[str, str]:
        return {name: ftype for name, (ftype, _a, _b) in cls._fields.items()}

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name not in values:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        return values[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._fields:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        ftype, is_array, bound = self._fields[name]
        if is_array:
            assert isinstance(value, list), f"{name}: expected a list, got {type(value)}"
            assert bound is None or len(value) <= bound, f"{name}: more than {bound} items"
            for item in value:
                self._check(name, ftype, item)
        else:
            self._check(name, ftype, value)
        self._values[name] = value

    def _check(self, name: str, ftype: str, value: Any) -> None:
        if ftype in _PRIMITIVE:
            expected = _PRIMITIVE[ftype]
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            assert ok, (
                f"{type(self).__name__}.{name}: {ftype} wants {expected.__name__}, got {value!r}"
            )
            if ftype == "uint8":
                assert 0 <= value <= 255
        else:
            cls = self._registry[ftype]
            assert cls is Opaque or isinstance(value, cls), (
                f"{type(self).__name__}.{name}: wants {ftype}, got {type(value).__name__}"
            )


def build(overrides: dict[str, str] | None = None) -> dict[str, type]:
    """Double classes by full name ("moveit_msgs/Constraints"); unknown nested types are opaque."""
    definitions = {**DEFINITIONS, **(overrides or {})}
    registry: dict[str, type] = {}
    parsed: dict[str, tuple[dict[str, tuple[str, bool, int | None]], dict[str, int]]] = {}
    for full, text in definitions.items():
        package = full.split("/")[0]
        fields: dict[str, tuple[str, bool, int | None]] = {}
        constants: dict[str, int] = {}
        for raw in text.strip().splitlines():
            line = raw.strip()
            if not line:
                continue
            const = _CONST.match(line)
            if const:
                constants[const["name"]] = int(const["value"])
                continue
            m = _LINE.match(line)
            assert m, f"cannot parse {line!r} of {full}"
            ftype = m["type"]
            if ftype not in _PRIMITIVE and "/" not in ftype:
                ftype = (
                    f"{'geometry_msgs' if full.startswith('geometry_msgs') else package}/{ftype}"
                )
            if ftype == "std_msgs/Header" or ftype.endswith("/Header"):
                ftype = "std_msgs/Header"
            bound = int(m["size"]) if m["bound"] else None
            fields[m["name"]] = (ftype, m["array"] is not None, bound)
        parsed[full] = (fields, constants)
    for full, (fields, constants) in parsed.items():
        cls = type(full.split("/")[1], (FakeMessage,), {"_fields": fields, **constants})
        registry[full] = cls
    for fields, _ in parsed.values():
        for ftype, _a, _b in fields.values():
            if ftype not in _PRIMITIVE and ftype not in registry:
                registry[ftype] = Opaque
    for cls in registry.values():
        if cls is not Opaque:
            cls._registry = registry  # type: ignore[attr-defined]
    return registry
