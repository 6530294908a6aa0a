"""``roborefer-call``: ask a running refer node or pick_place node from a shell, no ros2 CLI needed.

    roborefer-call refer "the red cup" [--mode locate|place|auto] [--target-frame F]
                   [--min-stamp now|SEC] [--max-points N] [--node /refer_node] [--json]
    roborefer-call pick-place "the red cup" "the free area left of the plate"
                   [--target-frame F] [--dry-run] [--node /pick_place_node] [--json]

``refer`` calls the RefPoint service (``NODE/refer``) and prints each point in the target frame;
``pick-place`` sends a PickPlace goal (``NODE/pick_place``) and prints its feedback as it arrives
(stage, step). With ``--json`` the last line on stdout is one JSON object of the answer. On a
failure the status name and the node's message go to stderr, one line.

Exit codes: 0 only for OK / SUCCEEDED; 10 + the answer's status for a failed answer (11 NO_FRAME,
14 BACKEND_ERROR, 19 TF_ERROR, ... 25 INTERNAL_ERROR; for PickPlace also 30 PLANNING_FAILED ... 34
UNAVAILABLE: each status its own code); 2 bad arguments; 3 no such node (the service or action
did not appear within ``--wait``); 4 no answer within ``--timeout``; 5 the goal was not accepted;
130 interrupted (Ctrl-C cancels a goal first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import Status
from roborefer_ros.manipulation.errors import PickPlaceStatus
from roborefer_ros.tools.cli import non_negative_int, positive_float, text

PROG = "roborefer-call"
EXIT_USAGE = 2
EXIT_NO_NODE = 3
EXIT_NO_ANSWER = 4
EXIT_NOT_ACCEPTED = 5
EXIT_INTERRUPTED = 130
STATUS_EXIT_BASE = 10  # a failed answer exits 10 + its status


def exit_code(status: int) -> int:
    """0 for OK, else ``STATUS_EXIT_BASE`` + the status (distinct per status)."""
    return 0 if status == 0 else STATUS_EXIT_BASE + int(status)


def status_name(status: int, names: type[Status] | type[PickPlaceStatus] = Status) -> str:
    try:
        return names(int(status)).name
    except ValueError:
        return f"STATUS_{int(status)}"


class CallError(Exception):
    """The call could not be made or answered; ``code`` is the exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class MinStamp:
    """``--min-stamp``: ``now`` (this machine's clock when the call is made) or seconds."""

    now: bool
    seconds: float = 0.0

    def ns(self) -> int:
        return time.time_ns() if self.now else round(self.seconds * 1e9)


def min_stamp(value: str) -> MinStamp:
    """An argparse ``type``: ``now`` or a time in seconds >= 0 (0: the latest frame)."""
    if value.strip().lower() == "now":
        return MinStamp(now=True)
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'now' or seconds, got {value!r}") from None
    if not seconds >= 0.0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected 'now' or seconds >= 0, got {value!r}")
    return MinStamp(now=False, seconds=seconds)


def node_name(value: str) -> str:
    """A node's fully qualified name: ``refer_node`` -> ``/refer_node`` (an argparse ``type``)."""
    name = "/" + value.strip().strip("/")
    if name == "/" or any(not part.isidentifier() for part in name[1:].split("/")):
        raise argparse.ArgumentTypeError(f"{value!r} is not a node name such as /refer_node")
    return name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of failures")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{refer,pick-place}")

    def common(p: argparse.ArgumentParser, node: str, timeout_s: float) -> None:
        p.add_argument("--node", type=node_name, default=node, help=f"the node (default {node})")
        p.add_argument("--target-frame", default="", help="frame of the answer (default: node's)")
        p.add_argument(
            "--wait",
            type=positive_float,
            default=10.0,
            help="seconds to wait for the node's service or action (default 10)",
        )
        p.add_argument(
            "--timeout",
            type=positive_float,
            default=timeout_s,
            help=f"seconds to wait for the answer (default {timeout_s:g})",
        )
        p.add_argument("--json", action="store_true", help="last line: one JSON object")

    refer = sub.add_parser("refer", help="RefPoint: where is it, in 3D?")
    refer.add_argument("prompt", type=text, help='the instruction, e.g. "the red cup"')
    refer.add_argument("--mode", choices=["auto", "locate", "place"], default="auto")
    refer.add_argument(
        "--min-stamp",
        type=min_stamp,
        default=MinStamp(now=False),
        help="'now' (a frame taken from now on) or seconds: the earliest frame stamp to use "
        "(default: the latest frame)",
    )
    refer.add_argument(
        "--max-points", type=non_negative_int, default=0, help="keep the first N; 0 = all"
    )
    common(refer, "/refer_node", 60.0)

    pick = sub.add_parser("pick-place", help="PickPlace: pick one thing and put it somewhere")
    pick.add_argument("pick", help='the object, e.g. "the red cup" ("" = place only)')
    pick.add_argument(
        "place", help='where, e.g. "the free area left of the plate" ("" = pick only)'
    )
    pick.add_argument(
        "--dry-run", action="store_true", help="resolve, check and plan; move nothing"
    )
    common(pick, "/pick_place_node", 600.0)
    return parser


# -- messages to plain data ------------------------------------------------------------------


def _stamp_s(stamp: Any) -> float:
    return int(stamp.sec) + int(stamp.nanosec) * 1e-9


def _xyz(v: Any) -> list[float]:
    return [float(v.x), float(v.y), float(v.z)]


def _pose(pose_stamped: Any) -> dict[str, Any]:
    p, q = pose_stamped.pose.position, pose_stamped.pose.orientation
    return {
        "frame_id": str(pose_stamped.header.frame_id),
        "position": _xyz(p),
        "orientation_xyzw": [float(q.x), float(q.y), float(q.z), float(q.w)],
    }


def refer_json(response: Any) -> dict[str, Any]:
    """A RefPoint response as plain data (what ``--json`` prints)."""
    t = response.timings
    return {
        "success": bool(response.success),
        "status": status_name(response.status),
        "message": str(response.message),
        "frame": {
            "frame_id": str(response.image_header.frame_id),
            "stamp_s": _stamp_s(response.image_header.stamp),
        },
        "raw_answer": str(response.raw_answer),
        "depth_source": str(response.depth_source),
        "points": [
            {
                "pixel": [float(p.u), float(p.v)],
                "depth_m": float(p.depth_m),
                "depth_valid_ratio": float(p.depth_valid_ratio),
                "point": _xyz(p.point.point),
                "pose": _pose(p.pose),
            }
            for p in response.points
        ],
        "timings_s": {
            "wait_frame": float(t.wait_frame_s),
            "model": float(t.model_s),
            "lift": float(t.lift_s),
            "tf": float(t.tf_s),
            "total": float(t.total_s),
        },
    }


def pick_place_json(result: Any) -> dict[str, Any]:
    """A PickPlace result as plain data (what ``--json`` prints)."""
    targets = {}
    for key in ("pick_target", "place_target"):
        pose = getattr(result, key)
        targets[key] = _pose(pose) if pose.header.frame_id else None
    return {
        "success": bool(result.success),
        "status": "SUCCEEDED" if result.success else status_name(result.status, PickPlaceStatus),
        "message": str(result.message),
        **targets,
        "failed_step": int(result.failed_step),
        "num_steps": int(result.num_steps),
        "total_s": float(result.total_s),
    }


# -- the calls ---------------------------------------------------------------------------------


class _Graph:
    """This process on the graph: its own context and a node spun on a thread."""

    def __init__(self) -> None:
        from roborefer_ros.ros.graph import GraphClient

        self.client = GraphClient(f"roborefer_call_{os.getpid()}")
        self.node = self.client.node

    def close(self) -> None:
        self.client.close()


def _wait_done(future: Any, timeout_s: float, stop: threading.Event, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not future.done():
        if stop.is_set():
            raise CallError(EXIT_INTERRUPTED, f"interrupted while waiting for {what}")
        if time.monotonic() > deadline:
            raise CallError(EXIT_NO_ANSWER, f"no {what} within {timeout_s:g} s")
        time.sleep(0.01)
    return future.result()


def call_refer(graph: _Graph, args: argparse.Namespace, stop: threading.Event) -> int:
    from roborefer_ros.ros.conversions import time_msg
    from roborefer_ros.srv import RefPoint

    service = f"{args.node}/refer"
    client: Any = graph.node.create_client(RefPoint, service)
    if not client.wait_for_service(timeout_sec=args.wait):
        raise CallError(
            EXIT_NO_NODE,
            f"no service {service} within {args.wait:g} s (is the node running, on "
            f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')}?)",
        )
    request = RefPoint.Request(
        prompt=args.prompt,
        target_frame=args.target_frame,
        mode=Mode.parse(args.mode).value,
        min_stamp=time_msg(args.min_stamp.ns()),
        max_points=args.max_points,
    )
    response = _wait_done(client.call_async(request), args.timeout, stop, f"answer from {service}")
    data = refer_json(response)
    if response.success:
        print(
            f"OK: {len(response.points)} point(s) from the frame at {data['frame']['stamp_s']:.3f} "
            f"s ({data['frame']['frame_id']}; model {data['timings_s']['model']:.2f} s, total "
            f"{data['timings_s']['total']:.2f} s)"
        )
        for index, point in enumerate(data["points"]):
            x, y, z = point["point"]
            u, v = point["pixel"]
            print(
                f"  [{index}] {x:.3f} {y:.3f} {z:.3f} m in {point['pose']['frame_id']}  "
                f"(pixel {u:.1f}, {v:.1f}; depth {point['depth_m']:.3f} m)"
            )
    else:
        print(f"{data['status']}: {data['message']}", file=sys.stderr)
    if args.json:
        print(json.dumps(data))
    return exit_code(int(response.status))


def call_pick_place(graph: _Graph, args: argparse.Namespace, stop: threading.Event) -> int:
    from rclpy.action.client import ActionClient

    from roborefer_ros.action import PickPlace

    action = f"{args.node}/pick_place"
    client: Any = ActionClient(graph.node, PickPlace, action)
    if not client.wait_for_server(timeout_sec=args.wait):
        raise CallError(
            EXIT_NO_NODE,
            f"no action {action} within {args.wait:g} s (is the node running, on "
            f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')}?)",
        )
    goal = PickPlace.Goal(
        pick_prompt=args.pick,
        place_prompt=args.place,
        target_frame=args.target_frame,
        dry_run=args.dry_run,
    )
    shown: list[tuple[str, str]] = []

    def feedback(msg: Any) -> None:
        fb = msg.feedback
        key = (str(fb.stage_name), str(fb.step_label))
        if not shown or shown[-1] != key:
            shown.append(key)
            step = f" - {fb.step_label}" if fb.step_label else ""
            print(f"[{fb.elapsed_s:6.1f} s] {fb.stage_name}{step}", flush=True)

    sent = client.send_goal_async(goal, feedback_callback=feedback)
    handle = _wait_done(sent, args.wait, stop, f"goal acceptance from {action}")
    if not handle.accepted:
        raise CallError(EXIT_NOT_ACCEPTED, f"{action} did not accept the goal")
    result_future = handle.get_result_async()
    try:
        wrapped = _wait_done(result_future, args.timeout, stop, f"result from {action}")
    except CallError as err:
        handle.cancel_goal_async()  # do not leave the arm running for a caller who left
        try:
            wrapped = _wait_done(result_future, 5.0, threading.Event(), "the cancelled result")
        except CallError:
            raise err from None
        if err.code == EXIT_INTERRUPTED:
            print(f"cancelled: {wrapped.result.message}", file=sys.stderr)
            raise
    result = wrapped.result
    data = pick_place_json(result)
    if result.success:
        print(
            f"SUCCEEDED: {data['message']} ({data['num_steps']} step(s), {data['total_s']:.1f} s)"
        )
        for key in ("pick_target", "place_target"):
            if data[key] is not None:
                x, y, z = data[key]["position"]
                print(
                    f"  {key.split('_')[0]}: {x:.3f} {y:.3f} {z:.3f} m in {data[key]['frame_id']}"
                )
    else:
        print(f"{data['status']}: {data['message']}", file=sys.stderr)
    if args.json:
        print(json.dumps(data))
    return 0 if result.success else exit_code(int(result.status) or int(Status.INTERNAL_ERROR))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    graph: _Graph | None = None
    try:
        graph = _Graph()
        run = call_refer if args.command == "refer" else call_pick_place
        return run(graph, args, stop)
    except CallError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return err.code
    except Exception as err:
        if args.debug:
            raise
        print(f"{PROG}: {type(err).__name__}: {err} (--debug shows the traceback)", file=sys.stderr)
        return 1
    finally:
        if graph is not None:
            graph.close()
        signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    raise SystemExit(main())
