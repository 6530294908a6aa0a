"""``roborefer-query IMAGE "instruction"``: one backend on one image file, no ROS graph needed.

The same job as the authors' ``use_api.py``: ask a pointing model where the instruction points,
print the points, and write the image with the points drawn. With ``--json`` the last line
printed is one JSON object: ``raw_answer``, ``points_norm``, ``points_px`` (pixels of the input
image) and ``latency_s`` (plus ``status`` and ``message``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.backends.base import PointingQuery
from roborefer_ros.backends.registry import make_backend
from roborefer_ros.core.annotate import draw_points
from roborefer_ros.core.request import Mode, resolve_mode
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.tools.backend_flags import add_backend_arguments, backend_options_from_args
from roborefer_ros.tools.cli import output_file, text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roborefer-query", description=__doc__.splitlines()[0])
    p.add_argument("image", type=Path, help="colour image (PNG/JPEG)")
    p.add_argument("instruction", type=text, help='e.g. "the apple in front of the leftmost cup"')
    p.add_argument(
        "--depth",
        type=Path,
        help="aligned depth shown to the model (--depth-source sensor): 16-bit PNG in mm, or "
        ".npy in metres",
    )
    p.add_argument("--mode", default="auto", choices=["auto", "locate", "place"])
    add_backend_arguments(p)
    p.add_argument("--out", type=output_file, help="annotated image (default: IMAGE_annotated.png)")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    return p


def load_rgb(path: Path) -> npt.NDArray[np.uint8]:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def load_depth(path: Path) -> tuple[npt.NDArray[Any], str]:
    """(depth, encoding): .npy metres -> 32FC1; 16-bit PNG millimetres -> 16UC1."""
    if path.suffix == ".npy":
        return np.load(path).astype(np.float32), "32FC1"
    from PIL import Image

    with Image.open(path) as image:
        depth = np.asarray(image)
    if depth.dtype != np.uint16 and depth.dtype != np.int32:
        raise RefPointError(
            Status.UNSUPPORTED_ENCODING,
            f"{path}: depth PNG must be 16-bit millimetres, got {depth.dtype}",
        )
    return depth.astype(np.uint16), "16UC1"


def run(args: argparse.Namespace) -> dict[str, Any]:
    rgb = load_rgb(args.image)
    height, width = rgb.shape[:2]
    options = backend_options_from_args(args)
    depth_for_model = None
    depth_source = "none"
    if options.depth_source != "none":
        from roborefer_ros.backends.model_depth import make_model_depth_for_options

        depth = load_depth(args.depth) if args.depth else None
        source = make_model_depth_for_options(options)
        depth_for_model = source.from_arrays(rgb, depth)
        depth_source = source.name
    backend = make_backend(args.backend, options)
    mode = resolve_mode(Mode.parse(args.mode), args.instruction)
    started = time.monotonic()
    try:
        backend.load()
        query = PointingQuery(
            rgb=rgb,
            instruction=args.instruction,
            mode=mode,
            stamp_ns=0,
            depth_for_model=depth_for_model,
            depth_source=depth_source,
        )
        answer = backend.point(query, args.timeout)
    finally:
        backend.close()
    latency_s = time.monotonic() - started
    points_px = [(x * width, y * height) for x, y in answer.points_norm]
    out = args.out or args.image.with_name(f"{args.image.stem}_annotated.png")
    from PIL import Image

    Image.fromarray(draw_points(rgb, points_px)).save(out)
    return {
        "status": "OK",
        "message": f"{len(points_px)} point(s); annotated image: {out}",
        "raw_answer": answer.raw_text,
        "points_norm": [list(p) for p in answer.points_norm],
        "points_px": [[round(u, 2), round(v, 2)] for u, v in points_px],
        "latency_s": round(latency_s, 4),
        "depth_source": answer.depth_source,
    }


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.depth is not None and args.depth_source != "sensor":
        # it used to be read by nobody, silently
        parser.error(
            f"--depth is shown to the model only with --depth-source sensor "
            f"(got --depth-source {args.depth_source})"
        )
    try:
        result = run(args)
    except RefPointError as err:
        result = {
            "status": err.status.name,
            "message": err.message,
            "raw_answer": err.raw_answer,
            "points_norm": [],
            "points_px": [],
            "latency_s": None,
        }
    except (OSError, ValueError) as err:
        result = {
            "status": "BAD_REQUEST",
            "message": str(err),
            "raw_answer": "",
            "points_norm": [],
            "points_px": [],
            "latency_s": None,
        }
    print(
        f"{result['status']}: {result['message']}",
        file=sys.stderr if result["status"] != "OK" else sys.stdout,
    )
    if result["raw_answer"]:
        print(f"answer: {result['raw_answer']}")
    for (x, y), (u, v) in zip(result["points_norm"], result["points_px"], strict=True):
        print(f"point: normalised ({x:.3f}, {y:.3f}) -> pixel ({u:.1f}, {v:.1f})")
    if args.json:
        print(json.dumps(result))
    return 0 if result["status"] == "OK" else 1


if __name__ == "__main__":
    raise SystemExit(main())
