"""The bags shipped in ``data/bags/`` (written by ``python -m roborefer_ros.tools.make_bags``).

Three recordings of one MuJoCo tabletop (seed ``SEED``: nine objects, the UR5e in view), 640x480,
``FRAMES`` frames at ``RATE_HZ``, each with its ``referring.json`` (``QUERIES`` queries of 1-5
steps spread over the frames):

- ``tabletop_static``: a fixed camera, clean depth;
- ``tabletop_moving``: the camera sweeps about the table (a point lifted with the TF of the wrong
  frame misses by centimetres), queries generated frame by frame;
- ``tabletop_noisy``: the static recording with RealSense-like depth (z^2 noise of a D435, edge
  dropouts, holes, mm steps); the same queries and truth as ``tabletop_static``, so the two
  compare directly.

Everything is seeded: the same code writes the same frames and queries. Few frames keep each bag
at a few MB, small enough to commit. ``--force`` replaces bags that exist.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from roborefer_ros.bags.sim_source import SimSource
from roborefer_ros.bags.writer import BagSummary, write_source_bag

SEED = 3
FRAMES = 12
RATE_HZ = 5.0
QUERIES = 36
# The sweep: +-0.25 rad about the table's vertical axis and +-5 cm of height over a 4.8 s period;
# the 2.2 s recording goes out to one side and most of the way back.
SWEEP_RAD, BOB_M, PERIOD_S = 0.25, 0.05, 4.8
NOISE_SEED = 11
# D435 depth RMS error ~ z^2 * subpixel / (f * baseline): 0.08 px subpixel, 50 mm baseline and
# f ~ 385 px at 640x480 give ~4 mm at 1 m (the sim's default, 1 mm, is a best case).
SIGMA_AT_1M_M = 0.004


@dataclass(frozen=True)
class BundledBag:
    name: str
    moving: bool
    noisy: bool


BUNDLED = (
    BundledBag("tabletop_static", moving=False, noisy=False),
    BundledBag("tabletop_moving", moving=True, noisy=False),
    BundledBag("tabletop_noisy", moving=False, noisy=True),
)


def make_source(bag: BundledBag) -> SimSource:
    """The SimSource of one bundled bag (imports MuJoCo; set MUJOCO_GL first)."""
    from roborefer_ros.sim import CameraMotion, D435Noise, build_scene

    motion = CameraMotion(SWEEP_RAD, BOB_M, PERIOD_S) if bag.moving else None
    scene = build_scene(SEED, camera_motion=motion)
    times_s = tuple(k / RATE_HZ for k in range(FRAMES))
    noise = D435Noise(sigma_at_1m_m=SIGMA_AT_1M_M) if bag.noisy else None
    return SimSource(scene, times_s, depth_noise=noise, noise_seed=NOISE_SEED)


def write_bundled(
    out_dir: Path, *, force: bool = False, log: Callable[[str], None] = print
) -> list[BagSummary]:
    """Write every bundled bag under ``out_dir``; BagError if one exists and not ``force``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = []
    for bag in BUNDLED:
        path = out_dir / bag.name
        if force and path.exists():
            shutil.rmtree(path)
        source = make_source(bag)
        try:
            referring = source.referring(QUERIES, seed=SEED)
            summary = write_source_bag(path, source, referring)
        finally:
            source.scene.close()
        log(
            f"wrote {summary.path}: {summary.frames} frames, {len(referring.queries)} queries, "
            f"{summary.size_bytes / 1e6:.2f} MB"
        )
        summaries.append(summary)
    return summaries
