"""A model's view of samples and their variants, through a real
classifier."""
import numpy as np


def test_copies_through_a_real_classifier_are_copies(tmp_path):
    """VariantScorer on an mmpretrain classifier: a cached exact copy gets
    its source's probabilities and features."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from mmtada.datasets import Digits, SampleReader
    from mmtada.filters import VariantScorer
    from mmtada.generators import make_variants
    reader = SampleReader(Digits(split='train', indices=12, pipeline=[]))
    made = make_variants(dict(type='mmtada.Upsample'), reader, [2, 7], 1, 0,
                         str(tmp_path))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            data_preprocessor=dict(num_classes=10, mean=[127.5] * 3,
                                   std=[127.5] * 3),
            backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8,
                          stem_channels=8),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64)))
    scorer = VariantScorer(model, [dict(type='PackInputs')], batch_size=4,
                           scope='mmpretrain')
    src_p, src_f = scorer.classify(reader, made.cache, [(2, None), (7, None)])
    var_p, var_f = scorer.classify(reader, made.cache, made.pairs)
    assert src_p.shape == (2, 10) and src_f.shape == (2, 64)
    np.testing.assert_allclose(var_p, src_p, atol=1e-6)
    np.testing.assert_allclose(var_f, src_f, atol=1e-5)
    assert model.training  # its mode restored
