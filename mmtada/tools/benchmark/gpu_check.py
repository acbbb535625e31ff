"""Helpers of ``tools/benchmark/gpu_check.sh`` (the prepared GPU check):
the data it trains on, the JSON of each part and the summary table.

    python tools/benchmark/gpu_check.py env OUT_JSON
    python tools/benchmark/gpu_check.py prepare DIR [--train N] [--test M]
        [--classes C]
    python tools/benchmark/gpu_check.py training OVERHEAD_JSON WORK_DIR OUT
    python tools/benchmark/gpu_check.py tests JUNIT_XML OUT
    python tools/benchmark/gpu_check.py summary STATUS_FILE OUT_DIR

Only ``env`` and ``prepare`` import torch, mmpretrain and diffusers.
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import statistics
import sys
import xml.etree.ElementTree as ET

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The parts in the order the script runs them, with their JSON (if any).
PARTS = dict(setup=None, generation='generation.json',
             hook_overhead='training.json', train_e2e='training.json',
             finetune='finetune.json', gpu_tests='gpu_tests.json')


def env(args):
    """What the machine and the stack are (setup's record), through the
    tools' own first call, ``setup_env()``, and the imports it is for."""
    import importlib.metadata as md

    from mmtada.utils.setup_env import setup_env
    later = setup_env()  # the import-time fixes ran at `import mmtada`
    import diffusers  # noqa: F401
    import mmpretrain.models  # noqa: F401  (the import the fixes are for)
    import torch
    from mmpretrain.utils import dependency
    versions = {}
    for dist in ('torch', 'torchvision', 'transformers', 'diffusers',
                 'mmengine', 'mmpretrain', 'mmcv-lite', 'mmcv', 'mmtada',
                 'numpy'):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    cuda = torch.cuda.is_available()
    record = dict(
        python=sys.version.split()[0], torch=torch.__version__,
        cuda=torch.version.cuda, cuda_available=cuda,
        device=torch.cuda.get_device_name() if cuda else 'CPU',
        memory_gib=round(torch.cuda.get_device_properties(0).total_memory
                         / 2**30, 1) if cuda else None,
        fixes=later + ([] if dependency.WITH_MULTIMODAL
                       else ['mmpretrain_multimodal']),
        versions=versions,
        mmtada_from=osp.dirname(osp.dirname(
            sys.modules['mmtada'].__file__)))
    with open(args.out, 'w') as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record, indent=1))


def prepare(args):
    """CIFAR-100 files of random images, a tiny unconditional pixel
    diffusion model (the end-to-end run's generator) and ``config.py``:
    the recipe reading those files (``custom_imports`` are imported when
    a config file is read, before ``--cfg-options`` apply)."""
    from mmtada.testing import save_tiny_pixel_model
    from mmtada.testing.cifar_files import write_cifar100
    root = osp.abspath(osp.join(args.dir, 'cifar100'))
    write_cifar100(root, args.train, args.test, num_classes=args.classes)
    pixel = osp.abspath(osp.join(args.dir, 'pixel'))
    save_tiny_pixel_model(pixel, resolution=32, num_classes=0)
    recipe = osp.join(REPO, 'configs', 'tada_resnet50_cifar100.py')
    data = f"dict(type='UncheckedCIFAR100', data_root={root!r}, " \
        'download=False)'
    with open(osp.join(args.dir, 'config.py'), 'w') as f:
        f.write(f"""# {recipe} on the CIFAR-100 files of gpu_check.py prepare
_base_ = [{recipe!r}]
custom_imports = dict(imports=['mmtada', 'mmtada.testing.cifar_files'],
                      allow_failed_imports=False)
train_dataloader = dict(dataset=dict(dataset={data}))
val_dataloader = dict(dataset={data})
test_dataloader = dict(dataset={data})
# the end-to-end run's generator: the tiny pixel model (the recipe's own,
# Stable Diffusion 1.5 from the hub, is not on the device)
custom_hooks = [dict(_base_.custom_hooks[0], generator=dict(
    type='mmtada.PixelSDEdit', weights={pixel!r}, strength=0.5))]
""")
    print(f'wrote {args.train} + {args.test} CIFAR-100 images, a tiny '
          f'pixel model and config.py under {args.dir}')


def load(path):
    """A JSON file's content; None if missing or unreadable (a part
    killed while writing it)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def scalars(work_dir):
    records = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json')),
                       key=osp.getmtime):
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def training(args):
    """training.json: the hook's overhead and what the end-to-end run did
    (selection, generation, the training after it)."""
    out = dict(hook_overhead=load(args.overhead))
    work = args.work_dir
    sel = load(osp.join(work, 'tada', 'selection.json'))
    gen = load(osp.join(work, 'tada', 'generation.json'))
    g = ((gen or {}).get('settings') or {}).get('generator')
    recs = scalars(work)
    train = [r for r in recs if 'loss' in r]
    losses = [r['loss'] for r in train]
    e2e = None
    if sel is not None or recs:
        e2e = dict(
            selected=len(sel['indices']) if sel else None,
            num_samples=sel.get('num_samples') if sel else None,
            select_epoch=sel.get('epoch') if sel else None,
            rule=sel.get('rule') if sel else None,
            variants=gen.get('total') if gen else None,
            variants_made=gen.get('generated') if gen else None,
            generation_s=gen.get('seconds') if gen else None,
            generator=' '.join(str(g.get(k)) for k in (
                'type', 'device', 'dtype')) if g else None,
            epochs=max([r.get('epoch', 0) for r in train], default=0),
            loss_finite=bool(losses) and all(
                isinstance(v, (int, float)) and math.isfinite(v)
                for v in losses),
            median_iter_s=statistics.median(
                [r['time'] for r in train if 'time' in r] or [float('nan')]),
            top1=next((r['accuracy/top1'] for r in reversed(recs)
                       if 'accuracy/top1' in r), None),
            checkpoints=sorted(osp.basename(p) for p in glob.glob(
                osp.join(work, 'epoch_*.pth'))))
    out['train_e2e'] = e2e
    with open(args.out, 'w') as f:
        json.dump(out, f, indent=1)


def tests(args):
    """gpu_tests.json from pytest's JUnit XML: each test's outcome."""
    cases = []
    if osp.exists(args.junit):
        for case in ET.parse(args.junit).getroot().iter('testcase'):
            outcome = 'passed'
            for tag in ('failure', 'error', 'skipped'):
                node = case.find(tag)
                if node is not None:
                    outcome = dict(failure='failed', error='error',
                                   skipped='skipped')[tag]
                    message = node.get('message', '')
                    break
            else:
                message = ''
            cases.append(dict(
                test=f"{case.get('classname')}::{case.get('name')}",
                outcome=outcome, seconds=float(case.get('time', 0)),
                message=message[:500]))
    counts = {k: sum(c['outcome'] == k for c in cases)
              for k in ('passed', 'failed', 'error', 'skipped')}
    with open(args.out, 'w') as f:
        json.dump(dict(counts=counts, tests=cases), f, indent=1)


def figures(part, data):
    """The key figures of one part, as one short line."""
    if part == 'setup':
        env = data or {}
        return (f"{env.get('device', '?')}; torch {env.get('torch', '?')}; "
                f"fixes {','.join(env.get('fixes', [])) or 'none'}")
    if part == 'generation' and data:
        def case(name):  # 'latent SDEdit, 512px, guidance 7.5' -> latent g7.5
            kind = name.split()[0]
            return kind + (' g' + name.rsplit(' ', 1)[-1]
                           if 'guidance' in name else '')
        return '; '.join(
            f"{case(r['case'])} b{r['batch']}: {r['ours_img_s']:.2f} vs "
            f"{r['baseline_img_s']:.2f} img/s ({r['ratio']:.2f}x)"
            for r in data['rows'])
    if part == 'hook_overhead' and data and data.get('hook_overhead'):
        h = data['hook_overhead']
        med = h['median_step_ms']
        return (f"step {med['wrapper']:.1f} ms without, {med['hook']:.1f} "
                f"with the hook: {h['hook_overhead_pct']:+.2f}%; inside "
                f"{h['inside_hook_ms']:.2f} ms ({h['inside_hook_pct']:.2f}%)"
                f"{', amp' if h.get('amp') else ''}")
    if part == 'train_e2e' and data and data.get('train_e2e'):
        e = data['train_e2e']
        gen_s = e.get('generation_s')
        return (f"selected {e['selected']}/{e['num_samples']} at epoch "
                f"{e['select_epoch']}, {e['variants']} variants "
                f"({e['generator']}) in "
                f"{'?' if gen_s is None else f'{gen_s:.1f}'} s, "
                f"{e['epochs']} epochs, iter {1e3 * e['median_iter_s']:.0f} "
                f"ms, loss finite {e['loss_finite']}, top1 {e['top1']}")
    if part == 'finetune' and data:
        r = data['arms']['ours']
        return (f"{data['size']} LoRA r4, batch {data['batch_size']}, "
                f"{data['precision']}: {r['steps_per_s']:.2f} steps/s, peak "
                f"{r['peak_mib']:.0f} MiB")
    if part == 'gpu_tests' and data:
        return ', '.join(f'{n} {k}' for k, n in data['counts'].items())
    return ''


def summary(args):
    """summary.json and the table: each part's status, time and figures;
    exit status 1 if any part is not ok."""
    status = {}
    with open(args.status) as f:
        for line in f:
            if line.strip():
                name, rc, seconds = line.split()
                status[name] = (rc if rc == 'skip' else int(rc),
                                float(seconds))
    env = load(os.environ.get('GPU_CHECK_ENV', ''))
    rows = []
    for part, file in PARTS.items():
        rc, seconds = status.get(part, (None, 0.0))
        data = env if part == 'setup' else load(
            osp.join(args.out_dir, file)) if file else None
        if rc is None:
            state = 'not run'
        elif rc == 'skip':
            state = 'skipped'
        elif rc == 0:
            state = 'ok'
        elif rc in (124, 137):
            state = 'timeout'
        else:
            state = f'failed (rc {rc})'
        if state == 'ok' and part in ('hook_overhead', 'train_e2e') and (
                not data or not data.get(part)):
            state = 'failed (no result)'
        elif state == 'ok' and part == 'train_e2e':
            e = data[part]
            if not (e.get('selected') and e.get('variants_made')
                    and e.get('epochs', 0) >= 2 and e.get('loss_finite')):
                state = 'failed (no selection, variants or finite loss)'
        try:
            line = figures(part, data)
        except Exception as e:  # a partial record: the table comes first
            line = f'(figures unreadable: {type(e).__name__}: {e})'
        rows.append(dict(part=part, status=state, seconds=round(seconds, 1),
                         figures=line))
    ok = all(r['status'] in ('ok', 'skipped') for r in rows) and any(
        r['status'] == 'ok' for r in rows[1:])
    with open(osp.join(args.out_dir, 'summary.json'), 'w') as f:
        json.dump(dict(ok=ok, dry=os.environ.get('MMTADA_GPU_CHECK_DRY')
                       == '1', env=env, parts=rows), f, indent=1)
    print('\n| part | status | s | key figures |')
    print('| --- | --- | --- | --- |')
    for r in rows:
        print(f"| {r['part']} | {r['status']} | {r['seconds']:.0f} | "
              f"{r['figures']} |")
    dry = os.environ.get('MMTADA_GPU_CHECK_DRY') == '1'
    skipped = sum(r['status'] == 'skipped' for r in rows)
    print(f"\nGPU check: {'all parts ok' if ok else 'FAILED'}"
          f"{f' ({skipped} skipped)' if skipped else ''}"
          f"{' (dry run on the CPU)' if dry else ''}")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('env')
    s.add_argument('out')
    s = sub.add_parser('prepare')
    s.add_argument('dir')
    s.add_argument('--train', type=int, default=2000)
    s.add_argument('--test', type=int, default=500)
    s.add_argument('--classes', type=int, default=100,
                   help='labels over the first CLASSES classes')
    s = sub.add_parser('training')
    s.add_argument('overhead')
    s.add_argument('work_dir')
    s.add_argument('out')
    s = sub.add_parser('tests')
    s.add_argument('junit')
    s.add_argument('out')
    s = sub.add_parser('summary')
    s.add_argument('status')
    s.add_argument('out_dir')
    args = p.parse_args()
    return dict(env=env, prepare=prepare, training=training, tests=tests,
                summary=summary)[args.cmd](args) or 0


if __name__ == '__main__':
    sys.exit(main())
