"""``python -m roborefer_ros.tools.bench_embedded_pickplace --seeds 0-49``: the whole loop with
the embedded model, and why each failure failed.

Per seed, one at a time: runs ``roborefer-sim-pickplace --robot R --seed N --backend embedded
--json`` (the live graph: sim_node, refer_node with the embedded model, pick_place_node), then
asks the embedded model the episode's pick and place instructions offline on the episode's first
frame (``sim.episodes.episode.build_episode_scene``, the frame the task is drawn from) and judges
its points against the truth: the pick point must lie on the named object's visible mask, the
place point in the free disc of the place instruction. A failed episode whose pointing was wrong
counts as "pointed at the wrong thing", one whose pointing was right as "manipulation".

Results go to ``--out`` (one JSON line per seed, so an interrupted run resumes) and a summary is
printed. Exit codes: 0 done, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from roborefer_ros.tools.cli import output_dir, parse_seeds, positive_float

POINTED_WRONG = "pointed at the wrong thing"
MANIPULATION = "manipulation"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.bench_embedded_pickplace",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seeds", type=parse_seeds, default="0-49")
    p.add_argument("--robot", default="ur5e")
    p.add_argument("--out", type=output_dir, default=Path("out/pickplace_embedded"))
    p.add_argument("--weights", default="", help="embedded weights (default: the shipped file)")
    p.add_argument(
        "--episode-timeout", type=positive_float, default=900.0, help="per episode, seconds"
    )
    return p


def pointing_check(seed: int, robot: str, weights: str) -> dict[str, object]:
    """The embedded model's pick and place points on the episode's first frame, judged."""
    from roborefer_ros.backends.base import PointingQuery
    from roborefer_ros.backends.embedded.backend import EmbeddedBackend
    from roborefer_ros.core.request import Mode
    from roborefer_ros.sim.episodes.episode import build_episode_scene, draw_task

    backend = EmbeddedBackend(weights)
    backend.load()
    with build_episode_scene(seed, robot) as built:
        task = draw_task(built.scene, built.queries)
        frame = built.first_frame
    height, width = frame.rgb.shape[:2]
    out: dict[str, object] = {}
    for name, query in (("pick", task.pick), ("place", task.place)):
        answer = backend.point(PointingQuery(frame.rgb, query.prompt, Mode.AUTO, 0), 30.0)
        ((x, y),) = answer.points_norm
        col, row = min(int(x * width), width - 1), min(int(y * height), height - 1)
        out[f"{name}_prompt"] = query.prompt
        out[f"{name}_ok"] = bool(query.mask[row, col])
    backend.close()
    return out


def run_episode(seed: int, robot: str, weights: str, timeout_s: float) -> dict[str, object]:
    command = [
        sys.executable,
        "-m",
        "roborefer_ros.tools.sim_pickplace",
        "--robot",
        robot,
        "--seed",
        str(seed),
        "--backend",
        "embedded",
        "--json",
    ]
    if weights:
        command += ["--embedded-weights", weights]
    env = {k: v for k, v in os.environ.items() if k != "_ROS_WHEELS_BOOTSTRAP_COMPLETE"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"success": False, "status": "timeout", "message": f"over {timeout_s:g} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (done.stdout + done.stderr)[-500:]
        return {"success": False, "status": "no_result", "message": tail}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "episodes.jsonl"
    done: dict[int, dict[str, object]] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            item = json.loads(line)
            done[int(item["seed"])] = item
    started = time.monotonic()
    for seed in args.seeds:
        if seed in done:
            continue
        t0 = time.monotonic()
        episode = run_episode(seed, args.robot, args.weights, args.episode_timeout)
        check = pointing_check(seed, args.robot, args.weights)
        success = bool(episode.get("success"))
        pointed_ok = bool(check["pick_ok"]) and bool(check["place_ok"])
        item = {
            "seed": seed,
            "success": success,
            "failure": None if success else (MANIPULATION if pointed_ok else POINTED_WRONG),
            "status": episode.get("status"),
            "message": episode.get("message"),
            "place_error_m": episode.get("place_error_m"),
            "same_task": episode.get("pick_prompt") == check["pick_prompt"]
            and episode.get("place_prompt") == check["place_prompt"],
            **check,
            "wall_s": round(time.monotonic() - t0, 1),
        }
        done[seed] = item
        with log.open("a") as f:
            f.write(json.dumps(item) + "\n")
        print(
            f"seed {seed}: {'SUCCESS' if success else 'FAILED (' + str(item['failure']) + ')'} "
            f"pick {'ok' if check['pick_ok'] else 'WRONG'}, place "
            f"{'ok' if check['place_ok'] else 'WRONG'}; {episode.get('status')} "
            f"({item['wall_s']} s)",
            flush=True,
        )
    items = [done[s] for s in args.seeds if s in done]
    n = len(items)
    successes = sum(bool(i["success"]) for i in items)
    wrong = sum(i["failure"] == POINTED_WRONG for i in items)
    manipulation = sum(i["failure"] == MANIPULATION for i in items)
    pick_ok = sum(bool(i["pick_ok"]) for i in items)
    place_ok = sum(bool(i["place_ok"]) for i in items)
    summary = {
        "robot": args.robot,
        "seeds": [args.seeds[0], args.seeds[-1]],
        "episodes": n,
        "successes": successes,
        "failed_pointed_wrong": wrong,
        "failed_manipulation": manipulation,
        "pick_pointed_right": pick_ok,
        "place_pointed_right": place_ok,
        "wall_s": round(time.monotonic() - started, 1),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"{successes}/{n} placed; failures: {wrong} {POINTED_WRONG}, {manipulation} "
        f"{MANIPULATION}; pointing right: pick {pick_ok}/{n}, place {place_ok}/{n}"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
