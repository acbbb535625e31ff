"""The matrix that keeps it so: TADA composed by inheritance, exactly as the
README shows (a config of ``_base_ = [stock config, fragment]``, the
training set wrapped, the hook appended), on one stock config per model
family of mmdet and mmpretrain, shrunk for CPU, on tiny data the test
writes, trained in-process through selection and generation."""
import json
import os
import os.path as osp
import pickle
import time
from collections import namedtuple

import numpy as np
import pytest
from conftest import MIXED_CLASSES, REPO
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmtada.apis import tada_wrapper_parent, train
from mmtada.apis.toolbox import LOADERS, with_loader_defaults
from mmtada.datasets import Digits
from mmtada.datasets.tada_dataset import find_tada_dataset
from mmtada.engine.hooks import LearningLagHook
from mmtada.utils import RunLayout

pytestmark = pytest.mark.slow

FRAGMENTS = dict(det=osp.join(REPO, 'configs', '_base_', 'tada_det.py'),
                 cls=osp.join(REPO, 'configs', '_base_', 'tada_cls.py'))
MAX_EPOCHS = 2
DET_FACTOR = 8  # 1333x800 -> 167x100, 640 -> 80
RTMDET_FACTOR = 5  # its crops stay multiples of 32: 640 -> 128
SELECT_EPOCH = 1  # select after the first epoch; variants in the second
UPSAMPLE = dict(type='mmtada.Upsample')
# Keys of transforms that hold pixel sizes.
SIZE_KEYS = ('scale', 'img_scale', 'crop_size', 'size', 'scales', 'border')
DET_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                 'scale_factor', 'flip', 'flip_direction')
VOC_CLASSES = ('car', 'dog', 'person')  # three of VOC's twenty


# -- what the loader served ---------------------------------------------------
Served = namedtuple('Served', 'epoch synthetic source shape boxes masks')


@HOOKS.register_module(name='MatrixServedItems', force=True)
class ServedItems(Hook):
    """Records every item of every training batch as it reaches the model:
    the epoch, ``is_synthetic`` and ``source_idx`` of its metainfo, the
    shape of its input and, for detection, how many boxes and instance
    masks it holds (None without)."""

    def __init__(self):
        self.items = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        for inputs, sample in zip(data_batch['inputs'],
                                  data_batch['data_samples']):
            meta = sample.metainfo
            gt = getattr(sample, 'gt_instances', None)
            boxes = None if gt is None else len(gt.bboxes)
            masks = None if gt is None or 'masks' not in gt \
                else len(gt.masks)
            self.items.append(Served(
                runner.epoch, meta.get('is_synthetic'),
                meta.get('source_idx'), tuple(inputs.shape), boxes, masks))


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One torch thread while the matrix runs (restored after): these tiny
    models gain nothing from a second one, and on a shared 2-core machine
    contending threads make them several times slower."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def served_items(runner):
    """The items the run's :class:`ServedItems` recorded."""
    return [h for h in runner.hooks if isinstance(h, ServedItems)][0].items


# -- composing and shrinking -----------------------------------------------
def compose(tmp_path, stock, task, inner=False, **hook):
    """Write the README's config to ``tmp_path``: ``stock`` and the task's
    TADA fragment as bases, the training set wrapped (with
    ``MultiImageMixDataset``, ``inner``: its inner dataset), the hook
    appended with ``hook``'s settings; load it as a user's config."""
    data = '_base_.train_dataloader.dataset' + ('.dataset' if inner else '')
    wrap = f'dict(_delete_=True, **_base_.tada_dataset, dataset={data})'
    loader = f'dict(dataset=dict(dataset={wrap}))' if inner \
        else f'dict(dataset={wrap})'
    settings = ', '.join(f'{k}={v!r}' for k, v in hook.items())
    path = tmp_path / 'my_tada.py'
    path.write_text(
        f'_base_ = [{stock!r}, {FRAGMENTS[task]!r}]\n'
        f'train_dataloader = {loader}\n'
        "custom_hooks = _base_.get('custom_hooks', []) + [\n"
        f'    dict(_base_.tada_hook, {settings})]\n')
    return Config.fromfile(str(path))


def smaller(value, factor):
    """A pixel size (int, tuple or list of them, negative for borders)
    divided by ``factor``; positive sizes stay at least 8."""
    if isinstance(value, (list, tuple)):
        return type(value)(smaller(v, factor) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        small = int(round(value / factor))
        return small if value < 0 else max(8, small)
    return value


def shrink_sizes(node, factor):
    """Every pixel size of the transforms in ``node`` (a dataset config or
    a pipeline; nested datasets and transforms included) divided by
    ``factor``, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SIZE_KEYS:
                node[key] = smaller(value, factor)
            else:
                shrink_sizes(value, factor)
    elif isinstance(node, (list, tuple)):
        for t in node:
            shrink_sizes(t, factor)


def for_cpu(cfg, work_dir, factor):
    """The loaders, schedule and logs of ``cfg`` sized for 2 CPU cores, as
    ``tools/train.py --no-validate`` runs it: the toolbox's loader
    defaults, no workers, no validation; a recorder of the served items."""
    cfg.work_dir = str(work_dir)
    with_loader_defaults(cfg)
    for key in LOADERS:
        if cfg.get(key):
            cfg[key].update(num_workers=0, persistent_workers=False)
            shrink_sizes(cfg[key].dataset, factor)
    cfg.train_dataloader.batch_size = 8
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.update(max_epochs=MAX_EPOCHS, val_interval=100)
    # a schedule cut to 2 epochs: the schedulers that would start later go
    schedulers = cfg.get('param_scheduler') or []
    cfg.param_scheduler = [
        s for s in ([schedulers] if isinstance(schedulers, dict)
                    else schedulers) if s.get('begin', 0) < MAX_EPOCHS]
    cfg.default_hooks.logger.interval = 1000
    cfg.default_hooks.checkpoint.interval = MAX_EPOCHS
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'
    cfg.custom_hooks.append(dict(type='MatrixServedItems'))
    return cfg


# -- data the test writes ---------------------------------------------------
def with_polygons(data_root, tmp_path):
    """The mixed COCO training set with a polygon segmentation for every
    box (its filled rectangle); returns the new annotation file."""
    coco = json.load(open(osp.join(data_root, 'annotations', 'train.json')))
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        ann['segmentation'] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    path = str(tmp_path / 'train_polygons.json')
    json.dump(coco, open(path, 'w'))
    return path


def write_voc(root, year, num_images, seed):
    """A VOC-format folder ``<root>/VOC<year>``: JPEGImages, Annotations
    XML and ImageSets/Main/trainval.txt, 1-2 boxes (at least 40 px, above
    the recipe's ``bbox_min_size``) per 128x96 image. Returns the number
    of objects."""
    import cv2
    rng = np.random.RandomState(seed)
    folder = osp.join(root, f'VOC{year}')
    for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
        os.makedirs(osp.join(folder, sub), exist_ok=True)
    ids, objects = [], 0
    for i in range(num_images):
        name = f'{year}_{i:06d}'
        img = rng.randint(0, 100, (96, 128, 3)).astype(np.uint8)
        boxes = ''
        for _ in range(rng.randint(1, 3)):
            w, h = rng.randint(40, 64), rng.randint(40, 56)
            x, y = rng.randint(1, 128 - w), rng.randint(1, 96 - h)
            c = rng.randint(len(VOC_CLASSES))
            img[y:y + h, x:x + w] = (60 + 80 * c, 200 - 60 * c, 120)
            boxes += (f'<object><name>{VOC_CLASSES[c]}</name>'
                      '<difficult>0</difficult><bndbox>'
                      f'<xmin>{x}</xmin><ymin>{y}</ymin>'
                      f'<xmax>{x + w}</xmax><ymax>{y + h}</ymax>'
                      '</bndbox></object>')
            objects += 1
        cv2.imwrite(osp.join(folder, 'JPEGImages', f'{name}.jpg'), img)
        with open(osp.join(folder, 'Annotations', f'{name}.xml'), 'w') as f:
            f.write(f'<annotation><filename>{name}.jpg</filename><size>'
                    '<width>128</width><height>96</height><depth>3</depth>'
                    f'</size>{boxes}</annotation>')
        ids.append(name)
    with open(osp.join(folder, 'ImageSets', 'Main', 'trainval.txt'),
              'w') as f:
        f.write('\n'.join(ids) + '\n')
    return objects


def digits(num_classes, per_class, size):
    """``per_class`` real images of each of the first ``num_classes``
    digits: ``(images (n, size, size, 3) uint8 RGB, labels)``."""
    ds = Digits(split='train', size=size)
    labels = ds.get_gt_labels()
    idx = [i for c in range(num_classes)
           for i in np.flatnonzero(labels == c)[:per_class]]
    return (np.stack([ds.get_data_info(int(i))['img'] for i in idx]),
            labels[idx])


def write_image_folder(root, num_classes=4, per_class=4):
    """An mmpretrain ``CustomDataset`` folder: PNG digits at 32 px,
    ``train.txt`` ("path label" lines) and ``classes.txt``."""
    import cv2
    images, labels = digits(num_classes, per_class, 32)
    os.makedirs(osp.join(root, 'images'))
    lines = []
    for i, (img, label) in enumerate(zip(images, labels)):
        name = f'images/{i:03d}.png'
        cv2.imwrite(osp.join(root, name), img[..., ::-1])
        lines.append(f'{name} {label}')
    with open(osp.join(root, 'train.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(osp.join(root, 'classes.txt'), 'w') as f:
        f.write('\n'.join(f'digit{c}' for c in range(num_classes)) + '\n')
    return root


def write_cifar10(root, per_class=2):
    """Digits (32x32 RGB), ``per_class`` of each class, in CIFAR-10's
    pickle format (5 training batches and the meta file)."""
    from mmpretrain.datasets import CIFAR10
    images, labels = digits(10, per_class, 32)
    folder = osp.join(root, 'cifar-10-batches-py')
    os.makedirs(folder)
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    for k, part in enumerate(np.array_split(np.arange(len(images)), 5)):
        with open(osp.join(folder, f'data_batch_{k + 1}'), 'wb') as f:
            pickle.dump({'data': data[part],
                         'labels': [int(x) for x in labels[part]]}, f)
    with open(osp.join(folder, 'batches.meta'), 'wb') as f:
        pickle.dump({'label_names': list(CIFAR10.METAINFO['classes'])}, f)
    return root


def write_mnist(root, per_class=2):
    """Digits as 28x28 one-channel images in MNIST's (uncompressed IDX)
    files, which mmpretrain's ``MNIST`` reads without downloading."""
    images, labels = digits(10, per_class, 28)
    images = np.ascontiguousarray(images[..., 0])
    os.makedirs(root)
    for prefix in ('train', 't10k'):
        with open(osp.join(root, f'{prefix}-images-idx3-ubyte'), 'wb') as f:
            f.write(np.array([0x803, *images.shape], '>i4').tobytes())
            f.write(images.tobytes())
        with open(osp.join(root, f'{prefix}-labels-idx1-ubyte'), 'wb') as f:
            f.write(np.array([0x801, len(labels)], '>i4').tobytes())
            f.write(labels.astype(np.uint8).tobytes())
    return root


# -- detection ---------------------------------------------------------------
def coco_data(cfg, data_root, ann_file=None):
    """Point the wrapped COCO set at the mixed set (3 classes)."""
    tada_wrapper_parent(cfg).dataset.dataset.update(
        data_root=data_root,
        ann_file=ann_file or 'annotations/train.json',
        data_prefix=dict(img=''), metainfo=dict(classes=MIXED_CLASSES))


def resnet_fpn(model, feat=16):
    """A ResNet-18 at 8 base channels from scratch under an FPN."""
    model.backbone.update(depth=18, base_channels=8, init_cfg=None)
    model.neck.update(in_channels=[8, 16, 32, 64], out_channels=feat)


def two_stage(model, num_classes, feat=16):
    """Faster/Mask R-CNN heads at ``feat`` channels."""
    resnet_fpn(model, feat)
    model.rpn_head.update(in_channels=feat, feat_channels=feat)
    roi = model.roi_head
    roi.bbox_roi_extractor.out_channels = feat
    roi.bbox_head.update(in_channels=feat, fc_out_channels=32,
                         num_classes=num_classes)
    if 'mask_head' in roi:
        roi.mask_roi_extractor.out_channels = feat
        roi.mask_head.update(in_channels=feat, conv_out_channels=feat,
                             num_classes=num_classes)


def one_stage(model, feat=16):
    """A dense head on the small ResNet-FPN (FCOS's GroupNorm has 32
    groups: ``feat`` 32 there)."""
    resnet_fpn(model, feat)
    model.bbox_head.update(in_channels=feat, feat_channels=feat,
                           stacked_convs=1, num_classes=len(MIXED_CLASSES))


def shrink_faster_rcnn(cfg, data, tmp_path):
    two_stage(cfg.model, len(MIXED_CLASSES))
    coco_data(cfg, data)


def shrink_retinanet(cfg, data, tmp_path):
    one_stage(cfg.model)
    coco_data(cfg, data)


def shrink_fcos(cfg, data, tmp_path):
    one_stage(cfg.model, feat=32)
    coco_data(cfg, data)


def shrink_mask_rcnn(cfg, data, tmp_path):
    two_stage(cfg.model, len(MIXED_CLASSES))
    coco_data(cfg, data, with_polygons(data, tmp_path))


def shrink_rtmdet(cfg, data, tmp_path):
    model = cfg.model
    model.backbone.update(widen_factor=0.125, init_cfg=None)
    model.neck.update(in_channels=[32, 64, 128], out_channels=16)
    model.bbox_head.update(in_channels=16, feat_channels=16,
                           num_classes=len(MIXED_CLASSES))
    switch = [h for h in cfg.custom_hooks
              if h['type'] == 'PipelineSwitchHook'][0]
    switch.switch_epoch = 1  # the second epoch: after the selection
    shrink_sizes(switch.switch_pipeline, RTMDET_FACTOR)
    coco_data(cfg, data)


def shrink_detr(cfg, data, tmp_path):
    model = cfg.model
    model.backbone.update(depth=18, base_channels=8, init_cfg=None)
    model.neck.update(in_channels=[64], out_channels=32)
    attn = dict(embed_dims=32, num_heads=2)
    ffn = dict(embed_dims=32, feedforward_channels=64)
    for part in (model.encoder, model.decoder):
        part.num_layers = 1
        part.layer_cfg.self_attn_cfg.update(attn)
        part.layer_cfg.ffn_cfg.update(ffn)
    model.decoder.layer_cfg.cross_attn_cfg.update(attn)
    model.positional_encoding.num_feats = 16
    model.bbox_head.update(embed_dims=32, num_classes=len(MIXED_CLASSES))
    coco_data(cfg, data)


def shrink_yolox(cfg, data, tmp_path):
    model = cfg.model
    model.backbone.update(widen_factor=0.125)
    model.neck.update(in_channels=[32, 64, 128], out_channels=16)
    model.bbox_head.update(in_channels=16, feat_channels=16,
                           num_classes=len(MIXED_CLASSES))
    model.data_preprocessor.batch_augments[0].random_size_range = (64, 128)
    mix = cfg.train_dataloader.dataset
    # the recorder reads what TADADataset marks, through Mosaic
    mix.pipeline[-1].meta_keys = DET_META_KEYS + (
        'sample_idx', 'source_idx', 'is_synthetic')
    # In 2 epochs its switch (15 epochs before the end) would turn Mosaic
    # off from the start; without it Mosaic mixes the variants too.
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h['type'] != 'YOLOXModeSwitchHook']
    coco_data(cfg, data)


def shrink_voc(cfg, voc_root, tmp_path):
    two_stage(cfg.model, 20)  # VOC's twenty classes, as the recipe
    concat = tada_wrapper_parent(cfg).dataset.dataset.dataset
    for part in concat.datasets:
        part.data_root = voc_root


def check_detection_variants(runner, hook, tada, sel):
    """A variant's data info is its source's, but its image (from the
    cache) and a new ``img_id``."""
    n = tada.num_base
    tada.set_epoch(0)  # slot j serves variant j (the slots turn by epoch)
    real_ids = {tada.reader.data_info(i)['img_id']
                for i in range(len(tada.reader))}
    for j, (source, _) in enumerate(tada.variants):
        info, src = tada.get_data_info(n + j), tada.reader.data_info(source)
        assert info['is_synthetic'] and info['source_idx'] == source
        assert info['img_path'].startswith(hook.cache_root(runner.work_dir))
        assert info['instances'] == src['instances']
        assert info['img_id'] not in real_ids


def check_rtmdet(runner, hook, tada, sel, cfg, served):
    """The PipelineSwitchHook's stage-2 pipeline reached the data."""
    stage2 = [h for h in cfg.custom_hooks
              if h['type'] == 'PipelineSwitchHook'][0].switch_pipeline
    transforms = [type(t).__name__ for t in tada.pipeline.transforms]
    assert transforms == [t['type'] for t in stage2]
    assert 'CachedMosaic' not in transforms
    for leaf in tada.reader.leaves:
        assert leaf.pipeline is tada.pipeline


def check_yolox(runner, hook, tada, sel, cfg, served):
    """The TADADataset sits inside the MultiImageMixDataset, which still
    runs its mixing transforms (yolox_tiny: Mosaic) over it."""
    mix = runner.train_dataloader.dataset
    assert type(mix).__name__ == 'MultiImageMixDataset'
    assert mix.dataset is tada and len(mix) == len(tada)
    assert 'Mosaic' in mix.pipeline_types
    assert not mix._skip_type_keys


def check_mask_rcnn(runner, hook, tada, sel, cfg, served):
    """Variants keep their source's instance masks (polygons), and reach
    the mask head with one mask per box."""
    n = tada.num_base
    tada.set_epoch(0)  # slot j serves variant j (the slots turn by epoch)
    for j, (source, _) in enumerate(tada.variants):
        masks = [i['mask'] for i in tada.get_data_info(n + j)['instances']]
        assert masks and masks == [
            i['mask'] for i in tada.reader.data_info(source)['instances']]
    synthetic = [s for s in served if s.synthetic]
    assert all(s.masks == s.boxes > 0 for s in synthetic)


def check_voc(runner, hook, tada, sel, cfg, served):
    """Selection per distinct image: the RepeatDataset's 3 repeats of the
    2007 + 2012 images count once, and so do their objects."""
    import glob
    distinct = len(tada.reader)
    assert distinct == 8 and tada.num_base == 3 * distinct
    assert sel['num_samples'] == distinct
    root = cfg.train_dataloader.dataset.dataset.dataset.datasets[0].data_root
    objects = sum(open(p).read().count('<object>') for p in glob.glob(
        osp.join(root, 'VOC20*', 'Annotations', '*.xml')))
    assert len(sel['instances']['image']) == objects
    assert max(sel['indices']) < distinct
    years = {osp.basename(osp.dirname(osp.dirname(
        tada.reader.data_info(i)['img_path']))) for i in range(distinct)}
    assert years == {'VOC2007', 'VOC2012'}


# A family: its stock config, how the test shrinks it and points it at
# the test's data, what it checks beyond the common facts, the divisor of
# its pixel sizes, and whether TADA wraps the inner dataset of a
# MultiImageMixDataset. Every family works (none is refused).
Family = namedtuple('Family', 'stock shrink check factor inner',
                    defaults=(None, DET_FACTOR, False))


def train_family(name, cfg):
    """Train ``cfg`` (timed) and check the facts every family shares."""
    start = time.perf_counter()
    runner = train(cfg)
    print(f'{name}: trained in {time.perf_counter() - start:.1f}s')
    return (runner, *assert_selected_then_served(runner, cfg))


DET_FAMILIES = {
    'faster-rcnn': Family('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
                          shrink_faster_rcnn),
    'retinanet': Family('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
                        shrink_retinanet),
    'fcos': Family('mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
                   shrink_fcos),
    'rtmdet': Family('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
                     shrink_rtmdet, check_rtmdet, factor=RTMDET_FACTOR),
    'detr': Family('mmdet::detr/detr_r18_8xb2-500e_coco.py', shrink_detr),
    'yolox': Family('mmdet::yolox/yolox_tiny_8xb8-300e_coco.py',
                    shrink_yolox, check_yolox, inner=True),
    'mask-rcnn': Family('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                        shrink_mask_rcnn, check_mask_rcnn),
    'voc0712': Family('mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py',
                      shrink_voc, check_voc),
}


def assert_selected_then_served(runner, cfg):
    """Selection after ``SELECT_EPOCH``, written to ``selection.json``;
    before it the slots served real items only, after it variants of the
    selected samples reached the model. Returns (hook, dataset,
    selection)."""
    assert runner.epoch == MAX_EPOCHS
    sel = json.load(open(RunLayout(cfg.work_dir).selection))
    assert sel['epoch'] == SELECT_EPOCH and sel['indices']
    hook = [h for h in runner.hooks if isinstance(h, LearningLagHook)][0]
    tada = find_tada_dataset(runner.train_dataloader.dataset)
    assert sorted({s for s, _ in tada.variants}) == sel['indices']
    served = served_items(runner)
    first = [s for s in served if s.epoch == 0]
    second = [s for s in served if s.epoch == 1]
    assert first and all(s.synthetic is False for s in first)
    synthetic = [s for s in second if s.synthetic]
    assert synthetic, 'no variant reached the model after the selection'
    assert {s.source for s in synthetic} <= set(sel['indices'])
    return hook, tada, sel


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    """VOCdevkit-style root with VOC2007/ and VOC2012/ (4 images each)."""
    root = str(tmp_path_factory.mktemp('VOCdevkit'))
    write_voc(root, 2007, 4, seed=0)
    write_voc(root, 2012, 4, seed=1)
    return root


@pytest.mark.parametrize('name', list(DET_FAMILIES))
def test_detection_family_trains_with_tada(name, tmp_path, mixed_coco,
                                           voc_root):
    family = DET_FAMILIES[name]
    cfg = compose(tmp_path, family.stock, 'det', inner=family.inner,
                  select_epoch=SELECT_EPOCH, rule='unlearned',
                  num_variants=1, generator=UPSAMPLE)
    family.shrink(cfg, voc_root if name == 'voc0712' else mixed_coco,
                  tmp_path)
    for_cpu(cfg, tmp_path / 'work', family.factor)
    runner, hook, tada, sel = train_family(name, cfg)
    assert sel['instances'] and hook.state.stats.num_samples == len(
        sel['instances']['image'])
    check_detection_variants(runner, hook, tada, sel)
    if family.check is not None:
        family.check(runner, hook, tada, sel, cfg, served_items(runner))


# -- classification ----------------------------------------------------------
@pytest.fixture(scope='module')
def cls_data(tmp_path_factory):
    """The data of the classification families, written once: an image
    folder (4 digit classes x 4), CIFAR-10 files and MNIST files (10
    classes x 2 each)."""
    from mmpretrain.datasets import CIFAR10
    from mmpretrain.registry import DATASETS

    @DATASETS.register_module(name='OfflineCIFAR10', force=True)
    class OfflineCIFAR10(CIFAR10):
        """mmpretrain's CIFAR-10 loader without the MD5 check of the
        official archive (the files are the test's own)."""

        def _check_integrity(self):
            return True

    root = tmp_path_factory.mktemp('cls_data')
    return dict(folder=write_image_folder(str(root / 'folder')),
                cifar=write_cifar10(str(root / 'cifar10')),
                mnist=write_mnist(str(root / 'mnist')))


def image_folder(cfg, data, num_classes=4):
    """The wrapped ImageNet set replaced by a ``CustomDataset`` over the
    test's image folder, with the config's own (shrunk) pipeline; head and
    preprocessor at its 4 classes."""
    parent = tada_wrapper_parent(cfg).dataset
    parent.dataset = dict(
        type='CustomDataset', data_root=data['folder'], ann_file='train.txt',
        data_prefix='', classes=osp.join(data['folder'], 'classes.txt'),
        pipeline=parent.dataset.pipeline)
    cfg.model.head.num_classes = num_classes
    for pre in (cfg.get('data_preprocessor'),
                cfg.model.get('data_preprocessor')):
        if pre:
            pre.num_classes = num_classes


def shrink_resnet(cfg, data):
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.head.in_channels = 64
    tada_wrapper_parent(cfg).dataset.dataset.update(
        type='OfflineCIFAR10', data_root=data['cifar'], download=False)


def shrink_vit(cfg, data):
    cfg.model.backbone.update(
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=64),
        img_size=32, patch_size=8, init_cfg=None)
    cfg.model.head.update(in_channels=32, hidden_dim=64)
    image_folder(cfg, data)


def shrink_convnext(cfg, data):
    cfg.model.backbone.arch = dict(depths=[1, 1, 1, 1],
                                   channels=[8, 16, 32, 64])
    cfg.model.head.in_channels = 64
    image_folder(cfg, data)


def shrink_mobilenet(cfg, data):
    cfg.model.backbone.widen_factor = 0.25
    image_folder(cfg, data)


def shrink_lenet(cfg, data):
    tada_wrapper_parent(cfg).dataset.dataset.update(
        data_prefix=data['mnist'], download=False)


def check_variant_images(runner, hook, tada, sel):
    """Upsample's variants are served in their source's layout, channels
    and channel order: in memory (CIFAR, MNIST) the source's array
    exactly; from files, a cached file that decodes as the source does."""
    import mmcv
    n = tada.num_base
    tada.set_epoch(0)  # slot j serves variant j (the slots turn by epoch)
    for j, (source, _) in enumerate(tada.variants):
        info, src = tada.get_data_info(n + j), tada.reader.data_info(source)
        if 'img' in src:
            img, src_img = info['img'], src['img']
        else:
            assert info['img_path'].startswith(
                hook.cache_root(runner.work_dir))
            img, src_img = (mmcv.imread(info['img_path'], 'unchanged'),
                            mmcv.imread(src['img_path'], 'unchanged'))
        assert img.shape == src_img.shape and img.dtype == src_img.dtype
        assert np.array_equal(img, src_img)


def check_probe(runner, hook, tada, sel, served):
    """Mixup/CutMix leave no hard labels in the forward: the hook records
    with the eval-mode probe."""
    assert runner.model.data_preprocessor.batch_augments is not None
    assert hook.tracker._probe is not None and hook.tracker._recorder is None
    check_variant_images(runner, hook, tada, sel)


def check_recorder(runner, hook, tada, sel, served):
    """No batch augments: the statistics come from the training forward
    (no probe)."""
    assert hook.tracker._probe is None
    assert hook.state.stats.num_epochs == SELECT_EPOCH
    check_variant_images(runner, hook, tada, sel)


def check_lenet(runner, hook, tada, sel, served):
    """MNIST's one-channel 28x28 images: the variants reach the model
    one-channel like the real items (the batches of the second epoch
    stack)."""
    check_recorder(runner, hook, tada, sel, served)
    assert np.ndim(tada.reader.data_info(0)['img']) == 2
    shapes = {s.shape for s in served}
    assert shapes == {(1, 32, 32)}
    assert {s.shape for s in served if s.synthetic} == {(1, 32, 32)}


CLS_FAMILIES = {
    'resnet': Family('mmpretrain::resnet/resnet18_8xb16_cifar10.py',
                     shrink_resnet, check_recorder, factor=1),
    'vit': Family('mmpretrain::vision_transformer/vit-base-p16_64xb64_in1k.py',
                  shrink_vit, check_probe, factor=7),
    'convnext': Family('mmpretrain::convnext/convnext-tiny_32xb128_in1k.py',
                       shrink_convnext, check_probe, factor=7),
    'mobilenet-v2': Family(
        'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
        shrink_mobilenet, check_recorder, factor=7),
    'lenet': Family('mmpretrain::lenet/lenet5_mnist.py', shrink_lenet,
                    check_lenet, factor=1),
}
CLS_RULES = dict(resnet='kmeans')  # the others: loss_quantile


@pytest.mark.parametrize('name', list(CLS_FAMILIES))
def test_classification_family_trains_with_tada(name, tmp_path, cls_data):
    family = CLS_FAMILIES[name]
    cfg = compose(tmp_path, family.stock, 'cls', select_epoch=SELECT_EPOCH,
                  rule=CLS_RULES.get(name, 'loss_quantile'), num_variants=1,
                  generator=UPSAMPLE)
    family.shrink(cfg, cls_data)
    for_cpu(cfg, tmp_path / 'work', family.factor)
    runner, hook, tada, sel = train_family(name, cfg)
    family.check(runner, hook, tada, sel, served_items(runner))
