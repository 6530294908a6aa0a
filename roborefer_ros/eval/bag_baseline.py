"""Offline baseline on a bag: robust lifting vs a naive single-pixel depth lookup (ROS-free).

For every query of the bag's referring.json, the frame with that stamp is read from the bag and
the ground-truth pixel is lifted twice: (a) ``naive_depth``, the depth of the one nearest pixel,
and (b) the node's ``lift_pixel`` (robust window depth; plane fit for PLACE). Both points go
through the bag's own TF at the frame's stamp. Since the pixel is exact, the difference measures
the depth handling alone. Run: ``python -m roborefer_ros.tools.bag_baseline BAG_DIR [--json]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roborefer_ros.bags.reader import BagReader, CameraTopics, read_frames, read_transforms
from roborefer_ros.core.config import ReferConfig
from roborefer_ros.core.depth import naive_depth
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.lifting import lift_pixel
from roborefer_ros.core.referring import (
    ReferringQuery,
    ReferringSet,
    load_referring,
)
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.tf_buffer import TransformBuffer
from roborefer_ros.eval.summary import EvalSummary, QueryOutcome, format_summary, summarize

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BaselineReport:
    naive: EvalSummary
    robust: EvalSummary

    def to_json_dict(self) -> dict[str, object]:
        """The robust scores at the top level (same keys as the live evaluation), both nested."""
        return {
            "mode": "offline_baseline",
            **self.robust.to_json_dict(),
            "naive": self.naive.to_json_dict(),
            "robust": self.robust.to_json_dict(),
        }


def run_baseline(
    bag: BagReader,
    topics: CameraTopics,
    referring: ReferringSet,
    config: ReferConfig | None = None,
) -> BaselineReport:
    """Score both lifting rules on every query (depth window and ranges from ``config``)."""
    cfg = config or ReferConfig()
    frames = read_frames(bag, topics, {q.stamp_ns for q in referring.queries})
    tf = read_transforms(bag)
    earliest = frames[min(frames)] if frames else None
    naive, robust = [], []
    for query in referring.queries:
        frame = frames.get(query.stamp_ns) if query.stamp_ns else earliest
        if frame is None:
            missing = QueryOutcome(
                query.prompt, query.stamp_ns, "NO_FRAME", None, query.tolerance_m
            )
            naive.append(missing)
            robust.append(missing)
            continue
        naive.append(_score(query, frame, tf, referring.target_frame, _naive_point, cfg))
        robust.append(_score(query, frame, tf, referring.target_frame, _robust_point, cfg))
    return BaselineReport(naive=summarize(naive), robust=summarize(robust))


def _naive_point(frame: Frame, query: ReferringQuery, cfg: ReferConfig) -> FloatArray:
    u, v = query.pixel
    depth_m = naive_depth(frame.depth, frame.depth_encoding, u, v)
    ray = frame.camera.pixel_to_ray(u, v)
    point: FloatArray = ray * (depth_m / ray[2])
    return point


def _robust_point(frame: Frame, query: ReferringQuery, cfg: ReferConfig) -> FloatArray:
    u, v = query.pixel
    mode = Mode.PLACE if query.mode is Mode.PLACE else Mode.LOCATE
    lifted = lift_pixel(
        frame.camera,
        frame.depth,
        frame.depth_encoding,
        u,
        v,
        mode,
        window_px=cfg.depth_window_px,
        plane_radius_px=cfg.plane_radius_px,
        min_valid_ratio=cfg.min_valid_ratio,
        min_range_m=cfg.min_range_m,
        max_range_m=cfg.max_range_m,
    )
    return lifted.point_camera


Lift = Callable[[Frame, ReferringQuery, ReferConfig], FloatArray]


def _score(
    query: ReferringQuery,
    frame: Frame,
    tf: TransformBuffer,
    target_frame: str,
    lift: Lift,
    cfg: ReferConfig,
) -> QueryOutcome:
    started = time.perf_counter()
    try:
        point_camera = lift(frame, query, cfg)
        lifted_s = time.perf_counter() - started
        T = tf.lookup_transform(target_frame, frame.frame_id, frame.stamp_ns)
    except RefPointError as err:
        return QueryOutcome(query.prompt, query.stamp_ns, err.status.name, None, query.tolerance_m)
    error = float(np.linalg.norm(T.apply(point_camera) - np.asarray(query.point)))
    timings = {"lift_s": lifted_s, "total_s": time.perf_counter() - started}
    return QueryOutcome(
        query.prompt, query.stamp_ns, Status.OK.name, error, query.tolerance_m, timings
    )


def format_report(report: BaselineReport) -> str:
    return "\n".join(
        [
            format_summary(report.naive, "naive single-pixel depth"),
            format_summary(report.robust, "robust lifting (node)"),
        ]
    )


def baseline_of_bag(
    path: str, referring_path: str | None = None, topics: dict[str, str | None] | None = None
) -> BaselineReport:
    """Open the bag and its referring.json and run the baseline; BagError/ReferringFileError."""
    with BagReader(path) as bag:
        cams = bag.camera_topics(**(topics or {}))
        referring = load_referring(referring_path or bag.referring_path())
        return run_baseline(bag, cams, referring)
