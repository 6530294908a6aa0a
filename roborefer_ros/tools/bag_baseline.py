"""``python -m roborefer_ros.tools.bag_baseline BAG``: the offline naive-vs-robust depth baseline
of a bag (see ``roborefer_ros.eval.bag_baseline``)."""

from __future__ import annotations

import argparse
import json
import sys

from roborefer_ros.bags.errors import BagError
from roborefer_ros.core.referring import (
    ReferringFileError,
)
from roborefer_ros.eval.bag_baseline import baseline_of_bag, format_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bag", help="rosbag2 bag directory")
    parser.add_argument("--referring", help="ground truth (default: BAG/referring.json)")
    parser.add_argument("--color-topic")
    parser.add_argument("--depth-topic")
    parser.add_argument("--info-topic")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    topics = {"color": args.color_topic, "depth": args.depth_topic, "info": args.info_topic}
    try:
        report = baseline_of_bag(args.bag, args.referring, topics)
    except (BagError, ReferringFileError) as err:
        print(f"bag_baseline: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json:
        print(json.dumps(report.to_json_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
