from .hooks import LearningLagHook
from .train_set_probe import TrainSetProbe

__all__ = ['LearningLagHook', 'TrainSetProbe']
