"""``python -m roborefer_ros.tools.sim_preview --seed 3 --out DIR``: look at a simulated scene:
its images and generated prompts (``sim.preview.write_preview``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.preview import write_preview
from roborefer_ros.sim.referring import generate_referring


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=20, help="number of prompts")
    parser.add_argument("--t", type=float, default=0.0, help="scene time in seconds")
    parser.add_argument("--robot", default="ur5e")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    from roborefer_ros.sim.scene import build_scene  # imports mujoco: after MUJOCO_GL is set

    try:
        with build_scene(args.seed, robot=args.robot) as scene:
            frame = scene.render(args.t)
            queries = generate_referring(
                scene.spec, frame, args.n, np.random.default_rng(args.seed)
            )
            write_preview(args.out, scene.spec, frame, queries)
    except SimError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(queries)} prompts and images to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
