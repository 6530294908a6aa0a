"""``python -m roborefer_ros.tools.synthetic_bag OUT [--noise]``: a ground-truth bag of the
analytic scene."""

from __future__ import annotations

import argparse

from roborefer_ros.bags.synthetic import moving_source, write_synthetic_bag
from roborefer_ros.sim.noise import PixelNoise
from roborefer_ros.tools.cli import image_size, new_path, positive_float, positive_int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.synthetic_bag", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out", type=new_path, help="bag directory to create (must not exist)")
    parser.add_argument("--frames", type=positive_int, default=30)
    parser.add_argument("--rate", type=positive_float, default=10.0, help="frames per second")
    parser.add_argument("--size", type=image_size, default="640x480", help="WIDTHxHEIGHT")
    parser.add_argument("--every", type=positive_int, default=1, help="queries in every N-th frame")
    parser.add_argument("--noise", action="store_true", help="RealSense-like depth noise")
    args = parser.parse_args(argv)
    width, height = args.size
    source = moving_source(args.frames, args.rate, width, height)
    noise = PixelNoise() if args.noise else None
    summary = write_synthetic_bag(str(args.out), source, every=args.every, depth_noise=noise)
    print(
        f"wrote {summary.path}: {summary.frames} frames, {summary.size_bytes / 1e6:.1f} MB, "
        f"topics {summary.message_counts}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
