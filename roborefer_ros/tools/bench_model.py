"""Model latency of the in-process ``transformers`` backend on a randomly initialised VLM.

No weights can be downloaded, but latency does not depend on weight values: a random model of a
deployed size class (``--size 3b``: the Qwen2.5-VL-3B architecture, for a GPU) or a tiny one
(``--size tiny``: CPU smoke figure) runs the real backend path (chat template, image processor,
vision tower, greedy generation of exactly ``--new-tokens`` tokens, decoding, parsing) on a
1280x720 frame with a RoboRefer-length prompt. Prints time-to-answer p50/p95 in ms.

    python -m roborefer_ros.tools.bench_model --size tiny --device cpu --n 5
    python -m roborefer_ros.tools.bench_model --size 3b --device cuda --dtype bfloat16 --n 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from roborefer_ros.tools.cli import non_negative_int, positive_int, size_text


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from roborefer_ros.backends.base import PointingQuery
    from roborefer_ros.backends.parsers import AnswerFormat
    from roborefer_ros.backends.prompt import ROBOREFER_TEMPLATE
    from roborefer_ros.backends.transformers_vlm import TransformersVLMBackend
    from roborefer_ros.core.request import Mode
    from roborefer_ros.sim.analytic_scene import SyntheticScene
    from roborefer_ros.tools.machine_info import machine
    from roborefer_ros.tools.random_vlm import save_random_qwen25_vl

    width, height = (int(v) for v in args.frame.split("x"))
    rgb, _ = SyntheticScene(width=width, height=height).render(0.0)
    with tempfile.TemporaryDirectory(prefix="roborefer-bench-model-") as tmp:
        started = time.perf_counter()
        folder = save_random_qwen25_vl(
            Path(tmp), args.size, max_pixels=args.max_pixels, dtype=args.save_dtype
        )
        build_s = time.perf_counter() - started
        backend = TransformersVLMBackend(
            str(folder),
            device=args.device,
            dtype=args.dtype,
            max_new_tokens=args.new_tokens,
            answer_format=AnswerFormat.QWEN25,
            prompt_template=ROBOREFER_TEMPLATE,  # RoboRefer-length prompt
        )
        started = time.perf_counter()
        backend.load()
        load_s = time.perf_counter() - started
        loaded_as = backend.loaded_as or (args.device, args.dtype)
        query = PointingQuery(
            rgb=rgb,
            instruction="the apple in front of the logo side of the leftmost cup",
            mode=Mode.LOCATE,
            stamp_ns=0,
        )
        times: list[float] = []
        try:
            for i in range(args.warmup + args.n):
                started = time.perf_counter()
                answer = backend.point(query, timeout_s=600.0)
                if i >= args.warmup:
                    times.append(time.perf_counter() - started)
        finally:
            backend.close()
    ms = [t * 1000 for t in times]
    return {
        "size": args.size,
        "device": args.device,
        "dtype": loaded_as[1],
        "frame": args.frame,
        "new_tokens": args.new_tokens,
        "n": args.n,
        "answer": answer.raw_text,
        "model_image_size": list(answer.model_image_size),
        "time_to_answer_ms": {
            "p50": round(_percentile(ms, 50), 2),
            "p95": round(_percentile(ms, 95), 2),
            "mean": round(statistics.fmean(ms), 2),
        },
        "build_s": round(build_s, 2),
        "load_s": round(load_s, 2),
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="roborefer-bench-model", description=__doc__.splitlines()[0])
    p.add_argument("--size", default="tiny", choices=["tiny", "3b"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--save-dtype", default="float32", help="dtype of the saved random weights")
    p.add_argument("--frame", type=size_text, default="1280x720")
    p.add_argument(
        "--max-pixels",
        type=positive_int,
        default=12_845_056,
        help="processor resize bound (Qwen default)",
    )
    p.add_argument("--new-tokens", type=positive_int, default=16, help="fixed answer length")
    p.add_argument("--n", type=positive_int, default=5)
    p.add_argument("--warmup", type=non_negative_int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(args)
    t = result["time_to_answer_ms"]
    print(
        f"{args.size} on {args.device} ({result['dtype']}), frame {args.frame} -> model input "
        f"{result['model_image_size'][0]}x{result['model_image_size'][1]}, {args.new_tokens} new "
        f"tokens: time to answer p50 {t['p50']:.1f} ms, p95 {t['p95']:.1f} ms "
        f"(load {result['load_s']} s)"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
