from .head_recorder import HeadRecorder
from .hooks import DetLearningLagHook, LearningLagHook
from .train_set_probe import TrainSetProbe

__all__ = [
    'DetLearningLagHook', 'HeadRecorder', 'LearningLagHook', 'TrainSetProbe'
]
