import pytest

from openwit.pipeline.sandbox.assets import transform_params


@pytest.mark.parametrize("w,h", [(6, 3), (2, 40), (16, 16), (17, 9), (512, 384)])
def test_a_crop_always_removes_pixels_and_stays_inside(w, h):
    for seed in range(200):
        p = transform_params("crop", seed, w, h)
        left, top, right, bottom = p["box"]
        assert min(left, top) >= 0 and right <= w and bottom <= h
        assert p["size"] == (right - left, bottom - top)
        assert p["size"][0] < w and p["size"][1] < h  # else the "near copy" is an exact one
        if min(w, h) >= 100:
            assert p["size"][0] >= 0.9 * w and p["size"][1] >= 0.9 * h
