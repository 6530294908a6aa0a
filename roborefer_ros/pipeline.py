"""The path of one request, ROS-free: freeze a frame, ask the model, lift, transform.

Every stage works on the ONE frame frozen at the start: the model sees its image, depth is read
from its depth image, and the transform is looked up at its stamp (never "latest"). Failures are
typed (``RefPointError``) and come back as a ``ReferOutcome`` with a status; nothing raises out of
``Referrer.refer``, so an adapter can always answer its caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from roborefer_ros.backends.base import Answer, Backend, PointingQuery
from roborefer_ros.backends.model_depth import ModelDepthSource
from roborefer_ros.core.config import ReferConfig
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.lifting import LiftedPoint, lift_pixel, model_to_image_pixel
from roborefer_ros.core.object_extent import ObjectExtent, estimate_extent
from roborefer_ros.core.request import Mode, ReferRequest, resolve_mode
from roborefer_ros.core.result import ReferOutcome, Stage, StageTimings, TargetPoint
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.transforms import Transform, quat_from_axes


class FrameProvider(Protocol):
    def __call__(self, min_stamp_ns: int, timeout_s: float) -> Frame:
        """The frozen frame for a request; raises RefPointError(NO_FRAME) when none comes."""
        ...


class TransformLookup(Protocol):
    def lookup(
        self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float
    ) -> Transform:
        """T_target_from_source at ``stamp_ns``; raises RefPointError(TF_ERROR)."""
        ...


StageCallback = Callable[[Stage], None]


class Referrer:
    """Runs requests against one backend and one transform source.

    ``model_depth`` makes the depth image the model is shown (None: RGB only); it is built
    inside the MODEL stage, from the same frozen frame.
    """

    def __init__(
        self,
        backend: Backend,
        transforms: TransformLookup,
        config: ReferConfig,
        clock_ns: Callable[[], int] = time.time_ns,
        model_depth: ModelDepthSource | None = None,
    ) -> None:
        self.backend = backend
        self.transforms = transforms
        self.config = config
        self.model_depth = model_depth
        self._clock_ns = clock_ns

    def refer(
        self,
        request: ReferRequest,
        frames: FrameProvider,
        on_stage: StageCallback | None = None,
    ) -> ReferOutcome:
        """Answer one request; never raises (unexpected errors become INTERNAL_ERROR)."""
        run = _Run(self, request, on_stage)
        try:
            return run.execute(frames)
        except RefPointError as err:
            return run.failed(err.status, err.message, err.raw_answer)
        except Exception as err:  # the adapter boundary: a bug must not kill the node
            return run.failed(Status.INTERNAL_ERROR, f"{type(err).__name__}: {err}")


class _Run:
    """State of one request in flight (timings and what is known so far, for error outcomes)."""

    def __init__(self, owner: Referrer, request: ReferRequest, on_stage: StageCallback | None):
        self.owner = owner
        self.cfg = owner.config  # one config for the whole request, even if a live change lands
        self.request = request
        self.on_stage = on_stage
        self.t0 = time.perf_counter()
        self.durations: dict[Stage, float] = {}
        self.frame: Frame | None = None
        self.answer: Answer | None = None
        self.mode = request.mode
        self.target_frame = request.target_frame or self.cfg.target_frame

    def _enter(self, stage: Stage) -> float:
        if self.on_stage is not None:
            self.on_stage(stage)
        return time.perf_counter()

    def _leave(self, stage: Stage, started: float) -> None:
        self.durations[stage] = time.perf_counter() - started

    def execute(self, frames: FrameProvider) -> ReferOutcome:
        cfg = self.cfg
        request = self.request.validated(cfg.max_prompt_chars)
        self.request = request

        started = self._enter(Stage.WAIT_FRAME)
        frame = frames(request.min_stamp_ns, cfg.frame_wait_timeout_s)
        self.frame = frame
        self._check_fresh(frame)
        frame.validate()
        self._leave(Stage.WAIT_FRAME, started)

        self.mode = resolve_mode(request.mode, request.prompt)
        started = self._enter(Stage.MODEL)
        model_depth = self.owner.model_depth
        query = PointingQuery(
            rgb=frame.rgb,
            instruction=request.prompt,
            mode=self.mode,
            stamp_ns=frame.stamp_ns,
            depth_for_model=model_depth(frame) if model_depth is not None else None,
            depth_source=model_depth.name if model_depth is not None else "none",
        )
        answer = self.owner.backend.point(query, cfg.model_timeout_s)
        self.answer = answer
        self._leave(Stage.MODEL, started)
        points_norm = answer.points_norm
        if request.max_points:
            points_norm = points_norm[: request.max_points]
        if not points_norm:
            raise RefPointError(
                Status.PARSE_ERROR, f"the answer has no point: {answer.raw_text[:80]!r}"
            )

        started = self._enter(Stage.LIFT)
        lifted = self._lift_all(frame, points_norm)
        extents = [self._extent(frame, point) for _, point in lifted]
        self._leave(Stage.LIFT, started)

        started = self._enter(Stage.TF)
        T_target_from_camera = self.owner.transforms.lookup(
            self.target_frame, frame.frame_id, frame.stamp_ns, cfg.tf_timeout_s
        )
        targets = tuple(
            _to_target(xy, point, T_target_from_camera, extent)
            for (xy, point), extent in zip(lifted, extents, strict=True)
        )
        self._leave(Stage.TF, started)
        n = len(targets)
        return self._outcome(
            Status.OK, f"{n} point{'s' if n != 1 else ''} in {self.target_frame}", targets
        )

    def _check_fresh(self, frame: Frame) -> None:
        max_age = self.cfg.max_frame_age_s
        if self.request.min_stamp_ns or max_age <= 0:
            return  # a caller naming min_stamp asked for that frame, however old it is now
        age_s = (self.owner._clock_ns() - frame.stamp_ns) * 1e-9
        if age_s > max_age:
            raise RefPointError(
                Status.STALE_FRAME,
                f"the newest frame is {age_s:.3f} s old (max_frame_age_s={max_age}); "
                "is the camera still publishing?",
            )

    def _lift_all(
        self, frame: Frame, points_norm: tuple[tuple[float, float], ...]
    ) -> list[tuple[tuple[float, float], LiftedPoint]]:
        cfg = self.cfg
        lifted: list[tuple[tuple[float, float], LiftedPoint]] = []
        first_error: RefPointError | None = None
        for x_norm, y_norm in points_norm:
            u, v = model_to_image_pixel(x_norm, y_norm, frame.width, frame.height)
            try:
                point = lift_pixel(
                    frame.camera,
                    frame.depth,
                    frame.depth_encoding,
                    u,
                    v,
                    self.mode,
                    window_px=cfg.depth_window_px,
                    plane_radius_px=cfg.plane_radius_px,
                    min_valid_ratio=cfg.min_valid_ratio,
                    min_range_m=cfg.min_range_m,
                    max_range_m=cfg.max_range_m,
                )
            except RefPointError as err:
                first_error = first_error or err
                continue
            lifted.append(((x_norm, y_norm), point))
        if not lifted:
            assert first_error is not None
            raise first_error  # every point failed: report why the first one did
        return lifted

    def _extent(self, frame: Frame, point: LiftedPoint) -> ObjectExtent | None:
        """The pointed object's extent in the same frozen frame (LOCATE points only)."""
        if self.mode is Mode.PLACE or not self.cfg.estimate_object_extent:
            return None
        return estimate_extent(
            frame.camera, frame.depth, frame.depth_encoding, point.pixel, point.point_camera
        )

    def _outcome(
        self,
        status: Status,
        message: str,
        points: tuple[TargetPoint, ...] = (),
        raw_answer: str = "",
    ) -> ReferOutcome:
        d = self.durations
        timings = StageTimings(
            wait_frame_s=d.get(Stage.WAIT_FRAME, 0.0),
            model_s=d.get(Stage.MODEL, 0.0),
            lift_s=d.get(Stage.LIFT, 0.0),
            tf_s=d.get(Stage.TF, 0.0),
            total_s=time.perf_counter() - self.t0,
        )
        return ReferOutcome(
            request=self.request,
            status=status,
            message=message,
            mode=self.mode,
            target_frame=self.target_frame,
            frame_stamp_ns=self.frame.stamp_ns if self.frame else 0,
            camera_frame=self.frame.frame_id if self.frame else "",
            raw_answer=self.answer.raw_text if self.answer else raw_answer,
            backend=self.owner.backend.name,
            depth_source=self.answer.depth_source if self.answer else "none",
            points=points,
            timings=timings,
        )

    def failed(self, status: Status, message: str, raw_answer: str = "") -> ReferOutcome:
        return self._outcome(status, message, raw_answer=raw_answer)


_CAMERA_X = np.array([1.0, 0.0, 0.0])


def _to_target(
    xy_norm: tuple[float, float],
    point: LiftedPoint,
    T_target_from_camera: Transform,
    extent: ObjectExtent | None = None,
) -> TargetPoint:
    """Express a lifted point, its pose axis and the object's extent in the target frame (see
    ReferPoint.msg)."""
    p_target = np.asarray(T_target_from_camera.apply(point.point_camera), dtype=np.float64)
    z_target = np.asarray(T_target_from_camera.rotate(point.approach_camera), dtype=np.float64)
    x_hint = np.asarray(T_target_from_camera.rotate(_CAMERA_X), dtype=np.float64)
    return TargetPoint(
        x_norm=xy_norm[0],
        y_norm=xy_norm[1],
        lifted=point,
        point_target=p_target,
        quat_xyzw_target=quat_from_axes(z_target, x_hint),
        extent=extent,
        extent_target=None if extent is None else extent.in_frame(T_target_from_camera),
    )


__all__ = ["FrameProvider", "Mode", "Referrer", "TransformLookup"]
