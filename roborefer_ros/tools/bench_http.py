"""``python -m roborefer_ros.tools.bench_http``: client-side cost of one HTTP model request.

What a request costs before the model starts and after it answers: encode the frame, serialise
the JSON body, move it over loopback to a fake server (a real process that answers at once) and
read the reply. Measured for each HTTP backend with its default, lossless encoding
(``roborefer_http``, ``openai``: an uncompressed PNG), for ``roborefer_http`` with
``image_encoding=png_deflate`` (lossless, compressed) and ``jpeg`` (lossy, quality 90) for
comparison, and, as the baseline, for the same work done the way the authors' client does it:
save the PNG to a temporary file with Pillow's defaults, read it back, base64, ``json.dumps``,
POST with ``urllib``. Each method's request body size is reported beside its time.

The frame is the synthetic tabletop at ``--size`` with Gaussian noise (``--noise-std``, like a real
camera's; a noiseless render compresses unrealistically well). Methods run interleaved, one call
each per round, after a warm-up. Figures are wall times per request in ms; with ``--json`` the
last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import PIL
from PIL import Image

from roborefer_ros.backends.base import PointingQuery
from roborefer_ros.backends.http_client import HttpSettings
from roborefer_ros.backends.openai_compat import OpenAICompatBackend
from roborefer_ros.backends.prompt import build_roborefer_prompt
from roborefer_ros.backends.roborefer_http import RoboReferHttpBackend
from roborefer_ros.core.request import Mode
from roborefer_ros.sim.analytic_scene import SyntheticScene
from roborefer_ros.tools.cli import image_size, non_negative_float, positive_int
from roborefer_ros.tools.fake_model_server import FakeModelServer
from roborefer_ros.tools.machine_info import machine

PROMPT = "the top of the red box"
ANSWER = "[(0.512, 0.433)]"
WARMUP = 3
TIMEOUT_S = 30.0
BASELINE = "authors_client"


def bench_frame(width: int, height: int, noise_std: float) -> npt.NDArray[np.uint8]:
    """The synthetic tabletop with seeded sensor-like noise (HxWx3 uint8)."""
    rgb, _ = SyntheticScene(width=width, height=height).render(100.0)
    if noise_std <= 0:
        return rgb
    noise = np.random.default_rng(0).normal(0.0, noise_std, rgb.shape)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def authors_style_request(url: str, rgb: npt.NDArray[np.uint8], workdir: Path) -> tuple[str, int]:
    """One request as the authors' client makes it; returns (answer, request body bytes)."""
    path = workdir / "frame.png"
    Image.fromarray(rgb).save(path)  # Pillow's default PNG settings, on disk
    image_b64 = base64.b64encode(path.read_bytes()).decode("ascii")
    body = json.dumps(
        {
            "image_url": [image_b64],
            "depth_url": [],
            "enable_depth": 0,
            "text": build_roborefer_prompt(PROMPT),
        }
    ).encode()
    request = urllib.request.Request(
        url + "/query", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:
        return str(json.loads(reply.read())["answer"]), len(body)


def _body_bytes(backend: Any, query: PointingQuery) -> int:
    """Size of the JSON body the backend sends for ``query`` (one more request, its body kept)."""
    sizes: list[int] = []
    post = backend.client.request

    def measuring(method: str, url: str, body: bytes | None, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(body or b""))
        return post(method, url, body, *args, **kwargs)

    backend.client.request = measuring
    try:
        backend.point(query, TIMEOUT_S)
    finally:
        del backend.client.request
    return sizes[-1]


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "mean_ms": round(float(ms.mean()), 2),
    }


def run(n: int, width: int, height: int, noise_std: float) -> dict[str, Any]:
    rgb = bench_frame(width, height, noise_std)
    query = PointingQuery(rgb, PROMPT, Mode.LOCATE, 0)
    settings = HttpSettings(max_request_bytes=64 * 1024 * 1024)
    answers = {PROMPT: {"answer": ANSWER}}
    with tempfile.TemporaryDirectory(prefix="bench_http_") as tmp:
        workdir = Path(tmp)
        roborefer_fake = FakeModelServer("roborefer", answers, workdir, log=False)
        openai_fake = FakeModelServer("openai", answers, workdir, log=False)
        with roborefer_fake, openai_fake:
            roborefer = RoboReferHttpBackend(roborefer_fake.url, settings)
            roborefer_jpeg = RoboReferHttpBackend(
                roborefer_fake.url, settings, image_encoding="jpeg", jpeg_quality=90
            )
            roborefer_deflate = RoboReferHttpBackend(
                roborefer_fake.url, settings, image_encoding="png_deflate"
            )
            openai = OpenAICompatBackend(
                openai_fake.url + "/v1", "fake-vlm", settings, answer_format="roborefer"
            )
            roborefer.load()
            openai.load()
            methods: dict[str, Callable[[], object]] = {
                "roborefer_http": lambda: roborefer.point(query, TIMEOUT_S),
                "openai": lambda: openai.point(query, TIMEOUT_S),
                "roborefer_http_png_deflate": lambda: roborefer_deflate.point(query, TIMEOUT_S),
                "roborefer_http_jpeg90": lambda: roborefer_jpeg.point(query, TIMEOUT_S),
                BASELINE: lambda: authors_style_request(roborefer_fake.url, rgb, workdir),
            }
            samples: dict[str, list[float]] = {name: [] for name in methods}
            for round_index in range(WARMUP + n):
                for name, call in methods.items():
                    started = time.perf_counter()
                    call()
                    elapsed = time.perf_counter() - started
                    if round_index >= WARMUP:
                        samples[name].append(elapsed)
            _, baseline_bytes = authors_style_request(roborefer_fake.url, rgb, workdir)
            body_bytes = {
                "roborefer_http": _body_bytes(roborefer, query),
                "openai": _body_bytes(openai, query),
                "roborefer_http_png_deflate": _body_bytes(roborefer_deflate, query),
                "roborefer_http_jpeg90": _body_bytes(roborefer_jpeg, query),
                BASELINE: baseline_bytes,
            }
    figures = {name: percentiles(s) for name, s in samples.items()}
    for name, fig in figures.items():
        fig["request_bytes"] = body_bytes[name]
    base = figures[BASELINE]["p50_ms"]
    for fig in figures.values():
        fig["baseline_over_this_p50"] = round(base / fig["p50_ms"], 2)
    return {
        "frame": f"{width}x{height}",
        "noise_std": noise_std,
        "n": n,
        "baseline_request_bytes": baseline_bytes,
        "methods": figures,
        "machine": machine(pillow=PIL.__version__),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=positive_int, default=50, help="timed requests per method")
    parser.add_argument("--size", type=image_size, default="1280x720", help="frame WIDTHxHEIGHT")
    parser.add_argument(
        "--noise-std", type=non_negative_float, default=2.0, help="sensor-like noise (0: none)"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    width, height = args.size
    result = run(args.n, width, height, args.noise_std)
    print(f"{result['frame']} frame, noise std {args.noise_std}, {args.n} requests per method")
    print(
        f"{'method':<28} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'baseline/this':>14} "
        f"{'body MB':>8}"
    )
    for name, fig in result["methods"].items():
        print(
            f"{name:<28} {fig['p50_ms']:>8.2f} {fig['p95_ms']:>8.2f} {fig['mean_ms']:>8.2f} "
            f"{fig['baseline_over_this_p50']:>14.2f} {fig['request_bytes'] / 1e6:>8.2f}"
        )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
