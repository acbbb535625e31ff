"""Where a TADA run keeps its files: the one place that names them.

Under a run's work dir::

    <work_dir>/tada/selection.json     which samples lag (Selection)
    <work_dir>/tada/trajectories.npz   per-sample statistics to selection
    <work_dir>/tada/generation.json    what the variants cost
    <work_dir>/tada/dataset_state.json the served data's state digest
    <work_dir>/tada/served.json        the (source, variant) pairs served,
                                       after the variant filter
    <work_dir>/tada/variants/          the variant cache (unless cache_dir)
    <work_dir>/tada/box_fidelity.json  tools/box_fidelity.py
    <work_dir>/tada/variant_quality.json  tools/variant_quality.py
    <work_dir>/tada/report.html        tools/report.py
    <work_dir>/select/                 restart mode: the selection run
    <work_dir>/judge/judge.pth         restart mode: the variant filter's
                                       judge, trained on the real data
"""
import os.path as osp

TADA_DIR = 'tada'
SELECT_DIR = 'select'
JUDGE_DIR = 'judge'


class RunLayout:
    """The paths of one run's TADA files (nothing is created).

    Args:
        work_dir (str): the run's work dir.
    """

    def __init__(self, work_dir: str):
        self.work_dir = str(work_dir)

    def path(self, *parts: str) -> str:
        return osp.join(self.work_dir, TADA_DIR, *parts)

    @property
    def selection(self) -> str:
        return self.path('selection.json')

    @property
    def trajectories(self) -> str:
        return self.path('trajectories.npz')

    @property
    def generation(self) -> str:
        return self.path('generation.json')

    @property
    def dataset_state(self) -> str:
        return self.path('dataset_state.json')

    @property
    def served(self) -> str:
        return self.path('served.json')

    @property
    def variants(self) -> str:
        return self.path('variants')

    @property
    def box_fidelity(self) -> str:
        return self.path('box_fidelity.json')

    @property
    def variant_quality(self) -> str:
        return self.path('variant_quality.json')

    @property
    def report(self) -> str:
        return self.path('report.html')

    @property
    def select_run(self) -> 'RunLayout':
        """The layout of restart mode's selection run."""
        return RunLayout(osp.join(self.work_dir, SELECT_DIR))

    @property
    def judge_run(self) -> 'RunLayout':
        """The layout of restart mode's judge run (the variant filter's
        model, trained on the real data)."""
        return RunLayout(osp.join(self.work_dir, JUDGE_DIR))
