"""The selection record: which samples lag, and why."""
import json
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine import dist
from mmengine.logging import print_log

from mmtada.utils.storage import Storage


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

    ``auto`` (with ``select_epoch='auto'``) holds the error curve, the
    range and why this epoch (``'knee'`` or ``'cap'``); ``excluded`` the
    label-noise guard's counts (flagged, taken out of the rule's
    selection, per class); ``fallback`` the classes the rule could not
    split.
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
    auto: dict = field(default_factory=dict)
    excluded: dict = field(default_factory=dict)
    fallback: List[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return len(self.indices) / max(self.num_samples, 1)

    def summary(self) -> str:
        """One line for the log."""
        counts = ' '.join(f'{k}:{v}/{self.per_class_totals[k]}'
                          for k, v in self.per_class_counts.items())
        when = f"epoch {self.epoch}" + (
            f" (auto: {self.auto['reason']})" if self.auto else '')
        head = (f'TADA selection ({self.rule}, {when}): '
                f'{len(self.indices)}/{self.num_samples}')
        guard = ''
        if self.excluded:
            what = 'instances' if self.instances else 'samples'
            guard = (f" | label-noise guard ({self.excluded['guard']}): "
                     f"{self.excluded['flagged']} {what} flagged, "
                     f"{self.excluded['removed']} left out of the selection")
        if self.instances:
            chosen = self.instances['selected']
            return (f'{head} images ({100 * self.fraction:.1f}%); '
                    f'{sum(chosen)}/{len(chosen)} instances selected | '
                    f'instances per class {counts}{guard}')
        return (f'{head} samples ({100 * self.fraction:.1f}%) | per class '
                f'{counts}{guard}')

    def targeting_warning(self) -> Optional[str]:
        """What makes this selection not targeted, and the remedy; None
        when nothing does."""
        what = 'images' if self.instances else 'samples'
        issues = []
        if not self.indices:
            issues.append(f'it selected no {what}')
        elif self.fraction >= 0.8:
            issues.append(f'it selected {100 * self.fraction:.0f}% of the '
                          f'{what}')
        if self.fallback:
            issues.append(
                f"the outputs of class(es) {', '.join(self.fallback)} could "
                'not be split (all alike: nothing learned yet), so their '
                'wrong ones were all selected')
        if not issues:
            return None
        return (f'TADA: the selection at epoch {self.epoch} is not '
                f"targeted: {'; '.join(issues)}. Select later (a later "
                "select_epoch, or select_epoch='auto'), or with another rule "
                "(rule='loss_quantile' takes a fixed fraction).")

    def log(self) -> None:
        """Log the summary (with ``'auto'``'s error curve) and, if the
        selection is not targeted, a warning naming the remedy."""
        if self.auto:
            curve = ' '.join(f'{e:.3f}' for e in self.auto['curve'])
            print_log(f'TADA select_epoch=auto: training error by epoch '
                      f'{curve}; selecting after epoch {self.epoch} '
                      f"({self.auto['reason']})", logger='current')
        print_log(self.summary(), logger='current')
        warning = self.targeting_warning()
        if warning:
            print_log(warning, logger='current', level=30)

    def mask(self) -> np.ndarray:
        """Selected, per base sample (boolean, ``num_samples`` long)."""
        chosen = np.zeros(self.num_samples, bool)
        chosen[self.indices] = True
        return chosen

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

    @classmethod
    def broadcast(cls, selection: Optional['Selection']) -> 'Selection':
        """Collective: rank 0's ``selection`` on every rank (the other
        ranks pass None)."""
        payload = [selection.to_dict() if dist.is_main_process() else None]
        dist.broadcast_object_list(payload, src=0)
        return cls.from_dict(payload[0])

    def dump(self, path: str, backend_args: Optional[dict] = None) -> None:
        """Write JSON whole, locally or through an mmengine file backend
        (``backend_args``, or ``path``'s prefix)."""
        storage = Storage(path, backend_args)
        storage.put(path, json.dumps(self.to_dict(), default=str).encode())

    @classmethod
    def load(cls, path: str,
             backend_args: Optional[dict] = None) -> 'Selection':
        """Read a selection written by :meth:`dump` (locally or through
        ``backend_args``)."""
        try:
            return cls.from_dict(json.loads(
                Storage(path, backend_args).get(path)))
        except FileNotFoundError:
            raise FileNotFoundError(
                f'no selection file at {path}: run the selection phase first '
                '(tools/train.py with mode=restart does it), or point '
                '`selection` at an existing selection.json.') from None
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise ValueError(
                f'{path} is not a TADA selection file ({e}); delete it and '
                'rerun the selection.') from None


def guard_record(guard: dict, flagged: torch.Tensor, ruled: torch.Tensor,
                 labels: torch.Tensor, names) -> dict:
    """The ``excluded`` entry of a selection: what the guard flagged and
    what it took out of the rule's selection, per class."""
    removed = flagged & ruled
    counts = torch.bincount(labels[removed], minlength=len(names))
    return dict(guard, flagged=int(flagged.sum()), removed=int(removed.sum()),
                per_class_removed={n: int(v) for n, v in zip(names, counts)})


def select_samples(rule, rule_name: str, stats: Dict[str, torch.Tensor],
                   classes, epoch: int, dataset: str = '',
                   excluded: Optional[torch.Tensor] = None,
                   guard: Optional[dict] = None) -> Selection:
    """Run ``rule`` on one epoch's ``stats``, leave out the ``excluded``
    samples (the label-noise guard's, described by ``guard``) and record
    the result."""
    ruled = rule.select(stats) & stats['seen']
    labels = stats['labels']
    names = list(classes) if classes else [
        str(c) for c in range(int(labels.max()) + 1)]
    mask = ruled if excluded is None else ruled & ~excluded
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
        rule_cfg=dict(rule.config(), type=rule_name),
        excluded={} if excluded is None else guard_record(
            guard or {}, excluded, ruled, labels, names),
        fallback=[str(names[c]) for c in getattr(rule, 'fallback', [])])
