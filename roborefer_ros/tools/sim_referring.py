"""``python -m roborefer_ros.tools.sim_referring --seed N FILE``: the referring file of a sim_node
scene, for the ground_truth backend (test instrumentation, not a model).

The queries are those the episodes draw their tasks from (``sim.episodes.live.scene_queries``),
answered on the scene's first frame from sim_node's static camera, every one stamped 0 (any frame).
"""

from __future__ import annotations

import argparse
import sys

from roborefer_ros.core.referring import dump_referring
from roborefer_ros.sim import SimError
from roborefer_ros.sim.episodes.live import build_live_scene, referring_of, scene_queries
from roborefer_ros.tools.cli import output_file, positive_int, seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.sim_referring", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out", type=output_file, help="referring.json to write")
    parser.add_argument("--seed", type=seed, required=True, help="scene seed (>= 0)")
    parser.add_argument("--robot", default="ur5e", choices=["ur5e", "g1", "none"])
    parser.add_argument("--width", type=positive_int, default=640)
    parser.add_argument("--height", type=positive_int, default=480)
    args = parser.parse_args(argv)
    try:
        with build_live_scene(args.seed, args.robot, args.width, args.height) as scene:
            referring = referring_of(scene_queries(scene, args.seed))
    except SimError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    dump_referring(referring, args.out)
    print(f"{len(referring.queries)} queries -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
