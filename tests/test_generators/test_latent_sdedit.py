import json
import numpy as np
import pytest

from mmtada.registry import GENERATORS


def images(n=2, shape=(24, 20, 3)):
    return [np.random.RandomState(i).randint(0, 256, shape, dtype=np.uint8)
            for i in range(n)]


def build(weights, **kw):
    kw.setdefault('num_inference_steps', 10)
    return GENERATORS.build(dict(type='mmtada.LatentSDEdit', weights=weights,
                                 **kw))


ANN = [dict(gt_label=0, class_name='cat'), dict(gt_label=1, class_name='dog')]


def test_shapes_and_seeded_determinism(latent_weights):
    gen = build(latent_weights)
    assert gen.resolution == 32
    src = images()
    a = gen.generate(src, ANN, [3, 4])
    assert [x.shape for x in a] == [(24, 20, 3)] * 2
    assert all(x.dtype == np.uint8 for x in a)
    b = gen.generate(src, ANN, [3, 4])
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(gen.generate(src, ANN, [5, 4])[0], a[0])


def test_strength_zero_returns_the_input(latent_weights):
    src = images()
    out = build(latent_weights, strength=0.0).generate(src, ANN, [1, 2])
    assert all(np.array_equal(x, y) for x, y in zip(out, src))


def test_mask_keeps_the_region(latent_weights):
    src = images()
    mask = np.zeros((24, 20), bool)
    mask[4:16, 2:12] = True
    gen = build(latent_weights, strength=0.9, strength_inside=0.0)
    out = gen.generate(src, [dict(a, mask=mask) for a in ANN], [1, 2])
    assert np.array_equal(out[0][mask], src[0][mask])
    assert not np.array_equal(out[0][~mask], src[0][~mask])


def test_prompt_follows_the_class(latent_weights):
    gen = build(latent_weights, guidance_scale=3.0)
    src = images(1)
    a = gen.generate(src, [dict(gt_label=0, class_name='cat')], [1])[0]
    b = gen.generate(src, [dict(gt_label=0, class_name='truck')], [1])[0]
    assert not np.array_equal(a, b)
    assert set(gen._embeds) == {'a photo of a cat', 'a photo of a truck', ''}


def test_no_guidance_runs_one_pass(latent_weights):
    gen = build(latent_weights, guidance_scale=1.0)
    calls = []
    forward = gen.unet.forward
    gen.unet.forward = lambda x, *a, **k: calls.append(len(x)) or forward(
        x, *a, **k)
    gen.generate(images(), ANN, [1, 2])
    assert set(calls) == {2}  # never doubled for the unconditional side


def test_wrong_weights_are_clear(pixel_weights):
    with pytest.raises(ValueError, match='PixelSDEdit'):
        build(pixel_weights)


@pytest.fixture(scope='module')
def adapter(latent_weights, tmp_path_factory):
    """LoRA and tokens for the classes of ``ANN``, fine-tuned a few steps
    on a fixed tiny set (tests/test_generators/test_latent_finetuning.py)."""
    import torch
    from test_latent_finetuning import fit

    from mmtada.generators.latent_finetuning import LatentFinetuner
    torch.manual_seed(0)
    tuner = LatentFinetuner(latent_weights, ['cat', 'dog'], 'both')
    fit(tuner)
    folder = str(tmp_path_factory.mktemp('adapter'))
    tuner.save(folder)
    return folder


def test_an_adaptation_changes_the_edits_and_keys_the_cache(
        latent_weights, adapter):
    src = images()
    base = build(latent_weights)
    plain = base.generate(src, ANN, [1, 2])
    off = build(latent_weights, lora=dict(path=adapter, scale=0.0))
    assert all(np.array_equal(a, b)
               for a, b in zip(off.generate(src, ANN, [1, 2]), plain))
    lora = build(latent_weights, lora=adapter)
    tokens = build(latent_weights, tokens=adapter)
    assert tokens.prompt(ANN[1]) == 'a photo of a <dog>'
    assert build(latent_weights, tokens=adapter,
                 prompt_template='{}, a pet').prompt(ANN[0]) == '<cat>, a pet'
    for adapted in (lora, tokens):
        out = adapted.generate(src, ANN, [1, 2])
        assert np.abs(out[0].astype(int) - plain[0]).mean() > 1
    keys = [g.settings() for g in (base, off, lora, tokens)]
    assert 'lora' not in keys[0] and 'tokens' not in keys[0]
    assert keys[1]['lora']['scale'] == 0 and keys[2]['lora']['scale'] == 1
    assert keys[1]['lora']['file'] == keys[2]['lora']['file']
    assert len({json.dumps(k, sort_keys=True) for k in keys}) == 4


def test_an_adaptation_of_another_base_model_is_one_clear_error(
        adapter, tmp_path):
    from mmtada.testing import save_tiny_latent_model
    other_unet = save_tiny_latent_model(str(tmp_path / 'u'),
                                        unet_channels=(8, 16))
    with pytest.raises(ValueError, match='does not fit the UNet.*another '
                       'base model'):
        build(other_unet, lora=adapter)
    other_text = save_tiny_latent_model(str(tmp_path / 't'), text_width=16)
    with pytest.raises(ValueError, match='32-wide embeddings.*takes 16.*'
                       'another base model'):
        build(other_text, tokens=adapter)
    with pytest.raises(FileNotFoundError, match='no LoRA folder'):
        build(other_unet, lora=dict(path=str(tmp_path / 'none')))
