"""Depth traits per encoding and the robust depth sample (edges, holes, errors, cost)."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest

from roborefer_ros.core.depth import (
    DepthSample,
    depth_traits,
    encode_depth,
    naive_depth,
    sample_depth,
)
from roborefer_ros.core.status import RefPointError, Status

H, W = 48, 64


def to_16uc1(depth_m: npt.NDArray[np.floating]) -> npt.NDArray[np.uint16]:
    """uint16 millimetres, NaN -> 0 (RealSense style)."""
    mm = np.where(np.isfinite(depth_m), np.round(depth_m * 1000.0), 0.0)
    return mm.astype(np.uint16)


def both_encodings(depth_m: npt.NDArray[np.floating]) -> list[tuple[npt.NDArray[np.generic], str]]:
    return [(to_16uc1(depth_m), "16UC1"), (depth_m.astype(np.float32), "32FC1")]


def edge_scene() -> npt.NDArray[np.float64]:
    """Foreground at 0.8 m for columns < 32, background at 2.0 m from column 32 on."""
    depth = np.full((H, W), 2.0)
    depth[:, :32] = 0.8
    return depth


# --- traits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
def test_millimetre_traits_treat_zero_as_no_return(encoding: str) -> None:
    traits = depth_traits(encoding)
    raw = np.array([[0, 1, 1500, 65535]], dtype=np.uint16)
    assert traits.dtype == np.dtype(np.uint16)
    assert traits.to_metres_scale == pytest.approx(0.001)
    assert traits.valid_mask(raw).tolist() == [[False, True, True, True]]
    metres = traits.to_metres(raw)
    assert metres.dtype == np.float32
    assert np.isnan(metres[0, 0])
    np.testing.assert_allclose(metres[0, 1:], [0.001, 1.5, 65.535], rtol=1e-6)


def test_metre_traits_treat_nan_inf_and_non_positive_as_no_return() -> None:
    traits = depth_traits("32FC1")
    raw = np.array([[np.nan, np.inf, -np.inf, 0.0, -1.0, 1.25]], dtype=np.float32)
    assert traits.dtype == np.dtype(np.float32)
    assert traits.to_metres_scale == 1.0
    assert traits.valid_mask(raw).tolist() == [[False] * 5 + [True]]
    metres = traits.to_metres(raw)
    assert np.isnan(metres[0, :5]).all()
    assert metres[0, 5] == pytest.approx(1.25)


@pytest.mark.parametrize("encoding", ["8UC1", "rgb8", "16SC1", ""])
def test_unsupported_encoding_names_it_and_the_supported_ones(encoding: str) -> None:
    with pytest.raises(RefPointError) as err:
        depth_traits(encoding)
    assert err.value.status is Status.UNSUPPORTED_ENCODING
    assert repr(encoding) in err.value.message
    for supported in ("16UC1", "mono16", "32FC1"):
        assert supported in err.value.message


def test_sample_rejects_an_image_whose_dtype_contradicts_the_encoding() -> None:
    with pytest.raises(RefPointError) as err:
        sample_depth(np.ones((H, W), dtype=np.float32), "16UC1", 10, 10)
    assert err.value.status is Status.BAD_FRAME
    assert "float32" in err.value.message


# --- sample_depth ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding_index", [0, 1])
def test_flat_surface_gives_its_depth_in_metres(encoding_index: int) -> None:
    raw, encoding = both_encodings(np.full((H, W), 1.234))[encoding_index]
    sample = sample_depth(raw, encoding, 20.4, 30.6)
    assert isinstance(sample, DepthSample)
    assert sample.depth_m == pytest.approx(1.234, abs=1e-6)
    assert sample.pixel == (20, 31)  # rounded to the nearest pixel: u = column, v = row
    assert (sample.n_valid, sample.n_window, sample.valid_ratio) == (49, 49, 1.0)
    assert sample.spread_m == pytest.approx(0.0, abs=1e-6)


def test_rows_and_columns_are_not_swapped() -> None:
    depth = np.full((H, W), 1.0)
    depth[40:, :] = 3.0  # bottom rows far away
    raw = depth.astype(np.float32)
    assert sample_depth(raw, "32FC1", u=45, v=10).depth_m == pytest.approx(1.0)
    assert sample_depth(raw, "32FC1", u=10, v=45).depth_m == pytest.approx(3.0)


@pytest.mark.parametrize("u, expected", [(31, 0.8), (30, 0.8), (32, 2.0), (33, 2.0)])
@pytest.mark.parametrize("encoding_index", [0, 1])
def test_edge_pixel_takes_the_centre_surface_not_a_mix(
    u: int, expected: float, encoding_index: int
) -> None:
    raw, encoding = both_encodings(edge_scene())[encoding_index]
    sample = sample_depth(raw, encoding, u, 20)
    assert sample.depth_m == pytest.approx(expected, abs=1e-3)
    assert sample.spread_m < 1e-3  # one surface: no spread from mixing
    assert sample.n_valid == 49  # both surfaces count as valid evidence


def test_thin_pole_wins_over_the_wall_filling_most_of_the_window() -> None:
    depth = np.full((H, W), 2.0)
    depth[:, 30:33] = 0.8  # 3 px wide pole: 21 of the 49 window values, a minority
    for raw, encoding in both_encodings(depth):
        on_pole = sample_depth(raw, encoding, 31, 20)
        assert on_pole.depth_m == pytest.approx(0.8, abs=1e-3)  # a plain median would say 2.0
        assert sample_depth(raw, encoding, 34, 20).depth_m == pytest.approx(2.0, abs=1e-3)


def test_edge_with_hole_at_centre_prefers_the_nearest_supported_surface() -> None:
    depth = edge_scene()
    depth[18:23, 30:35] = np.nan  # hole straddling the edge, centre included
    raw = depth.astype(np.float32)
    assert sample_depth(raw, "32FC1", 32, 20).depth_m == pytest.approx(0.8)
    assert sample_depth(raw, "32FC1", 32, 20, surface="largest").depth_m == pytest.approx(2.0)


def test_hole_at_centre_with_valid_neighbours_still_gives_depth() -> None:
    depth = np.full((H, W), 1.5)
    depth[19:22, 19:22] = 0.0  # 3x3 hole around the centre (16UC1 style)
    raw = to_16uc1(depth)
    sample = sample_depth(raw, "16UC1", 20, 20)
    assert sample.depth_m == pytest.approx(1.5)
    assert sample.n_valid == 49 - 9
    assert sample.valid_ratio == pytest.approx(40 / 49)


def test_lone_flying_pixel_at_centre_is_ignored() -> None:
    depth = np.full((H, W), 2.0)
    depth[20, 20] = 1.0  # a single mixed-edge return in front of a wall
    sample = sample_depth(depth.astype(np.float32), "32FC1", 20, 20)
    assert sample.depth_m == pytest.approx(2.0)


def test_noisy_surface_gives_median_and_robust_spread() -> None:
    rng = np.random.default_rng(7)
    depth = 1.0 + rng.normal(0.0, 0.003, size=(H, W))
    sample = sample_depth(depth.astype(np.float32), "32FC1", 32, 24, window_px=15)
    assert sample.depth_m == pytest.approx(1.0, abs=0.002)
    assert 0.0015 < sample.spread_m < 0.0045  # MAD * 1.4826 estimates sigma = 3 mm


def test_values_out_of_range_do_not_count() -> None:
    depth = np.full((H, W), 12.0)  # beyond max_range_m
    depth[20, 18:23] = 1.0
    raw = depth.astype(np.float32)
    with pytest.raises(RefPointError) as err:
        sample_depth(raw, "32FC1", 20, 20)
    assert err.value.status is Status.NO_VALID_DEPTH
    wider = sample_depth(raw, "32FC1", 20, 20, max_range_m=20.0)
    assert wider.n_valid == 49
    assert wider.depth_m == pytest.approx(1.0)  # the centre's 5-pixel bar still has support
    assert sample_depth(raw, "32FC1", 20, 10, max_range_m=20.0).depth_m == pytest.approx(12.0)


def test_window_is_clipped_at_the_image_corner() -> None:
    sample = sample_depth(np.full((H, W), 900, dtype=np.uint16), "16UC1", 0, 0)
    assert sample.depth_m == pytest.approx(0.9)
    assert sample.n_window == 16  # 4x4 of the 7x7 window lies inside the image
    assert sample.pixel == (0, 0)


@pytest.mark.parametrize("encoding_index", [0, 1])
def test_all_holes_raise_no_valid_depth_naming_pixel_ratio_and_threshold(
    encoding_index: int,
) -> None:
    raw, encoding = both_encodings(np.full((H, W), np.nan))[encoding_index]
    with pytest.raises(RefPointError) as err:
        sample_depth(raw, encoding, 10, 12)
    assert err.value.status is Status.NO_VALID_DEPTH
    assert "(u=10, v=12)" in err.value.message
    assert "0%" in err.value.message
    assert "min_valid_ratio=0.2" in err.value.message


def test_too_sparse_window_is_refused_not_guessed() -> None:
    depth = np.full((H, W), np.nan)
    depth[20, 20:25] = 1.0  # 5 of 49 pixels: ~10 % < 20 %
    with pytest.raises(RefPointError) as err:
        sample_depth(depth.astype(np.float32), "32FC1", 22, 20)
    assert err.value.status is Status.NO_VALID_DEPTH
    assert "10%" in err.value.message


def test_scattered_returns_form_no_surface() -> None:
    depth = np.full((5, 5), np.nan)
    depth.flat[:10] = np.linspace(1.0, 5.0, 10)  # ten values 0.44 m apart: ten lone clusters
    with pytest.raises(RefPointError) as err:
        sample_depth(depth.astype(np.float32), "32FC1", 2, 2, window_px=5)
    assert err.value.status is Status.NO_VALID_DEPTH
    assert "no consistent surface" in err.value.message


@pytest.mark.parametrize(
    "u, v", [(-1.0, 5.0), (5.0, -0.6), (W - 0.5, 5.0), (5.0, H), (float("nan"), 1.0)]
)
def test_out_of_image_names_pixel_and_size(u: float, v: float) -> None:
    raw = np.full((H, W), 1000, dtype=np.uint16)
    with pytest.raises(RefPointError) as err:
        sample_depth(raw, "16UC1", u, v)
    assert err.value.status is Status.OUT_OF_IMAGE
    assert f"{W}x{H}" in err.value.message
    with pytest.raises(RefPointError) as naive_err:
        naive_depth(raw, "16UC1", u, v)
    assert naive_err.value.status is Status.OUT_OF_IMAGE


def test_last_pixel_edges_are_inside() -> None:
    raw = np.full((H, W), 1000, dtype=np.uint16)
    assert sample_depth(raw, "16UC1", W - 0.51, H - 1).pixel == (W - 1, H - 1)
    assert sample_depth(raw, "16UC1", -0.5, 0).pixel == (0, 0)


def test_invalid_arguments_are_programming_errors() -> None:
    raw = np.full((H, W), 1000, dtype=np.uint16)
    with pytest.raises(ValueError, match="window_px"):
        sample_depth(raw, "16UC1", 5, 5, window_px=0)
    with pytest.raises(ValueError, match="surface"):
        sample_depth(raw, "16UC1", 5, 5, surface="middle")


# --- naive_depth ----------------------------------------------------------------------------


def test_naive_depth_reads_exactly_one_pixel() -> None:
    depth = edge_scene()
    for raw, encoding in both_encodings(depth):
        assert naive_depth(raw, encoding, 31.4, 20) == pytest.approx(0.8)
        assert naive_depth(raw, encoding, 31.6, 20) == pytest.approx(2.0)


def test_naive_depth_hole_raises_no_valid_depth() -> None:
    raw = np.full((H, W), 1000, dtype=np.uint16)
    raw[7, 3] = 0
    with pytest.raises(RefPointError) as err:
        naive_depth(raw, "16UC1", 3, 7)
    assert err.value.status is Status.NO_VALID_DEPTH
    assert "(u=3, v=7)" in err.value.message


# --- cost -----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_sample_costs_well_under_half_a_millisecond_at_720p(encoding: str) -> None:
    rng = np.random.default_rng(0)
    depth = 1.5 + rng.normal(0.0, 0.003, size=(720, 1280))
    depth[rng.random(depth.shape) < 0.1] = np.nan  # 10 % holes
    raw = to_16uc1(depth) if encoding == "16UC1" else depth.astype(np.float32)
    sample_depth(raw, encoding, 640, 360)  # warm-up
    runs = 200
    start = time.perf_counter()
    for i in range(runs):
        sample_depth(raw, encoding, 100 + i, 300)
    per_call_s = (time.perf_counter() - start) / runs
    assert per_call_s < 0.5e-3


def test_encoding_is_the_decoding_backwards_with_one_no_return_rule() -> None:
    """One encoder beside the decoder: what an encoding cannot carry is "no return", never a
    clamped value (70 m would otherwise come back as a 65.535 m surface)."""
    depth = np.array([[np.nan, 0.0, -1.0, 1.2344, 1.2346, 65.535, 70.0, np.inf]], dtype=np.float32)
    mm = encode_depth(depth, "16UC1")
    assert mm.dtype == np.uint16
    assert mm.tolist() == [[0, 0, 0, 1234, 1235, 65535, 0, 0]]
    metres = encode_depth(depth, "32FC1")
    assert metres.dtype == np.float32
    assert np.isnan(metres[0, [0, 1, 2, 7]]).all()
    assert metres[0, 3] == np.float32(1.2344) and metres[0, 6] == np.float32(70.0)
    for encoding in ("16UC1", "mono16", "32FC1"):
        traits = depth_traits(encoding)
        back = traits.to_metres(traits.from_metres(depth[:, 3:6]))
        assert np.allclose(back, depth[:, 3:6], atol=5e-4)
    with pytest.raises(RefPointError, match="8UC1"):
        encode_depth(depth, "8UC1")
