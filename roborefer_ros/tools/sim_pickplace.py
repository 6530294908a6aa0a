"""``roborefer-sim-pickplace --seed N``: one pick-and-place episode in physics simulation.

Builds the seeded tabletop with free objects, takes a pick and a place instruction (drawn from
the scene's generated queries, or ``--pick``/``--place`` resolved against them), answers them
with ground truth, executes the plan on the simulated UR5e + 2F-85 and prints a summary. This
runs in-process without a ROS graph. With ``--json`` the last line printed is one JSON object
with ``success``, ``object``, ``place_error_m``, ``status`` (and ``failure_class``, ``message``,
``timings``, ...). ``--frames DIR`` writes PNG frames from the scene camera (start, grasp, lift,
place, end) and ``strip.png`` with all of them side by side.

Exit codes: 0 the object rests on target, 1 the episode failed, 2 no episode could be set up.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roborefer_ros.manipulation.sim_episode import (
    DEFAULT_TOLERANCE_M,
    EpisodeError,
    EpisodeResult,
    run_episode,
)
from roborefer_ros.manipulation.sim_ur5e import SimUR5eOptions
from roborefer_ros.sim import RenderedFrame, SimError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roborefer-sim-pickplace", description=__doc__.splitlines()[0])
    p.add_argument("--robot", default="ur5e", choices=["ur5e"])
    p.add_argument("--seed", type=int, required=True, help="scene seed")
    p.add_argument("--pick", help="pick instruction (one of the scene's generated LOCATE prompts)")
    p.add_argument("--place", help="place instruction (one of the scene's PLACE prompts)")
    p.add_argument(
        "--backend",
        default="ground_truth",
        choices=["ground_truth"],
        help="where the target points come from (the model is replaced by truth)",
    )
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE_M, help="metres, xy")
    p.add_argument("--realtime", action="store_true", help="run the simulation at wall-clock speed")
    p.add_argument("--frames", type=Path, help="write PNG frames of the episode into this folder")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    return p


class _FrameWriter:
    """Writes each frame as ``NN_label.png`` and, on ``close``, ``strip.png``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.images: list[npt.NDArray[np.uint8]] = []

    def __call__(self, label: str, frame: RenderedFrame) -> None:
        from PIL import Image

        path = self.folder / f"{len(self.images):02d}_{label}.png"
        Image.fromarray(frame.rgb).save(path)
        self.images.append(frame.rgb)

    def close(self) -> Path | None:
        from PIL import Image

        if not self.images:
            return None
        strip = np.concatenate([im[::2, ::2] for im in self.images], axis=1)
        path = self.folder / "strip.png"
        Image.fromarray(strip).save(path)
        return path


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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (args.pick is None) != (args.place is None):
        print("error: give both --pick and --place, or neither", file=sys.stderr)
        return 2
    writer = _FrameWriter(args.frames) if args.frames is not None else None
    try:
        result = run_episode(
            args.seed,
            robot=args.robot,
            pick_prompt=args.pick,
            place_prompt=args.place,
            tolerance_m=args.tolerance,
            options=SimUR5eOptions(realtime=args.realtime),
            frame_sink=writer,
        )
    except (EpisodeError, SimError) as err:
        print(f"error: {err}", file=sys.stderr)
        if args.json:
            print(
                json.dumps(
                    {
                        "success": False,
                        "object": "",
                        "place_error_m": None,
                        "status": "rejected",
                        "message": str(err),
                    }
                )
            )
        return 2
    print(_summary(result, args.tolerance))
    if writer is not None:
        strip = writer.close()
        print(f"  frames: {args.frames} (strip: {strip})")
    if args.json:
        print(json.dumps(result.as_dict()))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
