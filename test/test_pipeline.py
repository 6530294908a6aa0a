"""Referrer.refer end to end on a synthetic RGB-D frame with exact truth, one test per status.

Real backends (ground truth, recorded), a real TransformBuffer fed with the scene's transforms,
and Frames built directly from the scene's render (no ROS).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest

from roborefer_ros.backends.base import Answer, Backend, PointingQuery
from roborefer_ros.backends.ground_truth import GroundTruthBackend
from roborefer_ros.backends.model_depth import ModelDepthSource, SensorDepth, sensor_depth_for_model
from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.backends.recorded import RecordedAnswer, RecordedBackend
from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.config import ReferConfig
from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.referring import ReferringQuery, ReferringSet
from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.result import ReferOutcome, Stage
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.tf_buffer import StampedTransform, TransformBuffer
from roborefer_ros.core.transforms import Transform
from roborefer_ros.pipeline import FrameProvider, Referrer, TransformLookup
from roborefer_ros.sim.analytic_scene import T_LINK_FROM_OPTICAL, SyntheticScene

SCENE = SyntheticScene()  # 640x480, static camera
T_S = 100.0
STAMP_NS = int(T_S * 1e9)
NOW_NS = STAMP_NS + 20_000_000  # the clock reads 20 ms after the frame
TOLERANCE_M = 0.002

RED_TOP = SCENE.boxes[0].top_center  # LOCATE target: centre of the red box's top face
TABLE_SPOT = np.array([0.35, 0.20, 0.0])  # PLACE target: free table, clear of every box
LOCATE_PROMPT = "the top of the red box"
PLACE_PROMPT = "the free space on the table left of the red box"


# -- fixtures -----------------------------------------------------------------------------------


_RENDERS: dict[tuple[str, float], tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]] = {}


def _render(
    scene: SyntheticScene, t_s: float
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """Rendered once per scene and time (a 640x480 render takes a few hundred ms)."""
    key = (repr(scene), t_s)
    if key not in _RENDERS:
        rgb, depth = scene.render(t_s)
        rgb.setflags(write=False)  # shared between tests: nobody may change it
        depth.setflags(write=False)
        _RENDERS[key] = (rgb, depth)
    return _RENDERS[key]


def make_frame(
    encoding: str = "16UC1",
    scene: SyntheticScene = SCENE,
    t_s: float = T_S,
    stamp_ns: int = STAMP_NS,
) -> Frame:
    rgb, depth_m = _render(scene, t_s)
    depth: npt.NDArray[np.generic] = encode_depth(depth_m) if encoding == "16UC1" else depth_m
    return Frame(
        stamp_ns=stamp_ns,
        frame_id=scene.optical_frame,
        rgb=rgb,
        depth=depth,
        depth_encoding=encoding,
        camera=scene.camera_model(),
        depth_frame_id=scene.optical_frame,
    )


def provide(frame: Frame) -> FrameProvider:
    def frames(min_stamp_ns: int, timeout_s: float) -> Frame:
        return frame

    return frames


class BufferLookup:
    """The TransformLookup a node uses, over a plain TransformBuffer."""

    def __init__(self, buffer: TransformBuffer) -> None:
        self.buffer = buffer

    def lookup(
        self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float
    ) -> Transform:
        return self.buffer.wait_for_transform(target_frame, source_frame, stamp_ns, timeout_s)


def scene_tf(
    scene: SyntheticScene = SCENE, times_s: tuple[float, ...] = (T_S - 1, T_S, T_S + 1)
) -> BufferLookup:
    """Static camera_link -> optical, and base -> camera_link sampled at ``times_s``."""
    buffer = TransformBuffer()
    buffer.set_transform(
        StampedTransform(scene.link_frame, scene.optical_frame, 0, T_LINK_FROM_OPTICAL),
        authority="test",
        is_static=True,
    )
    for t in times_s:
        buffer.set_transform(
            StampedTransform(
                scene.base_frame, scene.link_frame, int(t * 1e9), scene.T_base_from_link(t)
            ),
            authority="test",
        )
    return BufferLookup(buffer)


def truth_set(
    scene: SyntheticScene = SCENE, t_s: float = T_S, stamp_ns: int = STAMP_NS
) -> ReferringSet:
    queries = []
    for prompt, point, mode in (
        (LOCATE_PROMPT, RED_TOP, Mode.LOCATE),
        (PLACE_PROMPT, TABLE_SPOT, Mode.PLACE),
    ):
        pixel = scene.pixel_of(point, t_s)
        xyz = (float(point[0]), float(point[1]), float(point[2]))
        queries.append(ReferringQuery(prompt, stamp_ns, pixel, xyz, mode, TOLERANCE_M))
    return ReferringSet(scene.base_frame, tuple(queries))


CONFIG = ReferConfig(tf_timeout_s=0.05, frame_wait_timeout_s=0.05, model_timeout_s=2.0)


def referrer(
    backend: Backend | None = None,
    transforms: TransformLookup | None = None,
    config: ReferConfig = CONFIG,
    clock_ns: Callable[[], int] = lambda: NOW_NS,
    model_depth: ModelDepthSource | None = None,
) -> Referrer:
    return Referrer(
        backend if backend is not None else GroundTruthBackend(truth_set()),
        transforms if transforms is not None else scene_tf(),
        config,
        clock_ns=clock_ns,
        model_depth=model_depth,
    )


def recorded(answer: str, prompt: str = "the thing", delay_s: float = 0.0) -> RecordedBackend:
    return RecordedBackend({prompt: RecordedAnswer(answer, delay_s)}, AnswerFormat.ROBOREFER)


def refer(
    request: ReferRequest,
    frame: Frame | None = None,
    *,
    backend: Backend | None = None,
    transforms: TransformLookup | None = None,
    config: ReferConfig = CONFIG,
    clock_ns: Callable[[], int] = lambda: NOW_NS,
) -> ReferOutcome:
    """One request against the static scene's frame (or ``frame``), never raising."""
    run = referrer(backend, transforms, config, clock_ns)
    return run.refer(request, provide(frame or make_frame()))


def assert_failed(outcome: ReferOutcome, status: Status, *words: str) -> None:
    assert outcome.status is status, (outcome.status, outcome.message)
    assert not outcome.success
    assert outcome.points == ()
    for word in words:
        assert word in outcome.message, outcome.message


# -- success ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
@pytest.mark.parametrize(
    ("prompt", "mode", "truth"),
    [(LOCATE_PROMPT, Mode.LOCATE, RED_TOP), (PLACE_PROMPT, Mode.PLACE, TABLE_SPOT)],
    ids=["locate", "place"],
)
def test_ok_point_is_within_2mm_of_truth(
    encoding: str, prompt: str, mode: Mode, truth: npt.NDArray[np.float64]
) -> None:
    outcome = refer(ReferRequest(prompt, mode=mode), make_frame(encoding))
    assert outcome.status is Status.OK, outcome.message
    assert outcome.success
    assert outcome.mode is mode
    assert outcome.target_frame == "base_link"
    assert outcome.camera_frame == SCENE.optical_frame
    assert outcome.frame_stamp_ns == STAMP_NS
    assert outcome.backend == "ground_truth"
    assert outcome.raw_answer.startswith("[(")
    assert outcome.message == "1 point in base_link"
    (point,) = outcome.points
    error_m = float(np.linalg.norm(point.point_target - truth))
    assert error_m < TOLERANCE_M, f"{error_m * 1e3:.2f} mm from truth"
    # the pose's z axis: the viewing ray (LOCATE, pointing down into the table) or the table's
    # upward normal (PLACE), both in base_link
    quat = Transform((0.0, 0.0, 0.0), point.quat_xyzw_target)
    z_axis = quat.rotate(np.array([0.0, 0.0, 1.0]))
    if mode is Mode.PLACE:
        np.testing.assert_allclose(z_axis, [0.0, 0.0, 1.0], atol=5e-3)  # mm steps tilt it
    else:
        camera = SCENE.T_base_from_optical(T_S).translation
        ray = truth - np.asarray(camera)
        np.testing.assert_allclose(z_axis, ray / np.linalg.norm(ray), atol=2e-3)


def test_a_locate_point_carries_the_objects_extent_from_the_same_frame() -> None:
    """The red box (8 x 8 x 10 cm, axis-aligned in base_link) measured in the frame the point
    came from, in the target frame; PLACE points and a node with the estimate off carry none."""
    outcome = refer(ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE))
    assert outcome.status is Status.OK, outcome.message
    framed = outcome.points[0].extent_target
    assert framed is not None and outcome.points[0].extent is not None
    box = SCENE.boxes[0]
    assert framed.size_m[0] == pytest.approx(box.size[0], abs=0.006)
    assert framed.size_m[1] == pytest.approx(box.size[1], abs=0.006)
    assert framed.size_m[2] == pytest.approx(box.size[2], abs=0.004)
    assert framed.base_centre[:2] == pytest.approx(box.center[:2], abs=0.005)
    assert framed.confidence > 0.5
    place = refer(ReferRequest(PLACE_PROMPT, mode=Mode.PLACE))
    assert place.status is Status.OK and place.points[0].extent_target is None
    off = dataclasses.replace(CONFIG, estimate_object_extent=False)
    assert refer(ReferRequest(LOCATE_PROMPT), config=off).points[0].extent_target is None


def test_auto_mode_resolves_from_the_prompt() -> None:
    outcome = refer(ReferRequest(PLACE_PROMPT, mode=Mode.AUTO))
    assert outcome.status is Status.OK, outcome.message
    assert outcome.mode is Mode.PLACE  # "free space" reads like a placement
    assert outcome.request.mode is Mode.AUTO


def test_explicit_target_frame_is_used() -> None:
    outcome = refer(ReferRequest(LOCATE_PROMPT, target_frame=SCENE.link_frame, mode=Mode.LOCATE))
    assert outcome.status is Status.OK, outcome.message
    assert outcome.target_frame == SCENE.link_frame
    expected = SCENE.T_base_from_link(T_S).inverse().apply(RED_TOP)
    assert float(np.linalg.norm(outcome.points[0].point_target - expected)) < TOLERANCE_M


def test_moving_camera_uses_the_frame_stamp_for_tf() -> None:
    """The camera moves at 0.5 m/s: a transform at any other time would miss by centimetres."""
    scene = SyntheticScene(speed_mps=0.5, sweep_m=0.15)
    t_s = 10.04  # inside the rising half of the sweep, between the TF samples below
    stamp_ns = int(t_s * 1e9)
    tf = scene_tf(scene, times_s=(10.0, 10.02, 10.06, 10.08))  # no sample at the frame itself
    backend = GroundTruthBackend(truth_set(scene, t_s, stamp_ns))
    frame = make_frame("32FC1", scene=scene, t_s=t_s, stamp_ns=stamp_ns)
    outcome = Referrer(backend, tf, CONFIG, clock_ns=lambda: stamp_ns).refer(
        ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), provide(frame)
    )
    assert outcome.status is Status.OK, outcome.message
    assert float(np.linalg.norm(outcome.points[0].point_target - RED_TOP)) < TOLERANCE_M


def test_max_points_keeps_the_first_points() -> None:
    backend = recorded("[(0.30, 0.50), (0.50, 0.60), (0.70, 0.70)]")
    outcome = refer(ReferRequest("the thing", mode=Mode.LOCATE, max_points=2), backend=backend)
    assert outcome.status is Status.OK, outcome.message
    assert [(p.x_norm, p.y_norm) for p in outcome.points] == [(0.30, 0.50), (0.50, 0.60)]
    assert outcome.message == "2 points in base_link"
    everything = refer(ReferRequest("the thing", mode=Mode.LOCATE), backend=backend)
    assert len(everything.points) == 3


def test_lifted_points_lie_on_the_table_at_their_pixels() -> None:
    backend = recorded("[(0.30, 0.50), (0.50, 0.60), (0.70, 0.70)]")
    outcome = refer(
        ReferRequest("the thing", mode=Mode.LOCATE), make_frame("32FC1"), backend=backend
    )
    for point in outcome.points:
        assert point.lifted.pixel == pytest.approx((point.x_norm * 640, point.y_norm * 480))
        assert point.point_target[2] == pytest.approx(0.0, abs=TOLERANCE_M)  # no box there


def test_one_point_in_a_depth_hole_keeps_the_valid_one() -> None:
    frame = frame_with_hole(centre=(320, 240))
    backend = recorded("[(0.50, 0.50), (0.25, 0.75)]")
    outcome = refer(ReferRequest("the thing", mode=Mode.LOCATE), frame, backend=backend)
    assert outcome.status is Status.OK, outcome.message
    assert [(p.x_norm, p.y_norm) for p in outcome.points] == [(0.25, 0.75)]


# -- request validation -------------------------------------------------------------------------


class CountingBackend:
    """Records calls; delegates to an inner backend."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = "counting"
        self.queries: list[PointingQuery] = []

    def load(self) -> None: ...

    def close(self) -> None: ...

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        self.queries.append(query)
        return self.inner.point(query, timeout_s)


@pytest.mark.parametrize(
    ("prompt", "words"),
    [("", ("empty",)), (" \t\n ", ("empty",)), ("x" * 2001, ("2001", "2000"))],
    ids=["empty", "whitespace", "oversized"],
)
def test_bad_prompt(prompt: str, words: tuple[str, ...]) -> None:
    backend = CountingBackend(GroundTruthBackend(truth_set()))
    calls: list[int] = []

    def frames(min_stamp_ns: int, timeout_s: float) -> Frame:
        calls.append(min_stamp_ns)
        return make_frame()

    outcome = referrer(backend).refer(ReferRequest(prompt), frames)
    assert_failed(outcome, Status.BAD_PROMPT, *words)
    assert calls == [] and backend.queries == []  # refused before any work
    assert outcome.frame_stamp_ns == 0 and outcome.camera_frame == ""


def test_prompt_at_the_limit_is_accepted() -> None:
    config = replace(CONFIG, max_prompt_chars=len(LOCATE_PROMPT))
    outcome = refer(ReferRequest(f"  {LOCATE_PROMPT}  ", mode=Mode.LOCATE), config=config)
    assert outcome.status is Status.OK, outcome.message
    assert outcome.request.prompt == LOCATE_PROMPT  # stripped


def test_negative_max_points_is_a_bad_request() -> None:
    outcome = refer(ReferRequest(LOCATE_PROMPT, max_points=-1))
    assert_failed(outcome, Status.BAD_REQUEST, "max_points", "-1")


# -- frame problems -----------------------------------------------------------------------------


def test_no_frame_from_the_provider() -> None:
    def frames(min_stamp_ns: int, timeout_s: float) -> Frame:
        assert timeout_s == CONFIG.frame_wait_timeout_s
        raise RefPointError(Status.NO_FRAME, f"no frame within {timeout_s} s")

    outcome = referrer().refer(ReferRequest(LOCATE_PROMPT), frames)
    assert_failed(outcome, Status.NO_FRAME, "no frame within 0.05 s")
    assert outcome.frame_stamp_ns == 0


def test_stale_frame_when_the_clock_is_far_ahead() -> None:
    later = STAMP_NS + 60 * 10**9
    outcome = refer(ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), clock_ns=lambda: later)
    assert_failed(outcome, Status.STALE_FRAME, "60.000 s old", "max_frame_age_s=1.0")
    assert outcome.frame_stamp_ns == STAMP_NS  # the frame was frozen, then refused


def test_not_stale_when_min_stamp_is_given() -> None:
    later = STAMP_NS + 60 * 10**9
    seen: list[int] = []

    def frames(min_stamp_ns: int, timeout_s: float) -> Frame:
        seen.append(min_stamp_ns)
        return make_frame()

    outcome = referrer(clock_ns=lambda: later).refer(
        ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE, min_stamp_ns=STAMP_NS), frames
    )
    assert outcome.status is Status.OK, outcome.message
    assert seen == [STAMP_NS]


def test_not_stale_when_the_age_check_is_off() -> None:
    later = STAMP_NS + 60 * 10**9
    config = replace(CONFIG, max_frame_age_s=0.0)
    outcome = refer(
        ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), config=config, clock_ns=lambda: later
    )
    assert outcome.status is Status.OK, outcome.message


def test_bad_frame_when_depth_size_differs() -> None:
    frame = make_frame()
    frame = replace(frame, depth=np.zeros((240, 320), dtype=np.uint16))
    outcome = refer(ReferRequest(LOCATE_PROMPT), frame)
    assert_failed(outcome, Status.BAD_FRAME, "320x240", "640x480")


def test_bad_frame_when_intrinsics_are_zero() -> None:
    zero = CameraModel(640, 480, np.zeros((3, 3)), np.zeros((3, 4)), frame_id=SCENE.optical_frame)
    frame = replace(make_frame(), camera=zero)
    backend = CountingBackend(GroundTruthBackend(truth_set()))
    outcome = refer(ReferRequest(LOCATE_PROMPT), frame, backend=backend)
    assert_failed(outcome, Status.BAD_FRAME, "fx=0.0")
    assert backend.queries == []  # a bad frame never reaches the model


@pytest.mark.parametrize(
    ("fx", "fy", "cx", "cy", "named"),
    [
        # finite but degenerate: used to reach lifting ("z_axis must be non-zero", INTERNAL_ERROR)
        (1e-300, 1e-300, 320.0, 240.0, ("fx=1e-300", "field of view")),
        # normalised units on a 640x480 image: used to answer OK with a point 327 m away
        (0.97, 0.97, 0.5, 0.5, ("fx=0.97", "cx=0.5", "normalised units")),
    ],
    ids=["fx_1e-300", "normalised_units"],
)
def test_bad_frame_when_intrinsics_are_implausible(
    fx: float, fy: float, cx: float, cy: float, named: tuple[str, ...]
) -> None:
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    camera = CameraModel(640, 480, k, np.zeros((3, 4)), frame_id=SCENE.optical_frame)
    frame = replace(make_frame(), camera=camera)
    backend = CountingBackend(GroundTruthBackend(truth_set()))
    outcome = refer(ReferRequest(LOCATE_PROMPT), frame, backend=backend)
    assert_failed(outcome, Status.BAD_FRAME, "implausible intrinsics", *named)
    assert backend.queries == []


def test_unsupported_depth_encoding() -> None:
    frame = replace(make_frame(), depth_encoding="8UC1")
    outcome = refer(ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), frame)
    assert_failed(outcome, Status.UNSUPPORTED_ENCODING, "'8UC1'")


# -- backend problems ---------------------------------------------------------------------------


def test_backend_error_for_an_unknown_prompt() -> None:
    outcome = refer(ReferRequest("the purple elephant"))
    assert_failed(outcome, Status.BACKEND_ERROR, "the purple elephant")
    assert outcome.frame_stamp_ns == STAMP_NS
    assert outcome.raw_answer == ""


def test_backend_timeout_when_the_recorded_delay_is_too_long() -> None:
    config = replace(CONFIG, model_timeout_s=0.05)
    outcome = refer(
        ReferRequest("the thing"), backend=recorded("[(0.5, 0.5)]", delay_s=5.0), config=config
    )
    assert_failed(outcome, Status.BACKEND_TIMEOUT, "0.05")
    assert outcome.timings.model_s < 1.0  # gave up at the deadline, not after the delay


def test_parse_error_for_a_garbage_answer() -> None:
    outcome = refer(ReferRequest("the thing"), backend=recorded("I cannot see any such object."))
    assert_failed(outcome, Status.PARSE_ERROR, "no roborefer point")


def test_out_of_image_answer() -> None:
    outcome = refer(ReferRequest("the thing"), backend=recorded("[(1.5, 0.5)]"))
    assert_failed(outcome, Status.OUT_OF_IMAGE, "(1.5, 0.5)")


def test_internal_error_from_a_buggy_backend_does_not_raise() -> None:
    class Buggy:
        name = "buggy"

        def load(self) -> None: ...

        def close(self) -> None: ...

        def point(self, query: PointingQuery, timeout_s: float) -> Answer:
            raise RuntimeError("index 7 out of range")

    outcome = refer(ReferRequest("the thing"), backend=Buggy())
    assert_failed(outcome, Status.INTERNAL_ERROR, "RuntimeError", "index 7 out of range")
    assert outcome.backend == "buggy"
    assert outcome.frame_stamp_ns == STAMP_NS


# -- depth and TF problems ----------------------------------------------------------------------


def frame_with_hole(centre: tuple[int, int], half_px: int = 12) -> Frame:
    frame = make_frame("16UC1")
    depth = np.array(frame.depth, copy=True)
    u, v = centre
    depth[v - half_px : v + half_px + 1, u - half_px : u + half_px + 1] = 0
    return replace(frame, depth=depth)


def test_no_valid_depth_in_a_hole() -> None:
    frame = frame_with_hole(centre=(320, 240))
    outcome = refer(
        ReferRequest("the thing", mode=Mode.LOCATE), frame, backend=recorded("[(0.5, 0.5)]")
    )
    assert_failed(outcome, Status.NO_VALID_DEPTH)
    assert outcome.raw_answer == "[(0.5, 0.5)]"


def test_tf_error_for_an_unknown_target_frame() -> None:
    outcome = refer(ReferRequest(LOCATE_PROMPT, target_frame="map", mode=Mode.LOCATE))
    assert_failed(outcome, Status.TF_ERROR, "'map'")
    assert outcome.target_frame == "map"


def test_tf_error_when_the_frame_is_newer_than_the_transforms() -> None:
    tf = scene_tf(times_s=(T_S - 2, T_S - 1))  # data ends a second before the frame
    outcome = refer(ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), transforms=tf)
    assert_failed(outcome, Status.TF_ERROR, "extrapolation into the future", "after waiting")


def test_tf_error_when_the_frame_is_older_than_the_transforms() -> None:
    tf = scene_tf(times_s=(T_S + 1, T_S + 2))
    outcome = refer(ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), transforms=tf)
    assert_failed(outcome, Status.TF_ERROR, "extrapolation into the past")


def test_tf_arriving_while_waiting_is_used() -> None:
    tf = scene_tf(times_s=(T_S - 1,))
    config = replace(CONFIG, tf_timeout_s=5.0)
    timer = threading.Timer(
        0.1,
        tf.buffer.set_transform,
        args=(
            StampedTransform(
                SCENE.base_frame,
                SCENE.link_frame,
                STAMP_NS + 10**9,
                SCENE.T_base_from_link(T_S + 1),
            ),
        ),
    )
    timer.start()
    try:
        outcome = refer(ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), transforms=tf, config=config)
    finally:
        timer.cancel()
    assert outcome.status is Status.OK, outcome.message
    assert 0.05 < outcome.timings.tf_s < 5.0


# -- stages, cancellation, timings --------------------------------------------------------------


def test_stage_callbacks_come_in_order() -> None:
    stages: list[Stage] = []
    outcome = referrer().refer(
        ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), provide(make_frame()), stages.append
    )
    assert outcome.status is Status.OK, outcome.message
    assert stages == [Stage.WAIT_FRAME, Stage.MODEL, Stage.LIFT, Stage.TF]


def test_stages_stop_at_the_failing_one() -> None:
    stages: list[Stage] = []
    outcome = referrer(backend=recorded("no point here")).refer(
        ReferRequest("the thing"), provide(make_frame()), stages.append
    )
    assert outcome.status is Status.PARSE_ERROR
    assert stages == [Stage.WAIT_FRAME, Stage.MODEL]


@pytest.mark.parametrize("cancel_at", list(Stage))
def test_canceled_from_the_stage_callback(cancel_at: Stage) -> None:
    backend = CountingBackend(GroundTruthBackend(truth_set()))
    stages: list[Stage] = []

    def on_stage(stage: Stage) -> None:
        stages.append(stage)
        if stage is cancel_at:
            raise RefPointError(Status.CANCELED, "goal canceled by the client")

    outcome = referrer(backend).refer(
        ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), provide(make_frame()), on_stage
    )
    assert_failed(outcome, Status.CANCELED, "goal canceled by the client")
    assert stages == list(Stage)[: list(Stage).index(cancel_at) + 1]
    assert len(backend.queries) == (1 if cancel_at > Stage.MODEL else 0)


def test_timings_are_non_negative_and_add_up() -> None:
    backend = GroundTruthBackend(truth_set(), latency_s=0.02)
    outcome = refer(ReferRequest(PLACE_PROMPT, mode=Mode.PLACE), backend=backend)
    assert outcome.status is Status.OK, outcome.message
    t = outcome.timings
    stages = (t.wait_frame_s, t.model_s, t.lift_s, t.tf_s)
    assert all(s >= 0.0 for s in stages)
    assert t.model_s >= 0.02
    assert t.total_s >= sum(stages)


def test_failed_outcome_keeps_the_timings_so_far() -> None:
    config = replace(CONFIG, model_timeout_s=0.05)
    outcome = refer(
        ReferRequest("the thing"), backend=recorded("[(0.5, 0.5)]", delay_s=1.0), config=config
    )
    assert outcome.status is Status.BACKEND_TIMEOUT
    t = outcome.timings
    assert t.wait_frame_s >= 0.0 and t.model_s == 0.0 and t.lift_s == 0.0 and t.tf_s == 0.0
    assert t.total_s >= 0.05


# -- one frozen frame ---------------------------------------------------------------------------


class SpyLookup:
    def __init__(self, inner: BufferLookup) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str, int, float]] = []

    def lookup(
        self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float
    ) -> Transform:
        self.calls.append((target_frame, source_frame, stamp_ns, timeout_s))
        return self.inner.lookup(target_frame, source_frame, stamp_ns, timeout_s)


def test_the_backend_and_tf_see_the_same_frozen_frame() -> None:
    odd_stamp = STAMP_NS + 123_457  # not on any TF sample, not a round number
    frame = make_frame("32FC1", stamp_ns=odd_stamp)
    backend = CountingBackend(GroundTruthBackend(truth_set(stamp_ns=odd_stamp)))
    lookup = SpyLookup(scene_tf())
    provided: list[Frame] = []

    def frames(min_stamp_ns: int, timeout_s: float) -> Frame:
        # each call would give a newer frame: only the first may ever be used
        f = frame if not provided else make_frame("32FC1", stamp_ns=odd_stamp + 10**8)
        provided.append(f)
        return f

    outcome = Referrer(backend, lookup, CONFIG, clock_ns=lambda: odd_stamp).refer(
        ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), frames
    )
    assert outcome.status is Status.OK, outcome.message
    assert len(provided) == 1
    (query,) = backend.queries
    assert query.rgb is frame.rgb
    assert query.stamp_ns == odd_stamp
    assert query.instruction == LOCATE_PROMPT
    assert query.mode is Mode.LOCATE
    assert lookup.calls == [("base_link", frame.frame_id, odd_stamp, CONFIG.tf_timeout_s)]
    assert outcome.frame_stamp_ns == odd_stamp
    assert outcome.camera_frame == frame.frame_id


# -- depth shown to the model -------------------------------------------------------------------


def test_the_backend_gets_the_frames_sensor_depth_for_the_model() -> None:
    frame = make_frame("16UC1")
    backend = CountingBackend(GroundTruthBackend(truth_set()))
    outcome = referrer(backend, model_depth=SensorDepth()).refer(
        ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), provide(frame)
    )
    assert outcome.status is Status.OK, outcome.message
    assert outcome.depth_source == "sensor"
    (query,) = backend.queries
    assert query.depth_source == "sensor"
    assert query.depth_for_model is not None
    np.testing.assert_array_equal(
        query.depth_for_model, sensor_depth_for_model(frame.depth, "16UC1")
    )
    # near = bright: the red box's top and the table spot, ordered by their metric depth
    gray = query.depth_for_model[:, :, 0]
    pixels = [SCENE.pixel_of(point, T_S) for point in (RED_TOP, TABLE_SPOT)]
    (near_u, near_v), (far_u, far_v) = sorted(
        pixels, key=lambda uv: int(frame.depth[round(uv[1]), round(uv[0])])
    )
    assert gray[round(near_v), round(near_u)] > gray[round(far_v), round(far_u)]
    valid = frame.depth > 0
    assert gray[frame.depth == frame.depth[valid].min()].min() == 255
    assert gray[frame.depth == frame.depth[valid].max()].max() == 0


def test_without_a_depth_source_the_model_gets_none() -> None:
    backend = CountingBackend(GroundTruthBackend(truth_set()))
    outcome = referrer(backend).refer(
        ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), provide(make_frame())
    )
    assert outcome.status is Status.OK, outcome.message
    assert outcome.depth_source == "none"
    (query,) = backend.queries
    assert query.depth_for_model is None and query.depth_source == "none"


def test_a_depth_source_failure_fails_the_model_stage() -> None:
    frame = replace(make_frame("16UC1"), depth=np.zeros((480, 640), np.uint16))
    backend = CountingBackend(GroundTruthBackend(truth_set()))
    stages: list[Stage] = []
    outcome = referrer(backend, model_depth=SensorDepth()).refer(
        ReferRequest(LOCATE_PROMPT, mode=Mode.LOCATE), provide(frame), stages.append
    )
    assert_failed(outcome, Status.NO_VALID_DEPTH, "640x480")
    assert stages == [Stage.WAIT_FRAME, Stage.MODEL] and backend.queries == []
