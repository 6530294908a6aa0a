"""``python -m roborefer_ros.tools.export_sim OUT --seeds 1000-1099``: simulated scenes as a
RefSpatial-Bench-format benchmark (see ``roborefer_ros.eval.export_sim``)."""

from __future__ import annotations

import argparse
import os
import sys

from roborefer_ros.eval.export_sim import export_scenes
from roborefer_ros.eval.refspatial import BenchError
from roborefer_ros.tools.cli import output_dir, parse_seeds, positive_int, share


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.export_sim", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out_dir", type=output_dir)
    parser.add_argument("--seeds", type=parse_seeds, default="0-9", help="e.g. 0-9 or 1,4,7-9")
    parser.add_argument(
        "--per-scene", type=positive_int, default=10, help="queries per scene (at most)"
    )
    parser.add_argument("--robot", default="ur5e", choices=["ur5e", "g1", "none"])
    parser.add_argument("--place-share", type=share, default=0.3, help="0 .. 1")
    parser.add_argument("--width", type=positive_int, default=640)
    parser.add_argument("--height", type=positive_int, default=480)
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering, before mujoco is imported
    try:
        summary = export_scenes(
            args.out_dir,
            args.seeds,
            args.per_scene,
            robot=args.robot,
            place_share=args.place_share,
            width=args.width,
            height=args.height,
        )
    except BenchError as err:
        print(f"export_sim: {err}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items())
    print(f"exported {len(summary.seeds)} scene(s) to {args.out_dir}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
