from .learning_lag_hook import LearningLagHook

__all__ = ['LearningLagHook']
