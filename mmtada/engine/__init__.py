from .hooks import DetLearningLagHook, LearningLagHook
from .train_set_probe import TrainSetProbe

__all__ = ['DetLearningLagHook', 'LearningLagHook', 'TrainSetProbe']
