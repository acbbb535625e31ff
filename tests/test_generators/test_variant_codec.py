"""mmtada/generators/variant_codec.py: PNG, or JPEG for JPEG sources."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.runner import Runner
from PIL import Image

from mmtada.generators import VariantCache, VariantCodec, choose_codec
from mmtada.utils.image_format import ImageFormat

DATASET = 'ab' * 12


class Files:
    """A reader whose base samples are these image files (None: in
    memory)."""

    def __init__(self, *files):
        self.files = list(files)

    def image_files(self):
        return self.files


def photo(h=96, w=128, seed=0):
    """Smooth colour with fine texture, as photos have (uint8 RGB)."""
    rng = np.random.RandomState(seed)
    low = cv2.resize(rng.randint(0, 256, (6, 8, 3)).astype(np.uint8),
                     (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(low.astype(int) + rng.randint(-12, 12, (h, w, 3)), 0,
                   255).astype(np.uint8)


def test_source_chooses_jpeg_only_when_every_image_is_a_jpeg_file():
    assert choose_codec('source', 90, Files('a.jpg', 'b.JPEG')) == \
        VariantCodec('jpeg', 90)
    for files in (('a.jpg', 'b.png'), ('a.jpg', None)):  # mixed, in memory
        assert choose_codec('source', 90, Files(*files)) == VariantCodec()
    assert choose_codec('png', 90, Files('a.jpg')) == VariantCodec()
    with pytest.raises(ValueError, match=r"'png': lossless; 'source'"):
        choose_codec('jpg')
    with pytest.raises(ValueError, match='jpeg_quality must be in 1..100'):
        choose_codec('source', 0)


def test_png_keeps_the_cache_folder_jpeg_is_another(tmp_path):
    settings = dict(generator=dict(type='Upsample'), seed=0)
    before = VariantCache(str(tmp_path), DATASET, settings)
    png = VariantCache(str(tmp_path), DATASET, settings, codec=VariantCodec())
    jpeg = VariantCache(str(tmp_path), DATASET, settings,
                        codec=VariantCodec('jpeg', 95))
    assert png.dir == before.dir != jpeg.dir
    assert png.path(3, 1).endswith('3_1.png')
    assert jpeg.path(3, 1).endswith('3_1.jpg')
    meta = json.load(open(osp.join(jpeg.dir, 'settings.json')))
    assert meta['settings']['codec'] == 'jpeg'
    assert meta['settings']['quality'] == 95


def test_jpeg_variants_are_smaller_close_and_checked(tmp_path):
    img = photo()
    png = VariantCache(str(tmp_path / 'p'), DATASET, {})
    jpeg = VariantCache(str(tmp_path / 'j'), DATASET, {},
                        codec=VariantCodec('jpeg', 95))
    png.write(0, 0, img)
    jpeg.write(0, 0, img)
    assert osp.getsize(jpeg.path(0, 0)) < 0.6 * osp.getsize(png.path(0, 0))
    assert (png.read(0, 0) == img).all()
    out = jpeg.read(0, 0)
    psnr = cv2.PSNR(out, img)
    assert out.shape == img.shape and psnr > 32, psnr
    assert jpeg.has(0, 0) and jpeg.verify([(0, 0)]) == []
    data = open(jpeg.path(0, 0), 'rb').read()
    open(jpeg.path(0, 0), 'wb').write(data[:-100])  # truncated
    assert jpeg.verify([(0, 0)]) == [(0, 0)]
    # a grey JPEG source keeps one channel
    jpeg.write(1, 0, img, ImageFormat(channels=1, ndim=2))
    assert jpeg.read(1, 0, unchanged=True).ndim == 2


def test_jpeg_refuses_what_it_cannot_hold(tmp_path):
    jpeg = VariantCache(str(tmp_path), DATASET, {},
                        codec=VariantCodec('jpeg', 95))
    alpha = np.full((96, 128), 200, np.uint8)
    with pytest.raises(ValueError, match="variant_codec='png'"):
        jpeg.write(0, 0, photo(), ImageFormat(channels=4, alpha=alpha))
    with pytest.raises(ValueError, match="variant_codec='png'"):
        jpeg.write(0, 0, photo(), ImageFormat(dtype=np.uint16))


def jpeg_folder(root, n=40):
    """An mmpretrain CustomDataset of JPEG photos of mixed sizes."""
    root.mkdir(parents=True)
    lines = []
    for i in range(n):
        h, w = (24, 32) if i % 2 else (32, 24)
        Image.fromarray(photo(h, w, seed=i)).save(root / f'{i}.jpg',
                                                  quality=90)
        lines.append(f'{i}.jpg {i % 4}')
    (root / 'ann.txt').write_text('\n'.join(lines) + '\n')
    return dict(type='CustomDataset', data_root=str(root),
                ann_file='ann.txt', classes=['a', 'b', 'c', 'd'],
                pipeline=[dict(type='LoadImageFromFile'),
                          dict(type='Resize', scale=(16, 16)),
                          dict(type='PackInputs')])


def test_a_run_on_jpeg_sources_serves_jpeg_variants(tmp_path, cls_cfg):
    cfg = cls_cfg(num_samples=40, num_slots=20, max_epochs=2,
                  select_epoch=1, generator=dict(type='mmtada.Upsample'),
                  variant_codec='source', jpeg_quality=92)
    cfg.train_dataloader.dataset.dataset = jpeg_folder(tmp_path / 'jpeg')
    cfg.model.head.num_classes = 4
    cfg.model.data_preprocessor.num_classes = 4
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    dataset = runner.train_dataloader.dataset
    served = [dataset.get_data_info(i)['img_path']
              for i in range(len(dataset.reader), len(dataset))]
    assert served and all(p.endswith('.jpg') for p in served)
    settings = json.load(open(osp.join(osp.dirname(osp.dirname(
        served[0])), 'settings.json')))['settings']
    assert settings['codec'] == 'jpeg' and settings['quality'] == 92
