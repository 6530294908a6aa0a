"""What the annotated image shows a person: each point as an outlined marker that stays visible
on any colour (it used to be a thin ring in the point's own colour: red on a red cup was nearly
invisible), with its index, mode, status and 3D target beside it; truth as a green cross."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from roborefer_ros.core.annotate import (
    Mark,
    MarkKind,
    annotate_outcome,
    draw_marks,
    draw_points,
    outcome_marks,
)
from roborefer_ros.core.depth import DepthSample
from roborefer_ros.core.lifting import LiftedPoint
from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.result import ReferOutcome, TargetPoint
from roborefer_ros.core.status import Status

RED = (220, 30, 30)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def _plain(colour: tuple[int, int, int], w: int = 640, h: int = 480) -> npt.NDArray[np.uint8]:
    image = np.empty((h, w, 3), dtype=np.uint8)
    image[...] = colour
    return image


def _has(patch: npt.NDArray[np.uint8], colour: tuple[int, int, int]) -> int:
    return int(np.all(patch == np.array(colour, dtype=np.uint8), axis=-1).sum())


@pytest.mark.parametrize("background", [RED, WHITE, BLACK, (40, 220, 40)])
def test_a_marker_is_outlined_black_and_white_on_any_background(
    background: tuple[int, int, int],
) -> None:
    out = draw_points(_plain(background), [(320.0, 240.0)], labels=False)
    patch = out[220:261, 300:341]
    assert _has(patch, WHITE) >= 40 and _has(patch, BLACK) >= 40  # both, whatever lies under
    assert tuple(out[240, 320]) == (255, 60, 60)  # the core: the first point's colour
    outside = np.ones(out.shape[:2], dtype=bool)
    outside[210:271, 290:351] = False
    assert (out[outside] == np.array(background, dtype=np.uint8)).all()  # nothing else drawn


def test_labels_are_drawn_beside_the_point_and_off_image_points_are_skipped() -> None:
    image = _plain((128, 128, 128))
    out = draw_marks(
        image,
        [Mark((100.0, 100.0), ("#0 LOCATE OK", "(0.433, -0.092, 0.092) m")), Mark((-5.0, 9.0))],
    )
    assert np.array_equal(image, _plain((128, 128, 128)))  # a copy: the input is untouched
    label = out[80:120, 122:300]
    assert (label < 60).all(axis=-1).mean() > 0.5  # a dark box...
    assert _has(label, WHITE) + int((label > 200).all(axis=-1).sum()) > 50  # ...with light text
    assert (out[:, :40] == 128).all() or (out[90:110, 0:5] == 128).all()  # -5: nothing drawn


def test_truth_is_a_green_cross() -> None:
    out = draw_marks(_plain((128, 128, 128)), [Mark((200.0, 200.0), kind=MarkKind.TRUTH)])
    assert tuple(out[200, 200]) == (40, 230, 40)
    assert tuple(out[195, 195]) == (40, 230, 40) and tuple(out[195, 205]) == (40, 230, 40)
    assert tuple(out[200, 193]) != (40, 230, 40)  # not a plus


def _outcome() -> ReferOutcome:
    lifted = LiftedPoint(
        pixel=(320.0, 240.0),
        sample=DepthSample(0.6, 1.0, 0.0, 49, 49, (320, 240)),
        point_camera=np.array([0.0, 0.0, 0.6]),
        normal_camera=None,
        approach_camera=np.array([0.0, 0.0, 1.0]),
        plane_inlier_ratio=None,
    )
    point = TargetPoint(0.5, 0.5, lifted, np.array([0.4331, -0.0924, 0.0918]), (0.0, 0.0, 0.0, 1.0))
    return ReferOutcome(
        request=ReferRequest(prompt="the red cup"),
        status=Status.OK,
        message="1 point",
        mode=Mode.LOCATE,
        target_frame="base_link",
        points=(point,),
    )


def test_each_point_says_index_mode_status_and_3d_target() -> None:
    (mark,) = outcome_marks(_outcome())
    assert mark.pixel == (320.0, 240.0)
    assert mark.lines == ("#0 LOCATE OK", "(0.433, -0.092, 0.092) m", "in base_link")
    out = annotate_outcome(_plain(RED), _outcome())
    assert _has(out[200:280, 280:360], WHITE) > 40  # the marker
    assert (out[:30, :120] < 100).all(axis=-1).mean() > 0.3  # the banner box at the top left
