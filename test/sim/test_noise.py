"""RealSense-like depth noise: seeded, z^2 growth, edge dropouts, holes, millimetre steps."""

from __future__ import annotations

import numpy as np
import pytest

from roborefer_ros.sim import D435Noise, SimError, apply_depth_noise


def _step_image() -> np.ndarray:
    depth = np.full((120, 160), 1.0, dtype=np.float32)
    depth[:, 80:] = 3.0
    depth[:10, :10] = np.nan
    return depth


def test_same_seed_same_noise_and_clean_option() -> None:
    depth = _step_image()
    a = apply_depth_noise(depth, np.random.default_rng(4))
    b = apply_depth_noise(depth, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == depth.shape
    c = apply_depth_noise(depth, np.random.default_rng(5))
    assert not np.array_equal(np.nan_to_num(a), np.nan_to_num(c))
    np.testing.assert_array_equal(
        apply_depth_noise(depth, np.random.default_rng(4), D435Noise.none()), depth
    )


def test_sigma_grows_with_depth_squared() -> None:
    depth = _step_image()
    noise = D435Noise(sigma_at_1m_m=0.002, edge_dropout_prob=0.0, max_holes=0, quantum_m=0.0)
    noisy = apply_depth_noise(depth, np.random.default_rng(0), noise)
    near = (noisy - depth)[20:, 5:70]
    far = (noisy - depth)[20:, 90:155]
    assert np.nanstd(near) == pytest.approx(0.002, rel=0.1)
    assert np.nanstd(far) == pytest.approx(0.002 * 9, rel=0.1)
    assert np.isnan(noisy[:10, :10]).all()  # no return stays no return


def test_edges_drop_out_and_values_are_millimetres() -> None:
    depth = _step_image()
    noise = D435Noise(edge_dropout_prob=1.0, edge_width_px=2, max_holes=0)
    noisy = apply_depth_noise(depth, np.random.default_rng(0), noise)
    assert np.isnan(noisy[20:, 78:82]).all()  # both sides of the 1 m -> 3 m step, 2 px wide
    assert np.isfinite(noisy[20:, 30:60]).all()
    valid = noisy[np.isfinite(noisy)].astype(np.float64)
    np.testing.assert_allclose(valid * 1000, np.round(valid * 1000), atol=1e-3)


def test_holes_appear() -> None:
    flat = np.full((120, 160), 1.0, dtype=np.float32)
    noise = D435Noise(max_holes=6, edge_dropout_prob=0.0)
    lost = [
        np.isnan(apply_depth_noise(flat, np.random.default_rng(s), noise)).sum() for s in range(10)
    ]
    assert max(lost) > 20 and min(lost) >= 0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(SimError, match="edge_dropout_prob"):
        D435Noise(edge_dropout_prob=1.5)
    with pytest.raises(SimError, match="HxW"):
        apply_depth_noise(np.zeros((2, 2, 2), dtype=np.float32), np.random.default_rng(0))
