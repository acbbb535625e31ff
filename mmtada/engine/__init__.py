from .head_recorder import HeadRecorder
from .hooks import DetLearningLagHook, LearningLagHook
from .instance_lag_tracker import InstanceLagTracker
from .lag_tracker import LagTracker
from .tada_state import TADAState
from .train_set_probe import TrainSetProbe

__all__ = [
    'DetLearningLagHook', 'HeadRecorder', 'InstanceLagTracker', 'LagTracker',
    'LearningLagHook', 'TADAState', 'TrainSetProbe'
]
