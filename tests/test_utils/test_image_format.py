"""Channel order swaps, by OpenCV or by a reversed copy."""
import numpy as np

from mmtada.utils.image_format import swap_rb


def test_swap_rb_equals_a_reversed_copy_for_every_layout():
    rng = np.random.RandomState(0)
    rgba = rng.randint(0, 256, (7, 9, 4)).astype(np.uint8)
    cases = [rng.randint(0, 256, (7, 9, 3)).astype(np.uint8),
             rng.randint(0, 65536, (7, 9, 3)).astype(np.uint16),
             rgba[..., :3],  # a view: not contiguous
             rng.rand(7, 9, 3).astype(np.float32)]
    for img in cases:
        out = swap_rb(img)
        assert out.flags.c_contiguous and out.dtype == img.dtype
        assert np.array_equal(out, img[..., ::-1])
