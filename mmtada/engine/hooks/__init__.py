from .det_learning_lag_hook import DetLearningLagHook
from .learning_lag_hook import LearningLagHook

__all__ = ['DetLearningLagHook', 'LearningLagHook']
