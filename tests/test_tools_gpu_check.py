"""tools/benchmark/gpu_check.sh, the prepared GPU check, as a dry run on the
CPU (MMTADA_GPU_CHECK_DRY=1: tiny models and sizes, no wheels): every part
runs and reports, so the script a lent GPU runs first cannot rot."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PARTS = ['setup', 'generation', 'hook_overhead', 'train_e2e', 'finetune',
         'gpu_tests']
FILES = {'setup.log', 'generation.log', 'generation.json', 'training.log',
         'training.json', 'finetune.log', 'finetune.json', 'gpu_tests.log',
         'gpu_tests.json', 'summary.json'}


def test_dry_run_reports_every_part_ok(tmp_path):
    out = tmp_path / 'out'
    env = dict(os.environ, MMTADA_GPU_CHECK_DRY='1', PYTHON=sys.executable,
               OUT=str(out), OMP_NUM_THREADS='1')
    run = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'benchmark', 'gpu_check.sh')],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=900)
    log = run.stdout
    assert run.returncode == 0, log[-4000:]
    # the table is the last thing printed: one ok row per part
    table = log[log.rindex('| part | status |'):]
    for part in PARTS:
        assert re.search(rf'^\| {part} \| ok \| \d+ \| .+ \|$', table,
                         re.M), table
    assert 'GPU check: all parts ok (dry run on the CPU)' in table
    # what comes back from the device: 10 files, plain names
    assert {p.name for p in out.iterdir()} == FILES
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['ok'] and summary['dry']
    assert [p['part'] for p in summary['parts']] == PARTS
    assert all(p['status'] == 'ok' for p in summary['parts'])
    gen = json.loads((out / 'generation.json').read_text())
    assert len(gen['rows']) == 3 and all(
        r['ours_img_s'] > 0 and r['baseline_img_s'] > 0 for r in gen['rows'])
    training = json.loads((out / 'training.json').read_text())
    assert training['hook_overhead']['data'] == 'cifar100'
    assert set(training['hook_overhead']['median_step_ms']) == {
        'plain', 'wrapper', 'hook'}
    e2e = training['train_e2e']
    assert e2e['selected'] > 0 and e2e['variants_made'] > 0
    assert e2e['generator'].startswith('PixelSDEdit cpu')
    assert e2e['epochs'] == 2 and e2e['loss_finite']
    tune = json.loads((out / 'finetune.json').read_text())
    assert tune['size'] == 'tiny' and tune['arms']['ours']['steps_per_s'] > 0
    tests = json.loads((out / 'gpu_tests.json').read_text())
    assert tests['counts']['skipped'] > 0  # no CUDA here
    assert tests['counts']['failed'] == tests['counts']['error'] == 0
