"""Draw pointed pixels so a person can read them (the CLI, the node and the sim share it).

Every mark is an outlined marker that stays visible on any colour (a white-and-black ring and
crosshair around a coloured core, so a red point on a red cup is still seen), with a label box
beside it: dark, semi-opaque, white text (the point's index, mode and status, its 3D target...).
Truth marks (``MarkKind.TRUTH``) are green diagonal crosses, so target and truth never look
alike. A banner across the top can say what the image is (a prompt, a stage). Text uses Pillow's
default font, scaled to the image; only the small boxes that carry text go through Pillow, the
markers are drawn with numpy.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.result import ReferOutcome

Uint8Image = npt.NDArray[np.uint8]

#: Marker cores by point index: saturated and distinct; the white/black outline does the contrast.
_COLOURS = ((255, 60, 60), (60, 200, 255), (255, 210, 0), (255, 60, 255), (80, 255, 80))
_WHITE = np.array((255, 255, 255), dtype=np.uint8)
_BLACK = np.array((0, 0, 0), dtype=np.uint8)
_TRUTH = np.array((40, 230, 40), dtype=np.uint8)


class MarkKind(Enum):
    TARGET = "target"  # a pointed / planned point: ring, crosshair, coloured core
    TRUTH = "truth"  # the ground truth it is compared with: a green diagonal cross


@dataclass(frozen=True)
class Mark:
    """One point to draw: ``pixel`` (u = column, v = row), the lines of its label (may be
    empty), its kind; ``index`` picks the core colour of a TARGET; ``label_left`` tries the
    left of the point first (to keep clear of labels drawn earlier on its right)."""

    pixel: tuple[float, float]
    lines: tuple[str, ...] = ()
    kind: MarkKind = MarkKind.TARGET
    index: int = 0
    label_left: bool = False


def _scale(shape: tuple[int, ...]) -> float:
    """1.0 at 480 rows; markers and text grow with the image."""
    return max(0.75, min(shape[0], shape[1] * 0.75) / 480.0)


@functools.lru_cache(maxsize=16)
def _stamps(kind: MarkKind, scale_q: int) -> tuple[int, tuple[npt.NDArray[np.bool_], ...]]:
    """(half size, masks) of a marker drawn at an integer centre, computed once per kind and
    scale (``scale_q``: the scale in hundredths): TARGET (black, white, core), TRUTH (black,
    green). Stamping them costs microseconds, whatever the image size."""
    scale = scale_q / 100.0
    r = 9.0 * scale
    half = int(r + 9.0 * scale) + 2
    vv, uu = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    dist = np.hypot(uu, vv)
    line = 1.2 * scale
    if kind is MarkKind.TRUTH:
        # distance to the two diagonals, within the cross's reach
        diag = np.minimum(np.abs(uu - vv), np.abs(uu + vv)) / np.sqrt(2.0)
        inside = np.maximum(np.abs(uu), np.abs(vv)) <= r + 1.0
        return half, (inside & (diag <= line + 1.6 * scale), inside & (diag <= line))
    gap, reach = r + 2.0 * scale, r + 9.0 * scale
    along = np.maximum(np.abs(uu), np.abs(vv))  # how far out along a tick
    across = np.minimum(np.abs(uu), np.abs(vv))  # how far off its axis
    ticks_out = (along >= gap - 1.4 * scale) & (along <= reach + 1.4 * scale)
    ticks_out &= across <= line + 1.4 * scale
    ticks = (along >= gap) & (along <= reach) & (across <= line)
    black = (np.abs(dist - r) <= 3.0 * scale) | ticks_out | (dist <= 4.2 * scale)
    white = (np.abs(dist - r) <= 1.6 * scale) | ticks
    core = dist <= 3.0 * scale
    return half, (black, white, core)


def _draw_marker(out: Uint8Image, mark: Mark, scale: float) -> None:
    h, w = out.shape[:2]
    half, masks = _stamps(mark.kind, round(scale * 100))
    cu, cv = round(mark.pixel[0]), round(mark.pixel[1])
    u0, v0 = max(cu - half, 0), max(cv - half, 0)
    u1, v1 = min(cu + half + 1, w), min(cv + half + 1, h)
    if u0 >= u1 or v0 >= v1:
        return
    patch = out[v0:v1, u0:u1]
    cut = (slice(v0 - (cv - half), v1 - (cv - half)), slice(u0 - (cu - half), u1 - (cu - half)))
    colours: tuple[npt.NDArray[np.uint8], ...] = (_BLACK, _TRUTH)
    if mark.kind is MarkKind.TARGET:
        colour = np.array(_COLOURS[mark.index % len(_COLOURS)], dtype=np.uint8)
        colours = (_BLACK, _WHITE, colour)
    for mask, fill in zip(masks, colours, strict=True):
        patch[mask[cut]] = fill


@functools.lru_cache(maxsize=8)
def _font(size: int) -> object:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


@functools.lru_cache(maxsize=2048)
def _glyph(char: str, size: int) -> tuple[npt.NDArray[np.uint8], int]:
    """(alpha HxW uint8 of one character on a line of height ``size`` + 30 %, its advance in
    pixels). Lines are put together from these, so a label costs array copies, not a text
    layout per request."""
    from PIL import Image, ImageDraw

    font = _font(size)
    advance = max(1, round(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(char, font=font)))  # type: ignore[arg-type]
    height = round(size * 1.3)
    canvas = Image.new("L", (advance + size, height), 0)
    ImageDraw.Draw(canvas).text((0, 0), char, fill=255, font=font)  # type: ignore[arg-type]
    return np.asarray(canvas, dtype=np.uint8), advance


def _line_alpha(text: str, size: int) -> npt.NDArray[np.uint8]:
    glyphs = [_glyph(c, size) for c in text]
    width = sum(advance for _, advance in glyphs) + size
    height = round(size * 1.3)
    alpha = np.zeros((height, width), dtype=np.uint8)
    x = 0
    for bitmap, advance in glyphs:
        view = alpha[:, x : x + bitmap.shape[1]]
        np.maximum(view, bitmap[:, : view.shape[1]], out=view)
        x += advance
    return alpha[:, : max(1, x)]


def _text_box(
    out: Uint8Image,
    lines: Sequence[str],
    anchor: tuple[float, float],
    scale: float,
    taken: list[tuple[int, int, int, int]],
    colour: tuple[int, int, int] | None = None,
    corner: bool = False,
    left_first: bool = False,
) -> None:
    """Draw ``lines`` in a dark box near ``anchor`` (right of it, else left; at the top-left
    corner with ``corner``), moved down past boxes already ``taken``."""
    h, w = out.shape[:2]
    size = max(10, round(13 * scale))
    alphas = [_line_alpha(line, size) for line in lines]
    pad, gap = round(3 * scale), round(2 * scale) - round(size * 0.3)
    step = alphas[0].shape[0] + gap
    box_w = min(w, max(a.shape[1] for a in alphas) + 2 * pad)
    box_h = min(h, len(alphas) * step - gap + 2 * pad)
    u, v = anchor
    offset = 20 * scale

    def clash(left: int, top: int) -> tuple[int, int, int, int] | None:
        return next(
            (
                t
                for t in taken
                if left < t[2] and t[0] < left + box_w and top < t[3] and t[1] < top + box_h
            ),
            None,
        )

    if corner:
        left, top = 0, 0
    else:
        # beside the point (right, then left), level with it, above it or below it
        candidates = [
            (max(0, min(int(x), w - box_w)), max(0, min(int(y), h - box_h)))
            for y in (v - box_h / 2, v - box_h - offset / 2, v + offset / 2)
            for x in (
                (u - offset - box_w, u + offset) if left_first else (u + offset, u - offset - box_w)
            )
        ]
        left, top = next((c for c in candidates if clash(*c) is None), candidates[0])
    for _ in range(len(taken) + 1):  # else step down past what is in the way (wrap to the top)
        other = clash(left, top)
        if other is None:
            break
        top = other[3] + 1 if other[3] + 1 + box_h <= h else 0
    taken.append((left, top, left + box_w, top + box_h))
    region = out[top : top + box_h, left : left + box_w]
    region //= 10  # keep 30 % of what lies under the box (integer maths, in place)
    region *= 3
    for row, alpha in enumerate(alphas):
        fill = colour if (row == 0 and colour is not None) else (255, 255, 255)
        y = pad + row * step
        cut = region[y : y + alpha.shape[0], pad : pad + alpha.shape[1]]
        a = alpha[: cut.shape[0], : cut.shape[1], None].astype(np.uint16)
        blended = (cut.astype(np.uint16) * (255 - a) + np.array(fill, np.uint16) * a) // 255
        cut[...] = blended.astype(np.uint8)


def draw_marks(rgb: Uint8Image, marks: Sequence[Mark], banner: Sequence[str] = ()) -> Uint8Image:
    """A copy of ``rgb`` (HxWx3 uint8) with every mark and its label, and ``banner`` lines in a
    box at the top left. Marks off the image are skipped (their labels too)."""
    out = np.array(rgb, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    scale = _scale(out.shape)
    taken: list[tuple[int, int, int, int]] = []
    if banner:
        _text_box(out, banner, (0.0, 0.0), scale, taken, corner=True)
    visible = [m for m in marks if 0 <= m.pixel[0] < w and 0 <= m.pixel[1] < h]
    reach = 18.0 * scale
    # labels keep off the markers, and the markers are drawn last, over any label
    taken += [
        (int(u - reach), int(v - reach), int(u + reach) + 1, int(v + reach) + 1)
        for u, v in (m.pixel for m in visible if m.kind is MarkKind.TARGET)
    ]
    for mark in visible:
        if mark.lines:
            colour = (
                tuple(int(c) for c in _TRUTH)
                if mark.kind is MarkKind.TRUTH
                else _COLOURS[mark.index % len(_COLOURS)]
            )
            _text_box(
                out,
                mark.lines,
                mark.pixel,
                scale,
                taken,
                colour,  # type: ignore[arg-type]
                left_first=mark.label_left,
            )
    for mark in visible:
        _draw_marker(out, mark, scale)
    return out


def draw_points(
    rgb: Uint8Image, pixels: Sequence[tuple[float, float]], labels: bool = True
) -> Uint8Image:
    """A copy of ``rgb`` with an outlined marker at each (u, v) pixel, labelled ``#index`` (the
    order the model gave them) unless ``labels`` is False."""
    marks = [
        Mark((float(u), float(v)), (f"#{i}",) if labels else (), index=i)
        for i, (u, v) in enumerate(pixels)
    ]
    return draw_marks(rgb, marks)


def outcome_marks(outcome: ReferOutcome) -> list[Mark]:
    """The marks of a request's points: index, mode and status, then the 3D target in the
    target frame (what the node draws on ~/annotated_image)."""
    marks = []
    for index, point in enumerate(outcome.points):
        x, y, z = (float(c) for c in point.point_target)
        marks.append(
            Mark(
                point.lifted.pixel,
                (
                    f"#{index} {outcome.mode.name} {outcome.status.name}",
                    f"({x:.3f}, {y:.3f}, {z:.3f}) m",
                    f"in {outcome.target_frame}",
                ),
                index=index,
            )
        )
    return marks


def outcome_banner(outcome: ReferOutcome, max_chars: int = 70) -> tuple[str, ...]:
    """The request in a line or two: the prompt (shortened), mode, status and point count."""
    prompt = outcome.request.prompt
    if len(prompt) > max_chars:
        prompt = prompt[: max_chars - 3] + "..."
    return (
        f"'{prompt}'",
        f"{outcome.mode.name} {outcome.status.name}: {len(outcome.points)} point(s)",
    )


def annotate_outcome(rgb: Uint8Image, outcome: ReferOutcome) -> Uint8Image:
    """The frame a request was answered on, with its points and what they mean."""
    return draw_marks(rgb, outcome_marks(outcome), outcome_banner(outcome))
