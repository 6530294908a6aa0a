"""``python -m roborefer_ros.tools.sim_preview --seed 3 --out DIR``: look at a simulated scene:
its images and generated prompts (``sim.preview.write_preview``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np

from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.preview import write_preview
from roborefer_ros.sim.referring import generate_referring
from roborefer_ros.tools.cli import non_negative_float, output_dir, positive_int, seed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.sim_preview", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seed", type=seed, default=0, help="scene seed (>= 0)")
    parser.add_argument("--out", type=output_dir, required=True, help="folder to write into")
    parser.add_argument("--n", type=positive_int, default=20, help="number of prompts")
    parser.add_argument("--t", type=non_negative_float, default=0.0, help="scene time in seconds")
    parser.add_argument("--robot", default="ur5e", choices=["ur5e", "g1", "none"])
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
