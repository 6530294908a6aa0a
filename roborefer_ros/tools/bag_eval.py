"""``roborefer-bag-eval BAG_DIR``: score the refer node on a recorded bag against its ground truth.

Starts a refer node in its own process (camera topics remapped to the bag's), replays the bag in
this process, and asks every query of the bag's ``referring.json`` about the frame with the
query's stamp (``min_stamp``), sending each request a little ahead of its frame so the node
waits for exactly that frame. Each answer is compared with the true 3D point. Everything runs on
an isolated graph: ROS_DOMAIN_ID (random in 50-99 unless set), localhost discovery, FastDDS
shared memory big enough for whole frames. ``--offline-baseline`` skips ROS altogether and
compares naive single-pixel depth with the node's robust lifting on the same bag.

Exit 0 when the evaluation measured something, 1 when it failed as a job: no query succeeded, or
any query was never answered by the model (BACKEND_ERROR, BACKEND_TIMEOUT, no response), with the
first cause in the node's own words on stderr; 2 for bad arguments, a bad bag or referring file, 3
when the node could not be started (its own one-line reason) or never saw the camera topics. With
``--json`` the last line is one JSON object (``n``, ``succeeded``, ``success_rate``,
``median_error_m``, ``p95_error_m``, ``status_counts``, ``failure``, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from roborefer_ros.backends.registry import known_backends
from roborefer_ros.bags.errors import BagError
from roborefer_ros.bags.reader import BagReader, CameraTopics
from roborefer_ros.core.referring import ReferringFileError, ReferringSet, load_referring
from roborefer_ros.eval.bag_baseline import format_report, run_baseline
from roborefer_ros.eval.summary import QueryOutcome, format_summary, job_failure, summarize
from roborefer_ros.tools.bag_session import (
    BagSession,
    SetupError,
    configure_environment,
    outcome,
    session_parameters,
)
from roborefer_ros.tools.cli import domain_id, name_value, positive_float, positive_int

NODE_NAME = "bag_eval_refer_node"
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_NO_GRAPH = 1, 2, 3


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="roborefer-bag-eval", description=__doc__.splitlines()[0])
    parser.add_argument("bag", help="rosbag2 bag directory")
    parser.add_argument(
        "--backend",
        default="ground_truth",
        choices=known_backends(),
        metavar="BACKEND",
        help="refer node backend (default ground_truth: test instrumentation, not a model); "
        f"one of {', '.join(known_backends())}",
    )
    parser.add_argument("--referring", help="ground truth file (default: BAG/referring.json)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=name_value,
        help="refer node parameter (repeatable; overrides the evaluation defaults)",
    )
    parser.add_argument("--color-topic")
    parser.add_argument("--depth-topic")
    parser.add_argument("--info-topic")
    parser.add_argument("--rate", type=positive_float, default=1.0, help="replay speed factor")
    parser.add_argument(
        "--qos",
        choices=("reliable", "recorded"),
        default="reliable",
        help="camera topics reliable (no lost frames; default) or with the recorded QoS",
    )
    parser.add_argument(
        "--max-in-flight",
        type=positive_int,
        default=4,
        help="unanswered requests at most (default 4)",
    )
    parser.add_argument("--domain-id", type=domain_id, help="ROS_DOMAIN_ID (default: env or 50-99)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument(
        "--offline-baseline",
        action="store_true",
        help="no ROS: naive single-pixel depth vs robust lifting on the bag's frames",
    )
    return parser.parse_args(argv)


def node_parameters(
    args: argparse.Namespace, referring_path: Path, n_queries: int
) -> dict[str, object]:
    """Evaluation defaults (frames by stamp, never stale, enough room for in-flight requests),
    then the caller's --param values verbatim."""
    return session_parameters(
        args.backend,
        referring_path,
        n_queries,
        rate=args.rate,
        reliable_camera=args.qos == "reliable",
        overrides=args.param,
    )


def run_live(
    bag: BagReader,
    cams: CameraTopics,
    referring: ReferringSet,
    params: dict[str, object],
    args: argparse.Namespace,
    workdir: Path,
) -> list[QueryOutcome]:
    """Node process + in-process replay + requests; SetupError when the graph does not come up."""
    with BagSession(
        bag,
        cams,
        params,
        node_name=NODE_NAME,
        workdir=workdir,
        rate=args.rate,
        reliable_camera=args.qos == "reliable",
    ) as session:
        session.start()
        answered = session.ask(referring.queries, referring.target_frame, args.max_in_flight)
    return [outcome(a) for a in answered]


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    topics = {"color": args.color_topic, "depth": args.depth_topic, "info": args.info_topic}
    try:
        bag = BagReader(args.bag)
        cams = bag.camera_topics(**topics)
        referring_path = Path(args.referring) if args.referring else bag.referring_path()
        referring = load_referring(referring_path)
    except (BagError, ReferringFileError) as err:
        print(f"roborefer-bag-eval: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with bag:
        duration_s = (bag.end_ns - bag.start_ns) * 1e-9
        print(
            f"bag {bag.path}: {bag.message_count} messages, {duration_s:.1f} s; camera "
            f"{cams.color}, {cams.depth}, {cams.info}; {len(referring.queries)} queries"
        )
        if args.offline_baseline:
            report = run_baseline(bag, cams, referring)
            print(format_report(report))
            if args.json:
                print(json.dumps(report.to_json_dict()))
            return 0
        domain_id = configure_environment(args.domain_id)
        params = node_parameters(args, referring_path.resolve(), len(referring.queries))
        workdir = Path(tempfile.mkdtemp(prefix="roborefer-bag-eval-"))
        print(f"domain {domain_id}; backend {args.backend}; node log {workdir / 'node.log'}")
        try:
            outcomes = run_live(bag, cams, referring, params, args, workdir)
        except SetupError as err:
            print(f"roborefer-bag-eval: {err}", file=sys.stderr)
            return EXIT_NO_GRAPH
    summary = summarize(outcomes)
    failure = job_failure(outcomes)
    print(format_summary(summary, f"bag evaluation ({args.backend})"))
    if failure is not None:
        print(f"roborefer-bag-eval: evaluation failed: {failure}", file=sys.stderr)
    if args.json:
        extra = {"backend": args.backend, "bag": str(bag.path), "rate": args.rate}
        print(json.dumps({**summary.to_json_dict(), **extra, "failure": failure}))
    return EXIT_FAILED if failure is not None else 0


if __name__ == "__main__":
    raise SystemExit(main())
