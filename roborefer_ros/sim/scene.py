"""Build a MuJoCo tabletop from a SceneSpec with ``mujoco.MjSpec`` and render it.

Primitives only (cylinders, spheres, boxes) plus the robot's meshes, no textures, no shadows, so a
640x480 RGB + depth + segmentation frame renders in a fraction of a second on a CPU (llvmpipe).
Objects are static bodies by default: the scene is for perception ground truth, not for physics.
With ``dynamic_objects=True`` every object gets a free joint and the masses and friction of
``physics.OBJECT_PHYSICS``, so it rests on the table under gravity and can be grasped; a frame
rendered before the first physics step is identical to the static scene's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.transforms import Transform, matrix_to_quat
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.camera_rig import CameraMotion, mujoco_quat_wxyz
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.physics import OBJECT_PHYSICS
from roborefer_ros.sim.render import SEG_NONE, SEG_ROBOT, SEG_TABLE, FrameRenderer, RenderedFrame
from roborefer_ros.sim.robots import ROBOT_PREFIX, RobotVariant, robot_variant, scene_layout
from roborefer_ros.sim.spec import (
    CUP_HANDLE_FRACTION,
    ObjectKind,
    ObjectSpec,
    SceneSpec,
    sample_scene_spec,
)

CAMERA_NAME = "rgbd"
_TABLE_BODY = "table"
_EXTENT_M = 2.0  # fixes the clip planes: near = 0.02 * extent, far = 5 * extent
_LEG_HALF_M = 0.025


class SimScene:
    """A compiled scene: its spec, MuJoCo model and data, and a lazily created renderer.

    Render on the thread that called ``render`` first (the GL context lives there); ``close``
    frees the context. Usable as a context manager.
    """

    def __init__(
        self, spec: SceneSpec, robot: RobotVariant, *, dynamic_objects: bool = False
    ) -> None:
        mujoco = import_mujoco()
        self.spec = spec
        self.robot_name = robot.name
        self.dynamic_objects = dynamic_objects
        self._mujoco = mujoco
        self.model: Any = build_mjspec(spec, robot, dynamic_objects=dynamic_objects).compile()
        self.data: Any = mujoco.MjData(self.model)
        home = robot.home_qpos()
        for joint, angle in home.items():
            self.data.joint(joint).qpos[0] = angle
        _hold_position_servos(self.model, self.data, home)
        mujoco.mj_forward(self.model, self.data)
        self._camera_id = int(self.model.camera(CAMERA_NAME).id)
        self.geom_labels = _geom_labels(self.model, spec)
        self._renderer: FrameRenderer | None = None

    def body_pose(self, name: str) -> Transform:
        """``T_base_from_body`` of a body of the compiled scene at the current physics state,
        e.g. ``robot/torso_link`` (the G1's plan frame); SimError for an unknown body."""
        try:
            body = self.data.body(name)
        except KeyError:
            raise SimError(f"the scene has no body {name!r}") from None
        w, x, y, z = (float(c) for c in body.xquat)
        p = body.xpos
        return Transform((float(p[0]), float(p[1]), float(p[2])), (x, y, z, w))

    def site_pose(self, name: str) -> Transform:
        """``T_base_from_site`` of a site (e.g. ``robot/attachment_site``, the UR5e's flange)."""
        try:
            site = self.data.site(name)
        except KeyError:
            raise SimError(f"the scene has no site {name!r}") from None
        p = site.xpos
        quat = matrix_to_quat(np.asarray(site.xmat, dtype=np.float64).reshape(3, 3))
        return Transform((float(p[0]), float(p[1]), float(p[2])), quat)

    @property
    def camera_model(self) -> CameraModel:
        return self.spec.camera.camera_model()

    def camera_pose_at(self, t_s: float) -> Transform:
        """``T_base_from_optical`` at scene time ``t_s``."""
        return self.spec.camera.pose_at(t_s)

    def render(self, t_s: float = 0.0) -> RenderedFrame:
        """Move the camera to its pose at ``t_s`` and render RGB, depth and labels."""
        pose = self.camera_pose_at(t_s)
        self.model.cam_pos[self._camera_id] = pose.translation
        self.model.cam_quat[self._camera_id] = mujoco_quat_wxyz(pose)
        self._mujoco.mj_kinematics(self.model, self.data)
        self._mujoco.mj_camlight(self.model, self.data)
        if self._renderer is None:
            self._renderer = FrameRenderer(
                self.model, self.spec.camera.width, self.spec.camera.height
            )
        rgb, depth, geom_ids = self._renderer.render(self.data, CAMERA_NAME)
        labels = np.where(geom_ids >= 0, self.geom_labels[geom_ids], SEG_NONE).astype(np.int32)
        return RenderedFrame(t_s, rgb, depth, labels, self.camera_model, pose)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SimScene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_scene(
    seed: int,
    robot: str = "ur5e",
    *,
    n_objects: int | None = None,
    width: int = 640,
    height: int = 480,
    camera_motion: CameraMotion | None = None,
    dynamic_objects: bool = False,
    draw: int = 0,
) -> SimScene:
    """The scene of ``seed`` (its ``draw``-th, see ``sample_scene_spec``): ``sample_scene_spec``
    then compile with the named robot variant. ``dynamic_objects``: free, graspable objects
    under gravity (see the module docstring)."""
    variant = robot_variant(robot)
    table, camera, count = scene_layout(variant, width, height)
    spec = sample_scene_spec(
        seed,
        n_objects=n_objects if n_objects is not None else count,
        width=width,
        height=height,
        camera_motion=camera_motion,
        table=table,
        camera=camera,
        draw=draw,
    )
    return SimScene(spec, variant, dynamic_objects=dynamic_objects)


def build_mjspec(spec: SceneSpec, robot: RobotVariant, *, dynamic_objects: bool = False) -> Any:
    """The ``mujoco.MjSpec`` of a scene: floor, table, objects, lights, camera and robot."""
    mujoco = import_mujoco()
    mj = mujoco.MjSpec()
    mj.modelname = f"tabletop_{spec.seed}"
    mj.stat.extent = _EXTENT_M
    mj.visual.map.znear = 0.02
    mj.visual.map.zfar = 5.0
    mj.visual.global_.offwidth = spec.camera.width
    mj.visual.global_.offheight = spec.camera.height
    mj.visual.headlight.ambient = [spec.ambient] * 3
    mj.visual.headlight.diffuse = [0.25] * 3
    mj.visual.headlight.specular = [0.0] * 3
    world = mj.worldbody
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[4.0, 4.0, 0.1],
        pos=[0.0, 0.0, -spec.table.height_m],
        rgba=list(spec.floor_rgba),
    )
    _add_table(mj, spec)
    for obj in spec.objects:
        _add_object(mj, obj, dynamic_objects)
    for i, light in enumerate(spec.lights):
        world.add_light(
            name=f"light{i}",
            type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
            dir=list(light.direction),
            pos=[0.5, 0.0, 2.0],
            diffuse=[light.diffuse] * 3,
            specular=[0.15] * 3,
            castshadow=False,
        )
    pose = spec.camera.pose_at(0.0)
    world.add_camera(
        name=CAMERA_NAME,
        pos=list(pose.translation),
        quat=list(mujoco_quat_wxyz(pose)),
        fovy=spec.camera.fovy_deg,
    )
    robot.add_to(mj)  # the robot brings its integrator (implicitfast for the UR5e's stiff servos)
    return mj


def _hold_position_servos(model: Any, data: Any, home: Mapping[str, float]) -> None:
    """Set the control of every joint position servo of a homed joint to its home angle, so the
    robot stays where it is put when physics runs before a backend takes over."""
    for actuator in range(int(model.nu)):
        joint = int(model.actuator_trnid[actuator, 0])
        is_servo = float(model.actuator_biasprm[actuator, 1]) < 0.0
        on_joint = int(model.actuator_trntype[actuator]) == 0  # mjTRN_JOINT
        name = str(model.joint(joint).name) if on_joint and joint >= 0 else ""
        if is_servo and name in home:
            data.ctrl[actuator] = home[name]


def _add_table(mj: Any, spec: SceneSpec) -> None:
    mujoco = import_mujoco()
    table = spec.table
    body = mj.worldbody.add_body(name=_TABLE_BODY)
    (x0, x1), (y0, y1) = table.x_range_m, table.y_range_m
    box = mujoco.mjtGeom.mjGEOM_BOX
    body.add_geom(
        name="table_top",
        type=box,
        size=[(x1 - x0) / 2, (y1 - y0) / 2, table.thickness_m / 2],
        pos=[(x0 + x1) / 2, (y0 + y1) / 2, -table.thickness_m / 2],
        rgba=list(table.rgba),
    )
    leg_half_h = (table.height_m - table.thickness_m) / 2
    for i, (x, y) in enumerate([(x0, y0), (x0, y1), (x1, y0), (x1, y1)]):
        inset_x = x + (0.06 if x == x0 else -0.06)
        inset_y = y + (0.06 if y == y0 else -0.06)
        body.add_geom(
            name=f"table_leg{i}",
            type=box,
            size=[_LEG_HALF_M, _LEG_HALF_M, leg_half_h],
            pos=[inset_x, inset_y, -table.thickness_m - leg_half_h],
            rgba=[0.2, 0.2, 0.2, 1.0],
        )


def _add_object(mj: Any, obj: ObjectSpec, dynamic: bool = False) -> None:
    """One body per object, static or free (``dynamic``); its geoms are named
    ``<object name>/...``."""
    mujoco = import_mujoco()
    half = obj.yaw_rad / 2
    body = mj.worldbody.add_body(
        name=obj.name, pos=list(obj.position_m), quat=[math.cos(half), 0.0, 0.0, math.sin(half)]
    )
    if dynamic:
        body.add_freejoint(name=f"{obj.name}/free")
    rgba = list(obj.rgba)
    r, _, hz = obj.dims_m
    if obj.kind is ObjectKind.APPLE:
        body.add_geom(
            name=f"{obj.name}/body", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[r, 0, 0], rgba=rgba
        )
        # Drawn, not felt: a real stalk sits in its cavity and bends, it does not prop the apple
        # up (a rigid stem let an apple turned in the grasp land on it and roll away).
        body.add_geom(
            name=f"{obj.name}/stem",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[0.003, 0.008, 0],
            pos=[0.0, 0.0, r + 0.004],
            rgba=[0.3, 0.2, 0.1, 1.0],
            contype=0,
            conaffinity=0,
        )
    elif obj.kind is ObjectKind.BOX:
        body.add_geom(
            name=f"{obj.name}/body",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=list(obj.dims_m),
            rgba=rgba,
        )
    else:
        body.add_geom(
            name=f"{obj.name}/body", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[r, hz, 0], rgba=rgba
        )
    if obj.kind is ObjectKind.CUP:
        fx, fy, fz = CUP_HANDLE_FRACTION
        body.add_geom(
            name=f"{obj.name}/handle",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[fx * r, fy * r, fz * hz],
            pos=[r + fx * r, 0.0, 0.0],
            rgba=rgba,
        )
    if dynamic:
        _make_physical(body, obj)


def _make_physical(body: Any, obj: ObjectSpec) -> None:
    """Mass (from density) and friction of every geom of a free object."""
    physics = OBJECT_PHYSICS[obj.kind]
    for geom in body.geoms:
        geom.density = physics.density_kg_m3
        geom.friction = list(physics.friction)
        geom.condim = physics.condim


def _geom_labels(model: Any, spec: SceneSpec) -> npt.NDArray[np.int32]:
    """Label of every geom id: its object's index, SEG_TABLE, SEG_ROBOT or SEG_NONE."""
    by_body = {obj.name: obj.index for obj in spec.objects}
    labels = np.full(int(model.ngeom), SEG_NONE, dtype=np.int32)
    for geom_id in range(int(model.ngeom)):
        body_name = str(model.body(int(model.geom_bodyid[geom_id])).name)
        if body_name in by_body:
            labels[geom_id] = by_body[body_name]
        elif body_name == _TABLE_BODY:
            labels[geom_id] = SEG_TABLE
        elif body_name.startswith(ROBOT_PREFIX):
            labels[geom_id] = SEG_ROBOT
    if not set(by_body.values()) <= set(labels.tolist()):
        raise SimError(f"some objects of scene {spec.seed} have no geoms after compiling")
    return labels
