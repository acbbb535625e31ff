"""What a TADA run carries across ``--resume``: ``checkpoint['tada']``."""
from typing import Dict, Optional, Tuple

from mmtada.selection import LagStats, Selection

STATE_VERSION = 1


def plain(value):
    """``value`` with every mapping a ``dict`` and every list a ``list``
    (a config's ``ConfigDict`` would need a global to unpickle)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value) \
            if type(value) in (list, tuple) else [plain(v) for v in value]
    return value


class TADAState:
    """The hook's state: the learning-lag statistics, the selection, the
    generation counts and the variant filter's verdicts, under the settings
    (``signature``) they were made with.

    :meth:`state_dict` is plain tensors and containers (loadable with
    ``torch.load(weights_only=True)``); :meth:`load_state_dict` refuses a
    state of another version or made with other settings, naming the fix.
    Identical on every rank (the statistics are reduced, the selection
    broadcast, the verdicts gathered before they are set).

    Args:
        signature (dict): the settings a resumed run must share.
        stats (LagStats): the statistics, filled in place on load.
    """

    def __init__(self, signature: dict, stats: LagStats):
        self.signature = plain(signature)
        self.stats = stats
        self.selection: Optional[Selection] = None
        self.generation: dict = {}
        # {(source, variant): accepted variant, or -1 for dropped}
        self.verdicts: Optional[Dict[Tuple[int, int], int]] = None

    def state_dict(self) -> dict:
        return dict(
            version=STATE_VERSION,
            signature=self.signature,
            stats=self.stats.state_dict(),
            selection=self.selection.to_dict() if self.selection else None,
            generation=dict(self.generation),
            verdicts=None if self.verdicts is None else [
                [s, v, a] for (s, v), a in sorted(self.verdicts.items())])

    def load_state_dict(self, state: dict) -> None:
        if state.get('version') != STATE_VERSION:
            raise ValueError(
                f"checkpoint TADA state version {state.get('version')} is "
                f'not {STATE_VERSION}: resume with the mmtada that wrote it.')
        mine, theirs = self.signature, state['signature']
        diff = sorted(k for k in mine if mine[k] != theirs.get(k))
        if diff:
            raise ValueError(
                'resuming with TADA settings that differ from the '
                f'checkpoint\'s in {diff} (checkpoint: '
                f'{ {k: theirs.get(k) for k in diff} }): resume with the '
                'original settings, or start a new work_dir.')
        if state['stats'] is not None:
            self.stats.load_state_dict(state['stats'])
        if state.get('verdicts') is not None:
            self.verdicts = {(s, v): a for s, v, a in state['verdicts']}
        if state['selection'] is not None:
            self.selection = Selection.from_dict(state['selection'])
