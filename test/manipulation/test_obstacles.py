"""The height map: built from a ray-cast depth frame, the held object taken out, spheres checked."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roborefer_ros.manipulation.obstacles import (
    EMPTY,
    HeightMap,
    HeightMapConfig,
    height_map_from_depth,
    support_height,
)
from test.manipulation.depth_scene import top_down_view

TABLE_Z = -0.10
BOX = ((0.28, 0.08, TABLE_Z), (0.34, 0.14, TABLE_Z + 0.08))  # 6 x 6 x 8 cm
CUP = ((0.36, -0.12, TABLE_Z), (0.40, -0.08, TABLE_Z + 0.12))


def _top(hm: HeightMap, x: float, y: float) -> float:
    i, j = hm.cell_of(x, y)
    return float(hm.top[i, j])


def test_objects_stand_on_a_found_table_at_their_seen_heights() -> None:
    hm = height_map_from_depth(top_down_view([BOX, CUP], TABLE_Z))
    assert hm.support_z == pytest.approx(TABLE_Z, abs=0.003)
    assert _top(hm, 0.31, 0.11) == pytest.approx(TABLE_Z + 0.08, abs=0.002)
    assert _top(hm, 0.38, -0.10) == pytest.approx(TABLE_Z + 0.12, abs=0.002)
    assert _top(hm, 0.20, 0.0) == EMPTY  # bare table
    # footprints: 6 x 6 and 4 x 4 cells of 1 cm (an edge cell may catch a side)
    assert 30 <= hm.occupied_cells <= 36 + 16 + 24


def test_the_arms_seen_by_the_camera_are_filtered_out() -> None:
    view = top_down_view([BOX, CUP], TABLE_Z)
    centre = np.array([[0.31, 0.11, TABLE_Z + 0.06]])
    hm = height_map_from_depth(view, exclude=(centre, np.array([0.06])))
    assert _top(hm, 0.31, 0.11) == EMPTY
    assert _top(hm, 0.38, -0.10) == pytest.approx(TABLE_Z + 0.12, abs=0.002)


def test_the_grasped_object_is_taken_out_and_its_neighbour_kept() -> None:
    hm = height_map_from_depth(top_down_view([BOX, CUP], TABLE_Z))
    without = hm.without_object_at((0.315, 0.105))
    assert _top(without, 0.31, 0.11) == EMPTY
    assert _top(without, 0.38, -0.10) == _top(hm, 0.38, -0.10)
    assert without.occupied_cells < hm.occupied_cells
    assert hm.without_object_at((0.10, -0.40)) is hm  # nothing there: unchanged


def test_penetration_is_the_depth_of_the_highest_top_inside_the_sphere() -> None:
    hm = height_map_from_depth(top_down_view([BOX], TABLE_Z))
    top = TABLE_Z + 0.08
    above = hm.penetration([[0.31, 0.11, top + 0.05]], [0.04])
    assert above[0] == 0.0
    # centred over the box, 1 cm into its top: 1 cm (within a cell's slope at the centre)
    into = hm.penetration([[0.31, 0.11, top + 0.03]], [0.04])
    assert into[0] == pytest.approx(0.01, abs=0.002)
    # beside the box, its edge 1 cm inside the sphere's reach at the sphere's height
    beside = hm.penetration([[0.39, 0.11, top - 0.02]], [0.06])
    d = 0.39 - 0.34
    expected = top - (top - 0.02 - math.sqrt(0.06**2 - (d + 0.005) ** 2))
    assert beside[0] == pytest.approx(expected, abs=0.01)
    assert hm.penetration(np.zeros((0, 3)), np.zeros(0)).shape == (0,)


def test_support_height_is_the_fullest_bin() -> None:
    z = np.concatenate([np.full(500, -0.1), np.linspace(-0.1, 0.2, 100)])
    assert support_height(z, 0.005) == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="no points"):
        support_height(np.zeros(0), 0.005)


def test_a_frame_that_sees_nothing_in_the_box_is_refused() -> None:
    view = top_down_view([], TABLE_Z)
    with pytest.raises(ValueError, match="no valid depth point"):
        height_map_from_depth(view, HeightMapConfig(x_range_m=(2.0, 3.0)))
    bad = top_down_view([], TABLE_Z)
    with pytest.raises(ValueError, match="camera_info says"):
        height_map_from_depth(
            type(bad)(bad.depth_m[:10], bad.camera, bad.T_plan_from_optical, bad.frame)
        )


@pytest.mark.parametrize("name", ["cell_m", "above_support_m"])
def test_config_is_validated(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        HeightMapConfig(**{name: 0.0})  # type: ignore[arg-type]
