"""The selection record: which samples lag, and why."""
import json
from dataclasses import asdict, dataclass, field
from typing import Dict, List

import torch

from mmtada.utils.fileio import atomic_write_json


@dataclass
class Selection:
    """The samples a rule picked as slow-learnable at ``epoch``.

    ``indices`` are sorted base-dataset indices. ``scores`` holds one value
    per base sample (the rule's score, e.g. loss; NaN where unseen) so the
    choice can be audited. ``dataset`` is the fingerprint of the dataset it
    was made on (:meth:`mmtada.datasets.SampleReader.fingerprint`).

    For detection, ``indices``/``scores`` are per image, the per-class
    counts count instances, and ``instances`` holds one entry per scored
    ground-truth instance (lists ``image``, ``position``, ``label``,
    ``learned``, ``score``, ``selected``).
    """
    rule: str
    epoch: int
    indices: List[int]
    num_samples: int
    per_class_counts: Dict[str, int]
    per_class_totals: Dict[str, int]
    scores: List[float]
    dataset: str = ''
    rule_cfg: dict = field(default_factory=dict)
    instances: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return len(self.indices) / max(self.num_samples, 1)

    def summary(self) -> str:
        """One line for the log."""
        counts = ' '.join(f'{k}:{v}/{self.per_class_totals[k]}'
                          for k, v in self.per_class_counts.items())
        head = (f'TADA selection ({self.rule}, epoch {self.epoch}): '
                f'{len(self.indices)}/{self.num_samples}')
        if self.instances:
            chosen = self.instances['selected']
            return (f'{head} images ({100 * self.fraction:.1f}%); '
                    f'{sum(chosen)}/{len(chosen)} instances selected | '
                    f'instances per class {counts}')
        return (f'{head} samples ({100 * self.fraction:.1f}%) | per class '
                f'{counts}')

    def check_dataset(self, fingerprint: str, num_samples: int,
                      source: str) -> None:
        """Refuse a selection made on another dataset."""
        if self.dataset and self.dataset != fingerprint:
            raise ValueError(
                f'the selection in {source} was made on another dataset '
                f'({self.num_samples} samples) than this one '
                f'({num_samples}); rerun the selection on this dataset.')

    def to_dict(self) -> dict:
        d = asdict(self)
        d['fraction'] = self.fraction
        d['scores'] = [None if s != s else round(s, 6) for s in self.scores]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> 'Selection':
        d = dict(d)
        d.pop('fraction', None)
        d['scores'] = [float('nan') if s is None else s for s in d['scores']]
        return cls(**d)

    def dump(self, path: str) -> None:
        """Write JSON whole (temp file in the same folder, rename)."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str) -> 'Selection':
        try:
            with open(path) as f:
                return cls.from_dict(json.load(f))
        except FileNotFoundError:
            raise FileNotFoundError(
                f'no selection file at {path}: run the selection phase first '
                '(tools/train.py with mode=restart does it), or point '
                '`selection` at an existing selection.json.') from None
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise ValueError(
                f'{path} is not a TADA selection file ({e}); delete it and '
                'rerun the selection.') from None


def select_samples(rule, rule_name: str, stats: Dict[str, torch.Tensor],
                   classes, epoch: int, dataset: str = '') -> Selection:
    """Run ``rule`` on one epoch's ``stats`` and record the result."""
    mask = rule.select(stats) & stats['seen']
    labels = stats['labels']
    names = list(classes) if classes else [
        str(c) for c in range(int(labels.max()) + 1)]
    counts = torch.bincount(labels[mask], minlength=len(names))
    totals = torch.bincount(labels, minlength=len(names))
    return Selection(
        rule=rule_name,
        epoch=int(epoch),
        indices=torch.nonzero(mask).squeeze(1).tolist(),
        num_samples=len(labels),
        per_class_counts={n: int(v) for n, v in zip(names, counts)},
        per_class_totals={n: int(v) for n, v in zip(names, totals)},
        scores=rule.score(stats).double().tolist(),
        dataset=dataset,
        rule_cfg=dict(rule.config(), type=rule_name))
