"""mmtada/utils/shared_folder.py: before generation every rank checks that
it sees the cache folder rank 0 sees. Two "nodes" on this machine (two
torchrun node groups on localhost): each with its own local work dir they
stop with one clear error before any variant is made; with one shared
folder, or with node-local work dirs and the cache in an object store
(:mod:`mmtada.testing.object_store`, through mmengine's file backends),
they select what one process does and make its variants (up to float
rounding, see the test)."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REPO, free_port, train_cli

from mmtada.utils import RunLayout
from mmtada.utils.shared_folder import check_shared_folder


def test_one_process_checks_nothing(tmp_path):
    check_shared_folder(str(tmp_path / 'missing'))  # no group: no marker
    assert not osp.exists(tmp_path / 'missing')


def two_nodes(cfg_path, work_dirs, timeout=600, **env):
    """``mmtada train`` as a two-node job (one process per node): node
    ``r`` runs with ``work_dirs[r]`` (and ``env``). [(exit status,
    output)] per node."""
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO, **env)
    procs = [subprocess.Popen(
        [sys.executable, '-m', 'torch.distributed.run', '--nnodes=2',
         f'--node_rank={rank}', '--nproc_per_node=1',
         '--master_addr=127.0.0.1', f'--master_port={port}', '-m', 'mmtada',
         'train', cfg_path, '--work-dir', str(work), '--launcher',
         'pytorch'], env=env, cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
        for rank, work in enumerate(work_dirs)]
    return [(p.wait(timeout=timeout), p.communicate()[0]) for p in procs]


def variants(cache_root):
    """{file name: pixels} of the variants in a cache root's folder."""
    return {osp.basename(p): cv2.imread(p, cv2.IMREAD_UNCHANGED)
            for p in glob.glob(osp.join(str(cache_root), '*', '*', '*.png'))}


def same_variants(ones, twos):
    """The same variants, up to float rounding: a batch of 40 per node and
    one of 80 round a pixel to the neighbouring level now and then."""
    assert sorted(ones) == sorted(twos)
    diff = [np.abs(ones[k].astype(int) - twos[k]).max() for k in ones]
    assert max(diff) <= 1 and np.mean(np.array(diff) > 0) < 0.05


def dataset_state(work):
    with open(RunLayout(str(work)).dataset_state) as f:
        state = json.load(f)
    return state['digest'], state['ranks']


@pytest.mark.slow
def test_node_local_work_dirs_fail_shared_storage_matches_one_process(
        tmp_path, cls_cfg, pixel_weights):
    cfg = cls_cfg(num_samples=64, num_slots=16, max_epochs=2,
                  select_epoch=1, rule='kmeans', num_variants=2,
                  generator=dict(type='mmtada.PixelSDEdit',
                                 weights=pixel_weights,
                                 num_inference_steps=4))
    cfg.model.backbone.norm_cfg = dict(type='GN', num_groups=4)
    cfg.log_level = 'INFO'
    cfg.train_dataloader.batch_size = 32
    train_cli(cfg, tmp_path / 'one')
    cfg.train_dataloader.batch_size = 16
    path = str(tmp_path / 'nodes.py')
    cfg.dump(path)

    local = [tmp_path / 'node0_disk', tmp_path / 'node1_disk']
    for code, out in two_nodes(path, local):
        assert code != 0
        assert 'is not shared by every rank' in out, out[-3000:]
        assert 'cache_dir=' in out
    made = [f for work in local
            for _, _, files in os.walk(RunLayout(str(work)).variants)
            for f in files if f.endswith('.png')]
    assert made == []  # stopped before any variant was made

    shared = tmp_path / 'shared'
    for code, out in two_nodes(path, [shared, shared]):
        assert code == 0, out[-3000:]
    one = json.load(open(RunLayout(str(tmp_path / 'one')).selection))
    two = json.load(open(RunLayout(str(shared)).selection))
    assert one['indices'] == two['indices'] and one['indices']
    assert dataset_state(shared)[1] == 2
    ones = variants(RunLayout(str(tmp_path / 'one')).variants)
    assert len(ones) == 2 * len(one['indices'])
    same_variants(ones, variants(RunLayout(str(shared)).variants))

    # node-local work dirs, the cache in an object store both nodes reach
    cfg.custom_imports = dict(imports=['mmtada.testing.object_store'],
                              allow_failed_imports=False)
    cfg.custom_hooks[0].cache_dir = 'objstore://bucket/tada'
    cfg.dump(path)
    store = tmp_path / 'store'
    local = [tmp_path / 'node0_scratch', tmp_path / 'node1_scratch']
    for code, out in two_nodes(path, local, MMTADA_OBJECT_STORE=str(store)):
        assert code == 0, out[-3000:]
    assert dataset_state(local[0]) == dataset_state(shared)
    same_variants(ones, variants(store / 'bucket' / 'tada'))
    assert not any(osp.exists(RunLayout(str(work)).variants)
                   for work in local)  # no cache on the nodes' disks
