import numpy as np

from mmtada.registry import GENERATORS


def test_upsample_returns_exact_independent_copies():
    gen = GENERATORS.build(dict(type='mmtada.Upsample'))
    img = np.random.RandomState(0).randint(0, 255, (5, 7, 3), dtype=np.uint8)
    out = gen.generate([img], [dict(gt_label=1)], [42])
    assert len(out) == 1 and out[0].dtype == np.uint8
    np.testing.assert_array_equal(out[0], img)
    out[0][:] = 0
    assert img.any()
    assert gen.settings() == dict(type='Upsample')
