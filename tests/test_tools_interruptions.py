"""Real processes killed (SIGKILL) during generation and during training,
then rerun or resumed; two processes sharing one cache at once."""
import glob
import hashlib
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, run_log
from mmengine.config import Config, DictAction

from mmtada.apis import build_tada_parts
from mmtada.generators import open_cache, variant_pairs
from mmtada.selection import Selection

pytestmark = pytest.mark.slow

CONFIG = osp.join(REPO, 'configs', 'tada_resnet18_digits.py')
NUM = 200  # training digits


def options(weights, cache, steps=40, batch=1):
    """A real generator (tiny pixel model), by default slow enough (batch
    1) to be killed mid-way."""
    return [
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        f'train_dataloader.dataset.dataset.indices={NUM}',
        'custom_hooks.0.generator.type=mmtada.PixelSDEdit',
        f'custom_hooks.0.generator.weights={weights}',
        'custom_hooks.0.generator.strength=1.0',
        f'custom_hooks.0.generator.num_inference_steps={steps}',
        f'custom_hooks.0.generator.batch_size={batch}',
        f'custom_hooks.0.cache_dir={cache}']


def start(*args):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finish(proc, timeout=300):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def manifest(cache_dir):
    """[(s, v, sha256)] of every complete manifest line."""
    rows = []
    for path in glob.glob(osp.join(cache_dir, 'manifest', '*.jsonl')):
        for line in open(path).read().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            rows.append((r['s'], r['v'], r['sha256']))
    return rows


def pngs(cache_dir):
    return sorted(osp.relpath(p, cache_dir) for p in glob.glob(
        osp.join(cache_dir, '*', '*.png')))


def temp_files(cache_dir):
    return glob.glob(osp.join(cache_dir, '**', '.tmp-*'), recursive=True)


def sha(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def make_selection(tmp_path, weights, cache, steps=40, every=20):
    """A selection file for the config's dataset, and its cache."""
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({k: DictAction._parse_iterable(v) for k, v in (
        x.split('=', 1) for x in options(weights, cache, steps))})
    reader, hook, cache_root = build_tada_parts(cfg, str(tmp_path / 'w'))
    cache = open_cache(hook.generator_cfg, reader, hook.seed, cache_root)
    labels = reader.gt_labels()
    indices = list(range(0, NUM, every))
    names = [str(c) for c in reader.classes]
    Selection(rule='test', epoch=1, indices=indices, num_samples=NUM,
              per_class_counts={n: int(sum(labels[indices] == i))
                                for i, n in enumerate(names)},
              per_class_totals={n: int(sum(labels == i))
                                for i, n in enumerate(names)},
              scores=[0.0] * NUM, dataset=reader.fingerprint()).dump(
                  str(tmp_path / 'selection.json'))
    return str(tmp_path / 'selection.json'), cache, variant_pairs(
        indices, hook.num_variants)


def wait_for(condition, proc, timeout=240):
    end = time.time() + timeout
    while not condition():
        assert proc.poll() is None, 'the process ended before the kill'
        assert time.time() < end, 'timed out waiting'
        time.sleep(0.05)


def test_generation_killed_then_rerun_completes_the_cache(
        tmp_path, pixel_weights):
    cache_root = str(tmp_path / 'cache')
    sel, cache, pairs = make_selection(tmp_path, pixel_weights, cache_root)
    args = ['tools/generate.py', CONFIG, '--selection', sel,
            '--cfg-options', *options(pixel_weights, cache_root)]
    listed_before_kill = []
    for kill_at in (4, 13):  # killed twice, at different points
        proc = start(*args)
        wait_for(lambda: len(manifest(cache.dir)) >= kill_at, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        listed_before_kill.append(len(manifest(cache.dir)))
    assert listed_before_kill[-1] < len(pairs)
    out = finish(start(*args))
    assert f'{len(pairs)} variants' in out

    rows = manifest(cache.dir)
    keys = [(s, v) for s, v, _ in rows]
    assert sorted(set(keys)) == sorted(pairs)
    # a variant is listed twice only if it was written but not yet listed
    # when killed (then made again); never two different files
    assert len(keys) - len(pairs) <= 2
    assert pngs(cache.dir) == sorted(
        osp.relpath(cache.path(s, v), cache.dir) for s, v in pairs)
    for s, v, digest in rows:
        assert sha(cache.path(s, v)) == digest  # whole, not truncated
    assert temp_files(cache.dir) == []  # killed writers' leftovers removed


def test_two_processes_share_one_cache_at_once(tmp_path, pixel_weights):
    cache_root = str(tmp_path / 'cache')
    sel, cache, pairs = make_selection(tmp_path, pixel_weights, cache_root,
                                       steps=30)
    procs = [start('tools/generate.py', CONFIG, '--selection', sel,
                   '--work-dir', str(tmp_path / f'job{i}'), '--cfg-options',
                   *options(pixel_weights, cache_root, steps=30))
             for i in range(2)]
    outs = [finish(p) for p in procs]
    made = [int(re.findall(r'(\d+) made \(', o)[-1]) for o in outs]
    assert sum(made) >= len(pairs)  # together they made everything
    rows = manifest(cache.dir)
    assert sorted({(s, v) for s, v, _ in rows}) == sorted(pairs)
    by_pair = {}
    for s, v, digest in rows:
        by_pair.setdefault((s, v), set()).add(digest)
    # same seed, same bytes: both listings agree with the one file
    assert all(len(d) == 1 for d in by_pair.values())
    for (s, v), digests in by_pair.items():
        assert sha(cache.path(s, v)) in digests
    assert len(pngs(cache.dir)) == len(pairs)
    assert temp_files(cache.dir) == []


def test_training_killed_after_selection_resumes_the_same_state(
        tmp_path, pixel_weights):
    work = str(tmp_path / 'work')
    cache_root = str(tmp_path / 'cache')
    opts = options(pixel_weights, cache_root, steps=5, batch=32) + [
        'train_cfg.max_epochs=4', 'custom_hooks.0.select_epoch=1',
        'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=1']
    proc = start('tools/train.py', CONFIG, '--work-dir', work,
                 '--cfg-options', *opts)
    wait_for(lambda: osp.exists(osp.join(work, 'epoch_2.pth')), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not osp.exists(osp.join(work, 'epoch_4.pth'))
    selection = open(osp.join(work, 'tada', 'selection.json')).read()
    first_log = run_log(work)
    digest = first_log.split('TADA dataset state ')[1].split()[0]
    caches = glob.glob(osp.join(cache_root, '*'))
    listed = manifest(caches[0])

    out = finish(start('tools/train.py', CONFIG, '--work-dir', work,
                       '--resume', 'auto', '--cfg-options', *opts))
    assert osp.exists(osp.join(work, 'epoch_4.pth'))
    assert open(osp.join(work, 'tada', 'selection.json')).read() == selection
    assert 'TADA resumed' in out
    assert '(0 made, ' in out  # nothing regenerated
    assert f'TADA dataset state {digest} on 1 rank' in out
    assert glob.glob(osp.join(cache_root, '*')) == caches
    assert manifest(caches[0]) == listed


def children_training(run_dir):
    out = subprocess.run(['pgrep', '-f', '--', f'--work-dir {run_dir}'],
                         capture_output=True, text=True)
    return out.stdout.split()


def test_stopping_the_ablation_stops_its_training_run(tmp_path):
    work = str(tmp_path / 'ablate')
    proc = start('tools/ablate.py', CONFIG, '--seeds', '1', '--arms',
                 'baseline', '--work-dir', work, '--cfg-options',
                 'train_cfg.max_epochs=50', 'train_dataloader.num_workers=0',
                 'val_dataloader.num_workers=0')
    run_dir = osp.join(work, 'baseline', 'seed0')
    wait_for(lambda: children_training(run_dir), proc)
    proc.terminate()  # SIGTERM, as a scheduler or `kill` sends
    out, _ = proc.communicate(timeout=60)
    assert 'rerun to resume' in out
    assert children_training(run_dir) == []  # no orphan left training
