"""``SyntheticScene`` as a FrameSource, and a ground-truth bag of it in one call.

The analytic scene gives exact truth (a pixel's 3D point is known), so a bag written from it is
a reference for the replay and evaluation tools. ``python -m roborefer_ros.tools.synthetic_bag OUT``
writes one (add ``--noise`` for RealSense-like depth noise).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from roborefer_ros.bags.source import SceneFrame
from roborefer_ros.bags.writer import BagSummary, write_source_bag
from roborefer_ros.core.referring import ReferringQuery, ReferringSet
from roborefer_ros.core.request import Mode
from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.sim.analytic_scene import T_LINK_FROM_OPTICAL, SyntheticScene
from roborefer_ros.sim.noise import PixelNoise

DEFAULT_T0_NS = 1_700_000_000_000_000_000  # a fixed epoch stamp: bags are reproducible
FREE_POINT = (0.36, -0.02, 0.0)  # free table area in front of the green box (base_link)


@dataclass(frozen=True)
class SyntheticSource:
    """Frames of ``scene`` at ``t0_ns + t`` for each scene time ``t`` in ``times_s``."""

    scene: SyntheticScene
    times_s: tuple[float, ...]
    t0_ns: int = DEFAULT_T0_NS

    def stamp_ns(self, t_s: float) -> int:
        return self.t0_ns + round(t_s * 1e9)

    def static_transforms(self) -> tuple[StampedTransform, ...]:
        s = self.scene
        return (StampedTransform(s.link_frame, s.optical_frame, self.t0_ns, T_LINK_FROM_OPTICAL),)

    def frames(self) -> Iterator[SceneFrame]:
        s = self.scene
        camera = s.camera_model()
        for t_s in self.times_s:
            stamp = self.stamp_ns(t_s)
            rgb, depth_m = s.render(t_s)
            moving = StampedTransform(s.base_frame, s.link_frame, stamp, s.T_base_from_link(t_s))
            yield SceneFrame(stamp, rgb, depth_m, camera, (moving,))

    def referring(self, every: int = 1, tolerance_m: float = 0.01) -> ReferringSet:
        """Every box top (LOCATE) and a free table point (PLACE) in every ``every``-th frame."""
        s = self.scene
        targets = [(f"the {b.name}", b.top_center, Mode.LOCATE) for b in s.boxes]
        targets.append(
            ("the free area in front of the green box", np.array(FREE_POINT), Mode.PLACE)
        )
        queries = []
        for t_s in self.times_s[::every]:
            for prompt, point, mode in targets:
                u, v = s.pixel_of(point, t_s)
                if not (0 <= u < s.width and 0 <= v < s.height):
                    continue
                queries.append(
                    ReferringQuery(
                        prompt=prompt,
                        stamp_ns=self.stamp_ns(t_s),
                        pixel=(u, v),
                        point=(float(point[0]), float(point[1]), float(point[2])),
                        mode=mode,
                        tolerance_m=tolerance_m,
                    )
                )
        return ReferringSet(target_frame=s.base_frame, queries=tuple(queries))


def moving_source(
    frames: int = 30, rate_hz: float = 10.0, width: int = 640, height: int = 480
) -> SyntheticSource:
    """A camera sliding sideways over the table (0.1 m/s), ``frames`` frames at ``rate_hz``."""
    scene = SyntheticScene(width=width, height=height, speed_mps=0.1, sweep_m=0.15)
    return SyntheticSource(scene, tuple(k / rate_hz for k in range(frames)))


def write_synthetic_bag(
    path: str,
    source: SyntheticSource,
    *,
    every: int = 1,
    depth_noise: PixelNoise | None = None,
    namespace: str = "/camera/camera",
) -> BagSummary:
    return write_source_bag(
        path,
        source,
        source.referring(every=every),
        depth_noise=depth_noise,
        namespace=namespace,
    )
