"""``python -m roborefer_ros.tools.sim_batch --robot ur5e --seeds 0-49 [--jobs 2] [--json]``: one
in-process pick-and-place episode per seed (see ``roborefer_ros.sim.episodes.batch``)."""

from __future__ import annotations

import argparse
import json
import sys

from roborefer_ros.sim.episodes.batch import run_batch
from roborefer_ros.sim.episodes.episode import DEFAULT_TOLERANCE_M, GEOMETRIES
from roborefer_ros.tools.cli import parse_seeds, positive_float, positive_int


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.sim_batch", description=__doc__.splitlines()[0]
    )
    p.add_argument("--robot", default="ur5e", choices=["ur5e", "g1"])
    p.add_argument("--seeds", type=parse_seeds, default="0-49", help="e.g. 0-49 or 1,4,7-9")
    p.add_argument(
        "--tolerance", type=positive_float, default=DEFAULT_TOLERANCE_M, help="metres, xy"
    )
    p.add_argument("--jobs", type=positive_int, default=1, help="worker processes")
    p.add_argument(
        "--geometry",
        choices=GEOMETRIES,
        default="perceived",
        help="the object's size and yaw: perceived from the frame (default) or the sim's truth",
    )
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    report = run_batch(args.seeds, args.robot, args.tolerance, max(1, args.jobs), args.geometry)
    for r in report.results:
        verdict = "ok" if r.failure_class is None else f"FAIL {r.failure_class.value}"
        print(f"seed {r.seed:3d} {verdict:24s} {r.object:12s} {r.message}")
    for seed, why in report.no_task.items():
        print(f"seed {seed:3d} {'no_task':24s} {why}")
    print(
        f"{report.successes}/{len(report.results)} succeeded ({report.success_rate:.0%}); "
        f"failures: {report.failures or 'none'}; no task: {sorted(report.no_task) or 'none'}; "
        f"{report.wall_s:.0f} s"
    )
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0 if report.successes else 1  # a batch where nothing succeeded is a failed job


if __name__ == "__main__":
    sys.exit(main())
