"""The probe's pipeline helpers, on the pipelines users' configs have."""
from mmtada.engine.train_set_probe import DET_META_KEYS, with_sample_idx


def test_sample_idx_is_added_to_the_packing_meta_keys():
    mmdet_test = [dict(type='Resize'), dict(
        type='PackDetInputs', meta_keys=('img_id', 'img_path'))]
    out = with_sample_idx(mmdet_test)
    assert out[-1]['meta_keys'] == ('img_id', 'img_path', 'sample_idx')
    assert mmdet_test[-1]['meta_keys'] == ('img_id', 'img_path')  # copied
    assert with_sample_idx(out) == out  # once
    # mmdet's defaults drop sample_idx: they are spelled out with it
    bare = with_sample_idx([dict(type='mmdet.PackDetInputs')])
    assert bare[0]['meta_keys'] == DET_META_KEYS + ('sample_idx', )
    # mmpretrain's PackInputs keeps sample_idx by default: left alone
    assert with_sample_idx([dict(type='PackInputs')]) == [
        dict(type='PackInputs')]
