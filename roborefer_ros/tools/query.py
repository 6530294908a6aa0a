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
from roborefer_ros.backends.registry import BackendOptions, known_backends, make_backend
from roborefer_ros.core.annotate import draw_points
from roborefer_ros.core.request import Mode, resolve_mode
from roborefer_ros.core.status import RefPointError, Status


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roborefer-query", description=__doc__.splitlines()[0])
    p.add_argument("image", type=Path, help="colour image (PNG/JPEG)")
    p.add_argument("instruction", help='e.g. "the apple in front of the leftmost cup"')
    p.add_argument("--depth", type=Path, help="aligned depth: 16-bit PNG in mm, or .npy in metres")
    p.add_argument(
        "--backend", default="roborefer_http", help=f"one of {', '.join(known_backends())}"
    )
    p.add_argument("--mode", default="auto", choices=["auto", "locate", "place"])
    p.add_argument(
        "--url", dest="server_url", default=BackendOptions.server_url, help="roborefer_http server"
    )
    p.add_argument("--base-url", dest="openai_base_url", default=BackendOptions.openai_base_url)
    p.add_argument("--model", dest="openai_model", default="", help="openai: model name")
    p.add_argument(
        "--api-key-env", default=BackendOptions.api_key_env, help="env var with the API key"
    )
    p.add_argument("--model-path", default="", help="transformers: local model folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--max-new-tokens", type=int, default=BackendOptions.max_new_tokens)
    p.add_argument(
        "--format", dest="answer_format", default="", help="answer format (default: the backend's)"
    )
    p.add_argument(
        "--prompt-template", default="", help="template with {object} for the instruction"
    )
    p.add_argument("--image-encoding", default="png", choices=["png", "jpeg"])
    p.add_argument("--depth-source", default="none", choices=["none", "sensor", "estimated"])
    p.add_argument(
        "--depth-model-path", default="", help="estimated depth: local Depth-Anything-V2 folder"
    )
    p.add_argument(
        "--referring-file", default="", help="ground_truth backend (test instrumentation)"
    )
    p.add_argument("--answers-file", default="", help="recorded backend (test instrumentation)")
    p.add_argument("--timeout", type=float, default=60.0, help="model deadline in seconds")
    p.add_argument("--out", type=Path, help="annotated image (default: IMAGE_annotated.png)")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    return p


def _options(args: argparse.Namespace) -> BackendOptions:
    names = BackendOptions.__dataclass_fields__
    given = {k: v for k, v in vars(args).items() if k in names}
    return BackendOptions(**given)


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
    options = _options(args)
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
    args = _parser().parse_args(argv)
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
