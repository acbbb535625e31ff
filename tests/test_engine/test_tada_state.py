"""The hook's checkpointed state: plain, versioned, tied to its settings."""
import pytest
import torch

from mmtada.engine import TADAState
from mmtada.selection import LagStats, Selection


def filled_state(signature) -> TADAState:
    stats = LagStats(4, 3)
    stats.update(torch.arange(4), torch.randn(4, 3).log_softmax(1),
                 torch.tensor([0, 1, 2, 0]))
    stats.end_epoch(1)
    state = TADAState(signature, stats)
    state.selection = Selection(
        rule='kmeans', epoch=1, indices=[1, 3], num_samples=4,
        per_class_counts={'a': 1, 'b': 1, 'c': 0},
        per_class_totals={'a': 2, 'b': 1, 'c': 1},
        scores=[0.1, 2.0, float('nan'), 1.5])
    state.generation = dict(total=4, generated=4)
    state.verdicts = {(1, 0): 0, (1, 1): -1, (3, 0): 2, (3, 1): 1}
    return state


def test_state_round_trips_through_weights_only_loading(tmp_path):
    saved = filled_state(dict(num_variants=2, seed=0))
    torch.save(saved.state_dict(), tmp_path / 'tada.pth')
    loaded = torch.load(tmp_path / 'tada.pth', weights_only=True)
    state = TADAState(dict(num_variants=2, seed=0), LagStats(4, 3))
    state.load_state_dict(loaded)
    assert torch.allclose(state.stats.loss, saved.stats.loss, equal_nan=True)
    assert state.stats.epochs == [1]
    assert state.selection.indices == [1, 3]
    assert state.selection.scores[2] != state.selection.scores[2]  # NaN
    assert state.verdicts == saved.verdicts
    assert state.generation == {}  # counted anew by the resumed generation


def test_other_settings_or_version_are_refused_by_name():
    saved = filled_state(dict(num_variants=2, seed=0)).state_dict()
    state = TADAState(dict(num_variants=5, seed=0), LagStats(4, 3))
    with pytest.raises(ValueError, match=r"differ from the checkpoint's in "
                       r"\['num_variants'\].*'num_variants': 2"):
        state.load_state_dict(saved)
    state = TADAState(dict(num_variants=2, seed=0), LagStats(4, 3))
    with pytest.raises(ValueError, match='state version 0 is not 1'):
        state.load_state_dict(dict(saved, version=0))
    with pytest.raises(ValueError, match='statistics for 4 samples x 3'):
        TADAState(dict(num_variants=2, seed=0),
                  LagStats(5, 3)).load_state_dict(saved)


def test_a_signature_from_a_config_saves_as_plain_containers(tmp_path):
    from mmengine.config import ConfigDict
    generator = ConfigDict(type='mmtada.BoxPreservingSDEdit',
                           generator=ConfigDict(type='mmtada.PixelSDEdit'),
                           margins=(0.1, 0.2))
    state = filled_state(dict(generator=generator))
    torch.save(state.state_dict(), tmp_path / 'tada.pth')
    loaded = torch.load(tmp_path / 'tada.pth', weights_only=True)
    assert loaded['signature']['generator'] == dict(
        type='mmtada.BoxPreservingSDEdit', margins=(0.1, 0.2),
        generator=dict(type='mmtada.PixelSDEdit'))
    TADAState(dict(generator=generator), LagStats(4, 3)).load_state_dict(
        loaded)
