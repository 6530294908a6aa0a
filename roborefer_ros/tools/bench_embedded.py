"""``python -m roborefer_ros.tools.bench_embedded``: the embedded model's benchmark, in one run.

1. exports unseen simulated scenes (``--seeds``, default 1000-1099: outside the training range
   10000-19999) as a RefSpatial-format dataset (``tools.export_sim``);
2. scores, with ``roborefer-bench`` on that dataset, the embedded model and two baselines in the
   same run: the image centre and a random object of the named category (``eval.sim_baselines``);
3. measures the embedded backend's CPU latency per call (p50/p95) at 640x480 and 1280x720 on
   rendered scenes (``--calls`` per size).

Prints a table per split and per step count and writes ``results.json`` under ``--out``.
Exit codes: 0 done, 1 a step failed (its output is shown), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from roborefer_ros.tools.cli import output_dir, parse_seeds, positive_int

ANSWERERS = ("embedded", "centre", "category")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.bench_embedded",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=output_dir, default=Path("out/bench_embedded"))
    p.add_argument("--seeds", type=parse_seeds, default="1000-1099", help="unseen scene seeds")
    p.add_argument("--per-scene", type=positive_int, default=10, help="instructions per scene")
    p.add_argument("--place-share", type=float, default=0.5, help="share of placements")
    p.add_argument("--weights", default="", help="embedded weights (default: the shipped file)")
    p.add_argument("--calls", type=positive_int, default=100, help="latency calls per size")
    p.add_argument("--skip-accuracy", action="store_true", help="latency only")
    p.add_argument("--skip-latency", action="store_true", help="accuracy only")
    return p


def _run(command: list[str]) -> str:
    """Run a tool, echo its command; its stdout (RuntimeError with its output on failure)."""
    print("$ " + " ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def _bench(bench: Path, out: Path, extra: list[str]) -> dict[str, object]:
    lines = _run(
        [sys.executable, "-m", "roborefer_ros.tools.bench", str(bench), "--json", *extra]
    ).strip()
    result: dict[str, object] = json.loads(lines.splitlines()[-1])
    return result


def accuracy(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    from roborefer_ros.eval.sim_baselines import category_answers, centre_answers, write_answers

    bench = args.out / "bench"
    seeds = f"{args.seeds[0]}-{args.seeds[-1]}" if len(args.seeds) > 1 else str(args.seeds[0])
    if len(args.seeds) != args.seeds[-1] - args.seeds[0] + 1:
        seeds = ",".join(str(s) for s in args.seeds)
    _run(
        [
            sys.executable,
            "-m",
            "roborefer_ros.tools.export_sim",
            str(bench),
            "--seeds",
            seeds,
            "--per-scene",
            str(args.per_scene),
            "--place-share",
            str(args.place_share),
        ]
    )
    centre = write_answers(args.out / "centre.jsonl", centre_answers(bench))
    category = write_answers(args.out / "category.jsonl", category_answers(bench))
    weights = ["--embedded-weights", args.weights] if args.weights else []
    return {
        "embedded": _bench(
            bench,
            args.out,
            ["--backend", "embedded", *weights, "--out", str(args.out / "embedded")],
        ),
        "centre": _bench(bench, args.out, ["--answers", str(centre), "--format", "roborefer"]),
        "category": _bench(bench, args.out, ["--answers", str(category), "--format", "roborefer"]),
    }


def latency(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    import numpy as np
    import torch

    from roborefer_ros.backends.base import PointingQuery
    from roborefer_ros.backends.embedded.backend import EmbeddedBackend
    from roborefer_ros.core.request import Mode
    from roborefer_ros.sim import build_scene, generate_referring

    backend = EmbeddedBackend(args.weights)
    backend.load()
    out: dict[str, dict[str, float]] = {}
    for width, height in ((640, 480), (1280, 720)):
        with build_scene(args.seeds[0], width=width, height=height) as scene:
            frame = scene.render(0.0)
            queries = generate_referring(
                scene.spec, frame, 20, np.random.default_rng(0), place_share=0.5
            )
        prompts = [q.prompt for q in queries]
        for warm in prompts[:3]:
            backend.point(PointingQuery(frame.rgb, warm, Mode.AUTO, 0), 10.0)
        seconds = []
        for k in range(args.calls):
            query = PointingQuery(frame.rgb.copy(), prompts[k % len(prompts)], Mode.AUTO, 0)
            seconds.append(backend.point(query, 10.0).latency_s)
        out[f"{width}x{height}"] = {
            "p50_ms": 1000 * float(np.percentile(seconds, 50)),
            "p95_ms": 1000 * float(np.percentile(seconds, 95)),
            "calls": float(len(seconds)),
            "torch_threads": float(torch.get_num_threads()),
        }
    backend.close()
    return out


def _table(results: dict[str, dict[str, object]]) -> str:
    lines = [f"{'split':<10}{'steps':>6}{'n':>6}" + "".join(f"{a:>11}" for a in ANSWERERS)]
    model = results["embedded"]
    for split in ("Location", "Placement"):
        entry = model.get(split)
        if not isinstance(entry, dict):
            continue
        keys = ["all", *sorted(entry["by_step"], key=int)]
        for key in keys:
            cells = []
            n = 0
            for name in ANSWERERS:
                split_result = results[name][split]
                assert isinstance(split_result, dict)
                group = split_result if key == "all" else split_result["by_step"][key]
                n = int(group["n"])
                cells.append(f"{100 * float(group['score']):>10.1f}%")
            lines.append(f"{split:<10}{key:>6}{n:>6}" + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0.0 <= args.place_share <= 1.0:
        print("bench_embedded: --place-share must be in [0, 1]", file=sys.stderr)
        return 2
    os.environ.setdefault("MUJOCO_GL", "egl")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    report: dict[str, object] = {"seeds": [args.seeds[0], args.seeds[-1]]}
    try:
        if not args.skip_accuracy:
            results = accuracy(args)
            report["accuracy"] = results
            print(_table(results))
        if not args.skip_latency:
            report["latency"] = lat = latency(args)
            for size, figures in lat.items():
                print(
                    f"latency {size}: p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} "
                    f"ms ({figures['calls']:.0f} calls, {figures['torch_threads']:.0f} threads)"
                )
    except (RuntimeError, OSError) as err:
        print(f"bench_embedded: {err}", file=sys.stderr)
        return 1
    report["wall_s"] = time.monotonic() - started
    (args.out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"results: {args.out / 'results.json'} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
