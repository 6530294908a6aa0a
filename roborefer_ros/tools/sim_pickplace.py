"""``roborefer-sim-pickplace --seed N``: one pick-and-place episode in physics simulation.

By default on a live ROS graph, the robot's own configuration (``config/ur5.yaml`` or
``config/g1.yaml``) with the simulation's overlay (``config/sim_<robot>.yaml``): starts sim_node
(the seeded tabletop with free objects; camera, TF and the robot's driver interfaces: the UR
driver's FollowJointTrajectory and gripper for the UR5e, with sim_move_group planning for it;
unitree_hg /lowstate, /arm_sdk and Dex3 for the G1), refer_node (``--backend``, ground_truth by
default: answers from the scene's generated queries, written to a referring file for the static
camera) and pick_place_node (``manipulation_backend`` ``moveit`` for the UR5e, ``g1`` for the
G1) as processes, sends the PickPlace goal, and reads where the object came to rest from TF
(``object/<name>``). ``--in-process`` runs the old fast path without
a graph: ground truth in place of the refer node, the plan on the simulated arm in this process.

The pick and place instructions are drawn from the scene's generated queries, or ``--pick`` /
``--place`` resolved against them. With ``--json`` the last line printed is one JSON object with
``success``, ``object``, ``place_error_m``, ``status`` (and ``message``, ``timings``, ...).
``--frames DIR`` writes PNG frames from the scene camera (start, grasp, lift, place, end) and
``strip.png`` with all of them side by side.

Exit codes: 0 the object rests on target, 1 the episode failed, 2 no episode could be set up.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from roborefer_ros.backends.registry import known_backends
from roborefer_ros.sim import SimError
from roborefer_ros.sim.episodes.episode import (
    DEFAULT_TOLERANCE_M,
    GEOMETRIES,
    EpisodeError,
    EpisodeResult,
    run_episode,
)
from roborefer_ros.sim.episodes.strip import KeyFrameWriter
from roborefer_ros.tools.backend_flags import add_backend_arguments, backend_options_from_args
from roborefer_ros.tools.cli import output_dir, output_file, positive_float, seed


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roborefer-sim-pickplace", description=__doc__.splitlines()[0])
    p.add_argument("--robot", default="ur5e", choices=["ur5e", "g1"], help="ur5e or g1")
    p.add_argument("--seed", type=seed, required=True, help="scene seed (>= 0)")
    p.add_argument("--pick", help="pick instruction (one of the scene's generated LOCATE prompts)")
    p.add_argument("--place", help="place instruction (one of the scene's PLACE prompts)")
    p.add_argument(
        "--tolerance", type=positive_float, default=DEFAULT_TOLERANCE_M, help="metres, xy"
    )
    p.add_argument("--realtime", action="store_true", help="run the simulation at wall-clock speed")
    p.add_argument(
        "--frames", type=output_dir, help="write PNG frames of the episode into this folder"
    )
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.add_argument(
        "--geometry",
        choices=GEOMETRIES,
        default="perceived",
        help="the object's size and yaw: perceived from the frame (default; the goal carries "
        "only the instructions) or the simulator's truth (comparison runs)",
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="no ROS graph: ground truth and the simulated arm in this process (fast path)",
    )
    live = p.add_argument_group("live graph")
    live.add_argument("--rate", type=positive_float, default=10.0, help="sim_node camera rate (Hz)")
    live.add_argument(
        "--log", type=output_file, help="write the nodes' output here (default: a temp file)"
    )
    live.add_argument(
        "--goal-timeout",
        type=positive_float,
        default=300.0,
        help="deadline of the PickPlace goal (s)",
    )
    add_backend_arguments(p)
    p.set_defaults(backend="ground_truth")
    return p


def _summary(result: EpisodeResult, tolerance_m: float) -> str:
    failure = result.failure_class
    verdict = "SUCCESS" if failure is None else f"FAILED ({failure.value})"
    t = result.timings
    lines = [
        f"seed {result.seed}: {verdict}",
        f"  pick:  {result.pick_prompt!r} -> {result.object} ({result.object_description})",
        f"  place: {result.place_prompt!r}",
        f"  status: {result.status.value}: {result.message}",
    ]
    if result.place_error_m is not None:
        lines.append(
            f"  place error: {result.place_error_m * 1e3:.1f} mm (tolerance "
            f"{tolerance_m * 1e3:.0f} mm)"
        )
    if t.robot_sim_s > 0:
        lines.append(f"  robot time {t.robot_sim_s:.1f} s simulated in {t.execute_s:.1f} s wall")
    lines.append(
        f"  episode {t.total_s:.1f} s wall (scene {t.build_s:.1f}, queries {t.referring_s:.1f})"
    )
    return "\n".join(lines)


def _in_process(args: argparse.Namespace) -> int:
    if args.backend != "ground_truth":
        print("error: --in-process answers with ground truth only", file=sys.stderr)
        return 2
    writer = KeyFrameWriter(args.frames) if args.frames is not None else None
    try:
        result = run_episode(
            args.seed,
            robot=args.robot,
            pick_prompt=args.pick,
            place_prompt=args.place,
            tolerance_m=args.tolerance,
            realtime=args.realtime,
            frame_sink=writer,
            geometry=args.geometry,
        )
    except (EpisodeError, SimError) as err:
        return _setup_failed(args, err)
    print(_summary(result, args.tolerance))
    if writer is not None:
        strip = writer.close()
        print(f"  frames: {args.frames} (strip: {strip})")
    if args.json:
        print(json.dumps(result.as_dict()))
    return 0 if result.success else 1


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _live(args: argparse.Namespace) -> int:
    from roborefer_ros.tools.sim_live_episode import (
        EpisodeSetupError,
        LiveOptions,
        run_live_episode,
    )

    # Children re-run the ROS wheels' library-path set-up themselves (notes/ros2-from-pypi.md).
    os.environ.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    # SIGTERM (a batch script's timeout, a kill) unwinds like Ctrl-C, so the graph's processes
    # (sessions of their own) are stopped: left running, they fed the next episode on the same
    # domain with another scene's camera.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    options = LiveOptions(
        seed=args.seed,
        robot=args.robot,
        pick_prompt=args.pick,
        place_prompt=args.place,
        backend=args.backend,
        backend_options=backend_options_from_args(args),
        model_timeout_s=args.timeout,
        tolerance_m=args.tolerance,
        realtime=args.realtime,
        rate_hz=args.rate,
        frames_dir=args.frames,
        goal_timeout_s=args.goal_timeout,
        geometry=args.geometry,
    )
    log_path: Path = args.log
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="sim_pickplace_", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    with open(log_path, "w") as log:
        try:
            result = run_live_episode(options, sys.executable, log)
        except (EpisodeError, SimError, EpisodeSetupError) as err:
            log.flush()
            return _setup_failed(args, f"{err} (node log: {log_path})")
    verdict = "SUCCESS" if result.success else f"FAILED ({result.status})"
    t = result.timings
    print(f"seed {result.seed} on the live graph: {verdict}")
    print(f"  pick:  {result.pick_prompt!r} -> {result.object}")
    print(f"  place: {result.place_prompt!r}")
    print(f"  {result.status}: {result.message}")
    if result.camera_rate_hz_moving is not None:
        print(f"  camera while the arm moved: {result.camera_rate_hz_moving:.1f} Hz")
    print(
        f"  episode {t['total_s']:.1f} s wall (set-up {t['setup_s']:.1f}, graph up "
        f"{t['graph_ready_s']:.1f}, goal {t['goal_s']:.1f}); node log {result.log}"
    )
    if args.frames is not None:
        print(f"  frames: {args.frames}")
    if args.json:
        print(json.dumps(result.as_dict()))
    return 0 if result.success else 1


def _setup_failed(args: argparse.Namespace, err: object) -> int:
    print(f"error: {err}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "success": False,
                    "object": "",
                    "place_error_m": None,
                    "status": "setup_failed",
                    "message": str(err),
                }
            )
        )
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.backend not in known_backends():
        # said at once: a node started with it would only refuse its configuration
        parser.error(
            f"argument --backend: unknown backend {args.backend!r} "
            f"(known: {', '.join(known_backends())})"
        )
    if (args.pick is None) != (args.place is None):
        print("error: give both --pick and --place, or neither", file=sys.stderr)
        return 2
    return _in_process(args) if args.in_process else _live(args)


if __name__ == "__main__":
    sys.exit(main())
