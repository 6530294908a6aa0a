"""Simulated tabletop scenes with exact ground truth (ROS-free; needs ``mujoco``).

Set ``MUJOCO_GL=egl`` (headless) before ``mujoco`` is first imported. Typical use::

    scene = build_scene(seed=3)                      # SimScene: UR5e, table, objects, camera
    frame = scene.render(t_s=0.0)                    # RenderedFrame: rgb, depth_m, labels, ...
    queries = generate_referring(scene.spec, frame, 20, np.random.default_rng(3))
    noisy = apply_depth_noise(frame.depth_m, np.random.default_rng(3))

Importing this package does not import ``mujoco``; building or rendering a scene does.
"""

from roborefer_ros.sim.camera_rig import (
    BASE_FRAME,
    LINK_FRAME,
    OPTICAL_FRAME,
    T_LINK_FROM_OPTICAL,
    CameraMotion,
    CameraRig,
    look_at,
)
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.expressions import (
    Description,
    NounPhrase,
    OrdinalClause,
    PlaceDescription,
    RelationClause,
)
from roborefer_ros.sim.ground_truth import (
    FreeSpot,
    ObjectTruth,
    clearance_m,
    free_spots,
    interior_pixel,
    object_truths,
    point_at_pixel,
    points_base,
    project_to_pixel,
    table_disc_mask,
    table_point_visible,
)
from roborefer_ros.sim.noise import D435Noise, apply_depth_noise
from roborefer_ros.sim.referring import GeneratedQuery, generate_referring, referring_set
from roborefer_ros.sim.relations import Relation, SceneView, Side, Truth
from roborefer_ros.sim.render import SEG_NONE, SEG_ROBOT, SEG_TABLE, RenderedFrame
from roborefer_ros.sim.robots import ROBOTS, NoRobot, RobotVariant, UR5e, robot_variant
from roborefer_ros.sim.scene import SimScene, build_mjspec, build_scene
from roborefer_ros.sim.spec import (
    CUP_HANDLE_FRACTION,
    PALETTE,
    LightSpec,
    ObjectKind,
    ObjectSpec,
    SceneSpec,
    TableSpec,
    sample_scene_spec,
)

__all__ = [
    "BASE_FRAME",
    "CUP_HANDLE_FRACTION",
    "LINK_FRAME",
    "OPTICAL_FRAME",
    "PALETTE",
    "ROBOTS",
    "SEG_NONE",
    "SEG_ROBOT",
    "SEG_TABLE",
    "T_LINK_FROM_OPTICAL",
    "CameraMotion",
    "CameraRig",
    "D435Noise",
    "Description",
    "FreeSpot",
    "GeneratedQuery",
    "LightSpec",
    "NoRobot",
    "NounPhrase",
    "ObjectKind",
    "ObjectSpec",
    "ObjectTruth",
    "OrdinalClause",
    "PlaceDescription",
    "Relation",
    "RelationClause",
    "RenderedFrame",
    "RobotVariant",
    "SceneSpec",
    "SceneView",
    "Side",
    "SimError",
    "SimScene",
    "TableSpec",
    "Truth",
    "UR5e",
    "apply_depth_noise",
    "build_mjspec",
    "build_scene",
    "clearance_m",
    "free_spots",
    "generate_referring",
    "interior_pixel",
    "look_at",
    "object_truths",
    "point_at_pixel",
    "points_base",
    "project_to_pixel",
    "referring_set",
    "robot_variant",
    "sample_scene_spec",
    "table_disc_mask",
    "table_point_visible",
]
