"""Write a self-contained HTML report of a TADA run.

    python tools/report.py WORK_DIR [--out FILE]

Per-class selected fractions, the histogram of the selection scores, the
hardest selected samples beside their variants, the training curves and
the cost of generation against augmenting the whole dataset k times, from
the run's files. Every image is embedded: the page is one file
(default ``WORK_DIR/tada/report.html``).
"""
import argparse

from mmtada.utils.setup_env import setup_env  # first: before torchvision

from mmtada.visualization.html_report import write_report


def main():
    setup_env()  # the stack's fixes: mmtada/utils/setup_env.py
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('work_dir')
    p.add_argument('--out')
    args = p.parse_args()
    try:
        print(f'wrote {write_report(args.work_dir, args.out)}')
    except FileNotFoundError as e:
        raise SystemExit(str(e))


if __name__ == '__main__':
    main()
