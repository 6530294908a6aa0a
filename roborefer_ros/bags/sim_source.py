"""A MuJoCo ``SimScene`` as a FrameSource, with referring queries generated on its own frames.

The MuJoCo tabletop gives what the analytic scene cannot: real object shapes, occlusion, a robot
in view and referring expressions of 1-5 steps, still with exact truth. This adapter records it
as a RealSense-like camera: ``base_link -> camera_link`` on /tf at every frame (the camera may
move), ``camera_link -> camera_color_optical_frame`` once on /tf_static. Depth is either the clean
render or corrupted like a D435's (the sim's ``apply_depth_noise``, seeded per frame, so a bag is
reproducible); the truth in ``referring()`` always comes from the clean render.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from roborefer_ros.bags.source import SceneFrame
from roborefer_ros.core.referring import ReferringQuery, ReferringSet, normalise_prompt
from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.sim import (
    BASE_FRAME,
    LINK_FRAME,
    OPTICAL_FRAME,
    T_LINK_FROM_OPTICAL,
    D435Noise,
    GeneratedQuery,
    RenderedFrame,
    SimScene,
    apply_depth_noise,
    generate_referring,
)

DEFAULT_T0_NS = 1_700_000_000_000_000_000  # a fixed epoch stamp: bags are reproducible
# Candidates drawn per wanted query of a frame, so prompts already used at an earlier frame can
# be skipped and the set says more different things.
_OVERSAMPLE = 3


@dataclass(frozen=True)
class SimSource:
    """Frames of ``scene`` at ``t0_ns + t`` for each scene time ``t`` in ``times_s``.

    ``depth_noise``: None records the clean render; otherwise each frame's depth goes through
    ``apply_depth_noise`` with ``np.random.default_rng([noise_seed, frame index])``.
    """

    scene: SimScene
    times_s: tuple[float, ...]
    t0_ns: int = DEFAULT_T0_NS
    depth_noise: D435Noise | None = None
    noise_seed: int = 0

    def stamp_ns(self, t_s: float) -> int:
        return self.t0_ns + round(t_s * 1e9)

    def static_transforms(self) -> tuple[StampedTransform, ...]:
        return (StampedTransform(LINK_FRAME, OPTICAL_FRAME, self.t0_ns, T_LINK_FROM_OPTICAL),)

    def frames(self) -> Iterator[SceneFrame]:
        for index, t_s in enumerate(self.times_s):
            rendered = self.scene.render(t_s)
            stamp = self.stamp_ns(t_s)
            depth_m = rendered.depth_m
            if self.depth_noise is not None:
                rng = np.random.default_rng([self.noise_seed, index])
                depth_m = apply_depth_noise(depth_m, rng, self.depth_noise)
            moving = StampedTransform(BASE_FRAME, LINK_FRAME, stamp, rendered.T_base_from_link)
            yield SceneFrame(stamp, rendered.rgb, depth_m, rendered.camera, (moving,))

    def referring(
        self,
        n: int,
        seed: int,
        *,
        place_share: float = 0.3,
        max_steps: int = 5,
    ) -> ReferringSet:
        """About ``n`` queries spread evenly over the frames, each stamped with its frame and
        answered (pixel, point) in that frame's view; a moving camera gets its queries generated
        frame by frame. Prompts not yet used at an earlier frame are preferred. Fewer than ``n``
        when the scene allows fewer."""
        rng = np.random.default_rng(seed)
        counts = [len(part) for part in np.array_split(np.arange(n), len(self.times_s))]
        static = self.scene.spec.camera.motion.is_static
        cached: RenderedFrame | None = None
        used: set[str] = set()
        queries: list[ReferringQuery] = []
        for t_s, count in zip(self.times_s, counts, strict=True):
            if count == 0:
                continue
            if cached is None or not static:
                cached = self.scene.render(t_s)
            candidates = generate_referring(
                self.scene.spec,
                cached,
                _OVERSAMPLE * count,
                rng,
                place_share=place_share,
                max_steps=max_steps,
            )
            for query in _prefer_unused(candidates, count, used):
                used.add(normalise_prompt(query.prompt))
                queries.append(query.to_referring_query(self.stamp_ns(t_s)))
        return ReferringSet(target_frame=BASE_FRAME, queries=tuple(queries))


def _prefer_unused(
    candidates: list[GeneratedQuery], count: int, used: set[str]
) -> list[GeneratedQuery]:
    """``count`` candidates, those with prompts not in ``used`` first (in generation order)."""
    fresh = [q for q in candidates if normalise_prompt(q.prompt) not in used]
    seen = [q for q in candidates if normalise_prompt(q.prompt) in used]
    return (fresh + seen)[:count]
