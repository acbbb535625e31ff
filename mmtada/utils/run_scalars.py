"""What mmengine logged of a run: its ``vis_data/scalars.json`` records."""
import glob
import json
import math
import os.path as osp
from typing import List, Optional


def read_scalars(work_dir: str) -> List[dict]:
    """Every record of the runs in ``work_dir`` (``<timestamp>/vis_data/
    scalars.json``, oldest run first; restart mode's selection run in
    ``select/`` is not read)."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')), key=osp.getmtime)
    records = []
    for path in files:
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def last_value(records: List[dict], key: str) -> Optional[float]:
    """The last logged value of ``key`` (None if never logged)."""
    values = [float(r[key]) for r in records if key in r]
    return values[-1] if values else None


def divergence(records: List[dict]) -> Optional[str]:
    """Where the training loss first stopped being finite, as words (e.g.
    ``'loss nan from iteration 1230 (epoch 6)'``), or None."""
    for r in records:
        loss = r.get('loss')
        if isinstance(loss, (int, float)) and not math.isfinite(loss):
            where = f"iteration {r.get('step')}"
            if 'epoch' in r:
                where += f" (epoch {r['epoch']})"
            return f'loss {loss} from {where}'
    return None
