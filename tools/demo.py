"""TADA end to end on the embedded default, with no download.

Trains the small ResNet of ``configs/tada_resnet18_digits.py`` on
scikit-learn's bundled handwritten digits twice with the same seed: once
plainly (the baseline), once with TADA (select the slow-learnable digits
early, add their variants, finish training). Prints the selection and both
test accuracies.

    python tools/demo.py [--work-dir work_dirs/demo] [--epochs N]
"""
import argparse
import json
import os.path as osp
import time

import mmtada  # noqa: F401  (first: applies the compatibility fixes)
from mmengine.config import Config

from mmtada.apis import train, without_tada

CONFIG = osp.join(osp.dirname(__file__), '..', 'configs',
                  'tada_resnet18_digits.py')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--epochs', type=int, help='override max_epochs')
    parser.add_argument('--config', default=CONFIG)
    return parser.parse_args()


def run(cfg: Config, work_dir: str) -> dict:
    cfg.work_dir = work_dir
    start = time.perf_counter()
    runner = train(cfg)
    metrics = runner.test()
    return dict(accuracy=float(metrics['accuracy/top1']),
                seconds=time.perf_counter() - start,
                runner=runner)


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.epochs:
        cfg.train_cfg.max_epochs = args.epochs
        cfg.param_scheduler.T_max = args.epochs
    print('== baseline: the real digits only')
    base = run(without_tada(cfg), osp.join(args.work_dir, 'baseline'))
    print('== TADA: select slow-learnable digits, add their variants')
    tada = run(cfg, osp.join(args.work_dir, 'tada'))
    with open(osp.join(args.work_dir, 'tada', 'tada',
                       'selection.json')) as f:
        sel = json.load(f)
    hook = [h for h in tada['runner'].hooks
            if type(h).__name__ == 'LearningLagHook'][0]
    print()
    print(f"selection: rule {sel['rule']} at epoch {sel['epoch']}, "
          f"{len(sel['indices'])}/{sel['num_samples']} training digits "
          f"({100 * sel['fraction']:.1f}%)")
    print('  per class: ' + ', '.join(
        f'{c}: {n}/{sel["per_class_totals"][c]}'
        for c, n in sel['per_class_counts'].items()))
    gen = hook.generation
    print(f"generation: {gen['total']} variants with "
          f"{hook.generator_cfg['type']}, {gen['seconds']:.1f}s")
    print(f"test accuracy: baseline {base['accuracy']:.2f}%  |  "
          f"TADA {tada['accuracy']:.2f}%  "
          f"({tada['accuracy'] - base['accuracy']:+.2f})")
    print(f"wall time: baseline {base['seconds']:.0f}s, "
          f"TADA {tada['seconds']:.0f}s")


if __name__ == '__main__':
    main()
